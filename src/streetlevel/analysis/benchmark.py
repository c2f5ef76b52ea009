"""Benchmarking municipalities: what a national database publishes, and a fair comparison.

A database such as jobindsats lets anyone compare municipalities' raw sanction rates, and
regional authorities rank them; raw rates ignore who the clients are. This module computes
both, from decision data (one row per client-year, :mod:`streetlevel.analysis.microdata`):

- **indicators** per municipality, year and category: recipients, full-year recipients,
  sanctioned, the sanction rate as the database publishes it (sanctioned per full-year
  recipient, :func:`streetlevel.model.indicators.sanction_rate`), the share of recipients
  sanctioned, repeat share, weeks sanctioned per sanctioned recipient, exits per recipient by
  destination;
- **the regional ranking** as published: within each region by raw rate, highest first;
- **risk adjustment** by indirect standardisation: a logistic model of "sanctioned at least
  once in the year" on the client covariates (:data:`RISK_FACTORS`, never the municipality),
  fitted on the whole country, gives each client-year a probability; their sum over a
  municipality's recipients is its expected count ``E``, and observed / expected its ratio,
  with an exact Poisson 95 % CI;
- **funnel-plot control limits** (:mod:`~streetlevel.analysis.funnel`) at 95 % and 99.8 %,
  flagging the municipalities whose ratio chance does not explain.

A simulated run holds many replications; a real database sees one realisation of each year,
so a benchmark judges one replication (the first, unless chosen) and one year (the latest,
unless chosen); indicators are given for every year of that replication.

>>> import tempfile, pathlib
>>> from streetlevel.scenario.loading import load_scenario, with_values
>>> from streetlevel.output.run import run_scenario
>>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> scenario = with_values(load_scenario("denmark-2011"), {"scale.client_scale": 0.05})
>>> _ = run_scenario(scenario, seed=1, replications=1, out=run)
>>> result = benchmark(run)
>>> result.year, result.replication, len(result.risk_adjusted)
(2013, 0, 98)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from streetlevel.analysis.funnel import LEVELS, outside_column, poisson_ratio_interval
from streetlevel.analysis.microdata import SCHEMA, read_decisions, validate_decisions
from streetlevel.analysis.outliers import funnel
from streetlevel.analysis.overdispersion import estimate
from streetlevel.errors import StreetlevelError
from streetlevel.model.codes import DESTINATIONS
from streetlevel.model.indicators import rank_within_regions, ratio, sanction_rate

__all__ = [
    "ALL",
    "RISK_FACTORS",
    "Benchmark",
    "benchmark",
    "compared",
    "default_out",
    "expected_sanctioned",
    "indicators",
    "load_decisions",
    "regional_ranking",
    "risk_adjusted",
    "with_adjusted_rank",
]

ALL = "all"
"""The ``category`` of a row that covers every category."""
RISK_FACTORS = (
    "category",
    "age_group",
    "sex",
    "education",
    "minority",
    "exposure",
    "duration",
)
"""Covariates of the risk model: the client's category and attributes, how many weeks of the
year they were on the caseload (``exposure``) and how long their spell has lasted
(``duration``). Never the municipality: its effect is what the comparison looks for."""
EXPOSURE_BANDS = (13, 26, 39)
"""Upper edges (weeks on the caseload this year) of the exposure bands: quarters of a year,
since a client on the caseload a few weeks has few meetings and offers to miss."""
EXPOSURE_LABELS = ("1-13 weeks", "14-26 weeks", "27-39 weeks", "40+ weeks")
DURATION_BANDS = (52, 104, 260)
"""Upper edges (weeks of the spell so far) of the duration bands: the first and second year,
up to five years, and longer (five years: the long-term threshold of docs/targets.md)."""
DURATION_LABELS = ("up to 1 year", "1-2 years", "2-5 years", "over 5 years")
WEEKS_PER_YEAR = 52
"""Weeks of a full-year recipient in a user's data (the engine's years, and the Danish
database's full-time persons); a run directory uses its scenario's value."""
UNIT = ["municipality", "region", "category"]
"""The key of a compared unit: a municipality, in one category or in all (``ALL``)."""


@dataclass(frozen=True)
class Benchmark:
    """A benchmark of one year (and one replication of a simulated run)."""

    source: str
    year: int
    replication: int | None
    by_category: bool
    indicators: pd.DataFrame
    ranking: pd.DataFrame
    risk_adjusted: pd.DataFrame
    risk_model: pd.DataFrame
    overdispersion: float
    national_rate: float
    input: str = "microdata"
    """``microdata`` (one row per client-year) or ``aggregated`` (counts per unit)."""
    indicator: str = "sanction_rate"
    """The indicator compared (aggregates: any of the municipality-year table's)."""
    proportion: bool = True
    """Counts of people out of a denominator (binomial limits), or of events (Poisson)."""
    denominator: str = "recipients"
    """The column of ``risk_adjusted`` that holds each unit's denominator."""
    over_years: pd.DataFrame | None = None
    """Each unit's ratio and flags in every year (aggregates with several years)."""
    persistent: pd.DataFrame | None = None
    """Units outside the 95 % limits in every year of ``over_years``."""

    def outside(self, level: float) -> pd.DataFrame:
        """Units outside the control limits at ``level`` (0.95 or 0.998), highest ratio first."""
        column = outside_column(level)
        return self.risk_adjusted[self.risk_adjusted[column]].sort_values("ratio", ascending=False)


def load_decisions(source: Path | str) -> pd.DataFrame:
    """Decision data from a run directory (its ``client_years.parquet``, categories from its
    scenario) or from a CSV / Parquet file in the documented schema."""
    return _load(source)[0]


def _load(source: Path | str, replication: int | None = None) -> tuple[pd.DataFrame, int]:
    """The decision data and the weeks of a full-year recipient; of a run directory, only
    the replication judged (default: the first) is read, which keeps a run of many
    replications within memory."""
    source = Path(source)
    if not source.is_dir():
        return read_decisions(source), WEEKS_PER_YEAR
    from streetlevel.output.summary import complete_manifest
    from streetlevel.scenario.loading import load_scenario

    complete_manifest(source)
    scenario = load_scenario(source / "scenario.toml")
    path = source / "client_years.parquet"
    # The engine may record more than the schema (tests/test_decisions.py checks that every
    # column it writes today is in it); a benchmark reads the schema's columns.
    try:
        present = set(ds.dataset(path, format="parquet").schema.names)
        columns = [c.name for c in SCHEMA if c.name in present]
        filters = None
        if "replication" in present:
            replications = pq.read_table(path, columns=["replication"]).column("replication")
            numbers = sorted(int(r) for r in pc.unique(replications).to_pylist())
            chosen = _chosen(numbers, replication)
            filters = [("replication", "=", chosen)]
        table = pq.read_table(path, columns=columns, filters=filters)
    except (OSError, pa.ArrowException) as err:
        raise StreetlevelError(f"{path}: cannot read: {err}") from None
    categories = [c.name for c in scenario.categories]
    weeks = int(scenario.time.weeks_per_year.value)
    return validate_decisions(table, str(path), categories), weeks


def _one_replication(
    frame: pd.DataFrame, replication: int | None
) -> tuple[pd.DataFrame, int | None]:
    if "replication" not in frame.columns:
        if replication not in (None, 0):
            raise StreetlevelError(f"--replication {replication}: the data have no replications")
        return frame, None
    chosen = _chosen(sorted(int(r) for r in frame["replication"].unique()), replication)
    return frame[frame["replication"] == chosen].reset_index(drop=True), chosen


def _chosen(present: list[int], replication: int | None) -> int:
    chosen = present[0] if replication is None else replication
    if chosen not in present:
        raise StreetlevelError(
            f"replication {chosen} is not in the data (replications: {_span(present)})"
        )
    return chosen


def _span(values: list[int]) -> str:
    return f"{values[0]}-{values[-1]}" if len(values) > 1 else str(values[0])


def _with_units(frame: pd.DataFrame, by_category: bool) -> pd.DataFrame:
    """The frame with ``category`` replaced by ``ALL`` unless comparing within categories."""
    if by_category:
        return frame
    return frame.assign(category=pd.Categorical([ALL] * len(frame)))


def indicators(
    frame: pd.DataFrame, by_category: bool = False, weeks_per_year: int = WEEKS_PER_YEAR
) -> pd.DataFrame:
    """Indicators per municipality and year (and category), as a national database shows them.

    Columns: municipality, region, year, category (``all`` unless ``by_category``),
    recipients, recipient_years (full-year recipients), sanctioned, rate (sanctioned per
    full-year recipient: the published sanction rate), share (sanctioned per recipient),
    repeat_share, weeks_sanctioned (per sanctioned recipient; NaN without that column), and
    exit_<destination>_rate per recipient (NaN without ``exit``).
    """
    data = _with_units(frame, by_category)
    sanctioned = data["sanctions"] > 0
    parts = {
        "recipients": np.ones(len(data), dtype=np.int64),
        "weeks_in_year": data["weeks_in_year"],
        "sanctioned": sanctioned.astype(np.int64),
        "repeat": (data["sanctions"] >= 2).astype(np.int64),
        "weeks": data.get("weeks_sanctioned", np.nan),
    }
    for dest in DESTINATIONS:
        parts[f"exit_{dest}"] = (
            (data["exit"] == dest).astype(np.int64) if "exit" in data else np.nan
        )
    keys = ["municipality", "region", "year", "category"]
    grouped = data[keys].assign(**parts).groupby(keys, observed=True).sum(min_count=1).reset_index()
    out = grouped[[*keys, "recipients"]].copy()
    out["recipient_years"] = grouped["weeks_in_year"] / weeks_per_year
    out["sanctioned"] = grouped["sanctioned"]
    out["rate"] = sanction_rate(grouped["sanctioned"], grouped["weeks_in_year"], weeks_per_year)
    out["share"] = ratio(grouped["sanctioned"], grouped["recipients"])
    out["repeat_share"] = ratio(grouped["repeat"], grouped["sanctioned"])
    out["weeks_sanctioned"] = ratio(grouped["weeks"], grouped["sanctioned"])
    for dest in DESTINATIONS:
        out[f"exit_{dest}_rate"] = ratio(grouped[f"exit_{dest}"], grouped["recipients"])
    return _plain(out).sort_values(["year", "category", "municipality"], ignore_index=True)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical key columns as plain strings (for CSV and sorting by name)."""
    out = frame.copy()
    for name in ("municipality", "region", "category"):
        if name in out:
            out[name] = out[name].astype(str)
    return out


def with_adjusted_rank(ranking: pd.DataFrame, adjusted: pd.DataFrame) -> pd.DataFrame:
    """The published ranking beside the risk-adjusted one: each unit's ratio, flags and its
    rank within its region by ratio (0 for a unit without a ratio)."""
    unit = ["category", "municipality"]
    ranking = ranking.merge(
        adjusted[[*unit, "ratio", "outside_95", "outside_998"]], on=unit, how="left"
    )
    ranking["adjusted_rank"] = (
        ranking.groupby(["category", "region"])["ratio"]
        .rank(ascending=False, method="first")
        .fillna(0)
        .astype(np.int64)
    )
    return ranking


def regional_ranking(
    year_indicators: pd.DataFrame,
    counts: tuple[str, ...] = ("recipients", "recipient_years", "sanctioned"),
) -> pd.DataFrame:
    """The ranking a regional authority publishes: within each region (and category) by the
    published rate, highest first (rank 1 is "placed well", docs/model.md 7.12); ``counts`` are the
    columns shown beside the rate."""
    parts = []
    for _, group in year_indicators.groupby(["category", "region"], sort=True):
        rank, _ = rank_within_regions(
            group["rate"].to_numpy()[None, :], np.zeros(len(group), dtype=np.int64)
        )
        parts.append(group.assign(rank=rank[0]))
    ranked = pd.concat(parts, ignore_index=True)
    columns = ["category", "region", "rank", "municipality", *counts, "rate"]
    return ranked[columns].sort_values(["category", "region", "rank"], ignore_index=True)


def _risk_factors(frame: pd.DataFrame) -> pd.DataFrame:
    edges = [0, *EXPOSURE_BANDS, np.inf]
    spells = [0, *DURATION_BANDS, np.inf]
    return pd.DataFrame(
        {
            "category": frame["category"],
            "age_group": frame["age_group"],
            "sex": frame["sex"],
            "education": frame["education"],
            "minority": pd.Categorical(
                np.where(frame["minority"], "yes", "no"), categories=["no", "yes"]
            ),
            "exposure": pd.cut(frame["weeks_in_year"], edges, labels=list(EXPOSURE_LABELS)),
            "duration": pd.cut(frame["weeks_on_benefit"], spells, labels=list(DURATION_LABELS)),
        }
    )


def expected_sanctioned(
    frame: pd.DataFrame, factors: tuple[str, ...] = RISK_FACTORS
) -> tuple[pd.Series, pd.DataFrame]:
    """Each client-year's probability of a sanction given its ``factors`` (default:
    :data:`RISK_FACTORS`), from a logistic regression fitted on the whole frame (statsmodels
    GLM, binomial).

    The model is fitted on the cells of identical covariates (recipients and sanctioned per
    cell), which gives the same estimates as one row per client-year, much faster. With one
    factor the model is saturated and its fit is each level's share sanctioned, which is
    computed directly (exact: the same expected counts as indirect standardisation of the
    aggregated counts over that factor, :mod:`streetlevel.analysis.standardise`).

    Returns:
        The probabilities (aligned with ``frame``) and the model as a table of odds ratios
        (term, odds_ratio, low, high, p_value; the first level of each factor is the
        reference).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    unknown = [f for f in factors if f not in RISK_FACTORS]
    if unknown or not factors:
        raise StreetlevelError(
            f"risk factors {unknown or 'none'}: expected some of {', '.join(RISK_FACTORS)}"
        )
    factors_frame = _risk_factors(frame)[list(factors)]
    sanctioned = (frame["sanctions"] > 0).astype(np.int64)
    cells = (
        factors_frame.assign(recipients=1, sanctioned=sanctioned)
        .groupby(list(factors), observed=True)[["recipients", "sanctioned"]]
        .sum()
        .reset_index()
    )
    if len(factors) == 1:
        cells["p"] = cells["sanctioned"] / cells["recipients"]
        shares = factors_frame.merge(cells, on=list(factors), how="left")
        model = cells.rename(columns={factors[0]: "term"}).assign(share=cells["p"])[
            ["term", "recipients", "sanctioned", "share"]
        ]
        return pd.Series(shares["p"].to_numpy(), index=frame.index, name="p"), model
    for name in factors:
        cells[name] = cells[name].cat.remove_unused_categories()
    design = pd.get_dummies(cells[list(factors)], drop_first=True, dtype=np.float64)
    design.insert(0, "intercept", 1.0)
    counts = np.column_stack(
        [cells["sanctioned"], cells["recipients"] - cells["sanctioned"]]
    ).astype(np.float64)
    with warnings.catch_warnings():
        # A level with no sanction at all (or only sanctions) has an infinite log-odds; the
        # fit then drives its probability to 0 (or 1), which is the right expected count.
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            fit = sm.GLM(counts, design, family=sm.families.Binomial()).fit()
            conf = np.asarray(fit.conf_int(alpha=1 - LEVELS[0]))
            model = pd.DataFrame(
                {
                    "term": design.columns,
                    "odds_ratio": np.exp(np.asarray(fit.params)),
                    "low": np.exp(conf[:, 0]),
                    "high": np.exp(conf[:, 1]),
                    "p_value": np.asarray(fit.pvalues),
                }
            )
            # The fitted probabilities, from the linear predictor: inside errstate too (exp
            # overflows at separated levels, where the probability is 0 or 1, which is what it
            # gives). Not fit.fittedvalues: its pandas wrapper fails on a single cell.
            linear = design.to_numpy() @ np.asarray(fit.params, dtype=np.float64)
            cells["p"] = np.asarray(fit.family.link.inverse(linear), dtype=np.float64)
    probability = factors_frame.merge(cells[[*factors, "p"]], on=list(factors), how="left")
    return pd.Series(probability["p"].to_numpy(), index=frame.index, name="p"), model


def risk_adjusted(
    frame: pd.DataFrame, probability: pd.Series, by_category: bool = False
) -> pd.DataFrame:
    """Observed against expected sanctioned recipients per municipality (and category).

    Columns: municipality, region, category, recipients, observed (recipients sanctioned at
    least once), expected, ratio, low, high (exact Poisson 95 % CI of the ratio), share
    (observed / recipients), adjusted_share (ratio x the share of the country, or of the
    category), z, the control limits of the ratio at each of
    :data:`~streetlevel.analysis.funnel.LEVELS`, ``outside_95`` and ``outside_998``; ``between_sd``
    (the spread of ratios between municipalities beyond chance, per category compared) and
    ``outside_95_overdispersed``, ``outside_998_overdispersed``: outside limits that allow for
    it (Spiegelhalter's additive random effects) as well as for chance.
    """
    data = _with_units(frame, by_category)
    grouped = (
        data[UNIT]
        .assign(
            recipients=1,
            observed=(data["sanctions"] > 0).astype(np.int64),
            expected=probability.to_numpy(),
        )
        .groupby(UNIT, observed=True)
        .sum()
        .reset_index()
    )
    out = _plain(grouped)
    n, o, e = out["recipients"], out["observed"], out["expected"]
    out["ratio"] = ratio(o, e)
    out["low"], out["high"] = poisson_ratio_interval(o, e, LEVELS[0])
    out["share"] = ratio(o, n)
    totals = out.groupby("category")[["observed", "recipients"]].transform("sum")
    out["adjusted_share"] = out["ratio"] * ratio(totals["observed"], totals["recipients"])
    return compared(out, "recipients")


def compared(out: pd.DataFrame, denominator: str | None) -> pd.DataFrame:
    """``out`` (a unit a row: observed, expected and perhaps a ``denominator`` column) with
    the generic funnel's z-score, limits and flags (:func:`streetlevel.analysis.outliers.funnel`,
    per category compared), the additive between-unit spread (``between_sd``) always allowed
    for in the ``_overdispersed`` flags."""
    parts = []
    for _, rows in out.groupby("category", sort=False):
        result = funnel(
            rows["municipality"].to_numpy(),
            rows["observed"].to_numpy(),
            rows["expected"].to_numpy(),
            None if denominator is None else rows[denominator].to_numpy(),
            overdispersion="additive",
        )
        judged = result.units.drop(columns=["unit", "observed", "expected", "ratio"])
        judged = judged.drop(columns=[c for c in ("denominator",) if c in judged])
        judged = judged[[c for c in judged.columns if not c.startswith("limit_") or
                         not c.endswith("_overdispersed")]]  # fmt: skip
        judged.index = rows.index
        judged["between_sd"] = np.sqrt(result.dispersion.tau2)
        parts.append(rows.join(judged))
    joined = pd.concat(parts)
    return joined.sort_values(["category", "municipality"], ignore_index=True)

    return out.sort_values(["category", "municipality"], ignore_index=True)


def benchmark(
    source: Path | str,
    year: int | None = None,
    by_category: bool = False,
    replication: int | None = None,
    risk_factors: tuple[str, ...] = RISK_FACTORS,
) -> Benchmark:
    """Benchmark the municipalities in a run directory or a decision data file.

    Args:
        source: a run directory or a ``.csv`` / ``.parquet`` file in the decision schema.
        year: the year to rank and risk-adjust (default: the latest in the data).
        by_category: compare municipalities within each category, not over all clients.
        replication: the replication of a simulated run to judge (default: the first).
        risk_factors: the covariates of the risk model (default: :data:`RISK_FACTORS`).
    """
    loaded, weeks_per_year = _load(source, replication)
    frame, chosen = _one_replication(loaded, replication)
    years = sorted(int(y) for y in frame["year"].unique())
    year = years[-1] if year is None else year
    if year not in years:
        raise StreetlevelError(f"{source}: no rows for year {year} (years: {_span(years)})")
    table = indicators(frame, by_category, weeks_per_year)
    in_year = frame[frame["year"] == year].reset_index(drop=True)
    probability, model = expected_sanctioned(in_year, risk_factors)
    adjusted = risk_adjusted(in_year, probability, by_category)
    ranking = with_adjusted_rank(regional_ranking(table[table["year"] == year]), adjusted)
    return Benchmark(
        source=str(source),
        year=year,
        replication=chosen,
        by_category=by_category,
        indicators=table,
        ranking=ranking,
        risk_adjusted=adjusted,
        risk_model=model,
        overdispersion=estimate(
            "proportion", adjusted["observed"], adjusted["expected"], adjusted["recipients"]
        ).phi,
        national_rate=float(
            sanction_rate(
                (in_year["sanctions"] > 0).sum(), in_year["weeks_in_year"].sum(), weeks_per_year
            )
        ),
    )


def default_out(source: Path | str) -> Path:
    """Where a benchmark is written by default: ``RUN_DIR/benchmark`` for a run directory,
    ``NAME-benchmark`` in the working directory for a data file ``NAME.csv``.

    Not beside the data file: it may be in a read-only or shared place (the example files
    inside the installed package, a register on a network drive).

    >>> default_out("/data/register/decisions.csv")
    PosixPath('decisions-benchmark')
    """
    source = Path(source)
    if source.is_dir():
        return source / "benchmark"
    return Path(f"{source.stem}-benchmark")
