"""Why municipalities differ: the variance of municipal sanction rates decomposed into
organisation, client mix, the caseworkers drawn, and chance.

CHM's thesis is that organisation — the route of absence reports, the management norm, the
pressure of rankings — makes a municipality a high sanctioner. This module measures how much
of the between-municipality variance a run attributes to each of four sources, from the run's
tables only (``municipality_years.parquet`` and ``client_years.parquet``):

- **the unit** is a municipality in one replication, over the chosen reporting years (all of
  them pooled, or one), weighted by its recipient-years. The dependent variable is the logit
  of its sanction rate (sanctioned / full-year recipients), the rate first clipped to
  ``[0.5/n, 1 - 0.5/n]`` with ``n`` its recipients, so that a rate of 0 or 1 has a finite
  logit (:func:`logit_rate`);
- **organisation**: the absence route, the management strictness in force (after pressure,
  averaged over the years), their interaction (the two routes weigh the norm differently), and
  the office's culture (the municipal component of caseworker strictness), where the run
  records it;
- **client mix**: the logit of the rate the municipality would have if each of the clients
  it receives (its inflow: the client-years that began a spell) were sanctioned at the
  national rate of their stratum (category, problems, age group, sex, education, minority:
  indirect standardisation, :func:`expected_rates`). Not its stock: sanctioned clients
  leave, so the stock's mix follows the municipality's own sanctions;
- **the caseworkers drawn**: the caseload-weighted mean of the individual component of its
  caseworkers' strictness in that replication, where the run records it;
- **chance**: what the three leave unexplained, ``1 - R²`` of the full model.

The shares are the Shapley decomposition of the R² of a weighted least-squares regression
(statsmodels WLS) over the three groups: each group's R² gain averaged over the 6 orders in
which the groups can enter (:func:`~streetlevel.analysis.variance.shapley`); they sum to the
full R². The sequential gains in the order organisation, client mix, caseworkers are given
beside them (:func:`~streetlevel.analysis.variance.sequential`).
Groups enter additively; an interaction across groups (a caseworker's strictness matters only
where the caseworker decides) is left to chance.

Separately, :func:`~streetlevel.analysis.variance.stable_share` says how much of the
variance of municipality × replication rates is stable across replications (the intraclass
correlation of a one-way ANOVA with the municipality as the group): the country's
organisation is built the same in every replication (only pressure moves it), so what is not
stable is mostly the caseworker draw and chance.

>>> import tempfile, pathlib
>>> from streetlevel.scenario.loading import load_scenario, with_values
>>> from streetlevel.output.run import run_scenario
>>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> scenario = with_values(load_scenario("denmark-2011"), {"scale.client_scale": 0.05})
>>> _ = run_scenario(scenario, seed=1, replications=2, out=run)
>>> result = explain(run)
>>> result.municipalities, result.replications, result.years
(98, 2, [2011, 2012, 2013])
>>> round(sum(result.shapley.values()) + result.chance, 9)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from streetlevel.analysis.variance import (
    logit_rate,
    r_squared,
    sequential,
    shapley,
    stable_share,
)
from streetlevel.errors import StreetlevelError

__all__ = [
    "CASEWORKERS",
    "CHANCE",
    "GROUPS",
    "ORGANISATION",
    "STRATA",
    "Explanation",
    "design",
    "expected_rates",
    "explain",
    "municipality_panel",
]

GROUPS = ("organisation", "client_mix", "caseworkers")
"""The factor groups, in the order of the sequential decomposition."""
CHANCE = "chance"
"""What the groups leave unexplained."""
ORGANISATION = ("absence_route", "management_strictness", "office_culture")
"""Organisation's columns of the municipality-year table; ``office_culture`` is used where a
run records it."""
CASEWORKERS = ("caseworker_strictness",)
"""The caseworkers drawn: their mean individual strictness, where a run records it. (The
share of a municipality's caseworkers overloaded would belong here too; the tables do not
record it.)"""
STRATA = ("category", "problems", "age_group", "sex", "education", "minority")
"""Client attributes whose strata the expected rate standardises over (those a table has)."""
REQUIRED = (
    "replication",
    "year",
    "municipality",
    "region",
    "recipients",
    "recipient_years",
    "sanctioned",
    "absence_route",
    "management_strictness",
)
"""The municipality-year columns a decomposition needs."""
CLIENT_COLUMNS = ("replication", "year", "municipality", "weeks_in_year", "sanctions")
"""The client-year columns it needs, besides the strata."""
MEANS = ("management_strictness", "office_culture", "caseworker_strictness")
"""Columns averaged over the years (weighted by recipient-years) for a municipality-replication."""
STRATUM_COLUMNS = ("replication", "municipality", *STRATA)
BATCH_ROWS = 1 << 20
"""Client-years aggregated at a time: a full-scale run of many replications never sits in
memory whole."""

Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Explanation:
    """A decomposition of the variance of municipal sanction rates (see the module)."""

    source: str
    years: list[int]
    route: str | None
    """The absence route the municipalities were chosen by; None for all."""
    replications: int
    municipalities: int
    rows: int
    r_squared: float
    shapley: dict[str, float]
    """Each group's Shapley share of the variance of the logit rate; they sum to the R²."""
    sequential: dict[str, float]
    """Each group's R² gain when the groups enter in the order of :data:`GROUPS`."""
    columns: dict[str, list[str]]
    """The regressors of each group (constant columns dropped)."""
    absent: dict[str, list[str]]
    """Columns a group would use that this run does not record, or that do not vary in it."""
    stable: dict[str, float | None]
    """``stable_share`` (of the rate), ``stable_share_logit``, ``municipal_rate_between_sd``
    and ``municipal_rate_within_sd``; None with fewer than 2 replications."""
    municipal_means: pd.DataFrame = field(repr=False)
    """Per municipality, means over replications (the CSV ``--out`` writes)."""
    notes: list[str] = field(default_factory=list)

    @property
    def chance(self) -> float:
        """What the three groups leave unexplained: 1 - R²."""
        return 1.0 - self.r_squared

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready data, keyed by the catalogue's names."""
        factors: dict[str, dict[str, Any]] = {
            g: {
                "explained_shapley": self.shapley[g],
                "explained_sequential": self.sequential[g],
                "columns": self.columns[g],
                "absent": self.absent[g],
            }
            for g in GROUPS
        }
        factors[CHANCE] = {
            "explained_shapley": self.chance,
            "explained_sequential": self.chance,
            "columns": [],
            "absent": [],
        }
        return {
            "source": self.source,
            "years": self.years,
            "route": self.route,
            "replications": self.replications,
            "municipalities": self.municipalities,
            "rows": self.rows,
            "dependent": "logit of the sanction rate, clipped to [0.5/n, 1 - 0.5/n] "
            "(n: recipients), per municipality and replication, weighted by recipient-years",
            "order": list(GROUPS),
            "factors": factors,
            "explained_r_squared": self.r_squared,
            **self.stable,
            "notes": self.notes,
        }


def _read(run_dir: Path, name: str, columns: list[str]) -> tuple[ds.Dataset, list[str]]:
    path = run_dir / f"{name}.parquet"
    if not path.exists():
        raise StreetlevelError(f"{path}: missing; `streetlevel explain` needs the run's {name}")
    try:
        dataset = ds.dataset(path, format="parquet")
    except (OSError, pa.ArrowException) as err:
        raise StreetlevelError(f"{path}: cannot read: {err}") from None
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise StreetlevelError(f"{path}: no column {', '.join(missing)}; explain needs them")
    return dataset, dataset.schema.names


def _years(present: list[int], year: int | None, path: Path) -> list[int]:
    if year is None:
        return present
    if year not in present:
        raise StreetlevelError(f"--year {year}: not in {path} (its years: {present})")
    return [year]


def expected_rates(
    run_dir: Path, years: list[int], weeks_per_year: int
) -> tuple[pd.DataFrame, str]:
    """Per (replication, municipality): the sanction rate its inflow's mix would give, each
    client sanctioned at the national rate of their stratum (:data:`STRATA`; sanctioned per
    full-year recipient, pooled over ``years`` and replications), averaged over the
    client-years that began a spell in the year (``entered``).

    The inflow, not the stock: sanctioned clients leave (to unknown destinations, among
    others), so a strict municipality's stock keeps the clients who are seldom sanctioned,
    and the stock's mix would credit to client mix what organisation or caseworkers did. Who
    arrives is not shaped by the municipality's own decisions. A table without ``entered``
    is standardised over its stock. Returns the rates and which clients they are of
    (``"inflow"`` or ``"stock"``)."""
    dataset, present = _read(run_dir, "client_years", list(CLIENT_COLUMNS))
    strata = [s for s in STRATA if s in present]
    keys = ["replication", "municipality", *strata]
    if "entered" in present:
        keys.append("entered")
    parts = []
    chosen = pc.field("year").isin(years)
    try:
        for batch in dataset.to_batches(
            columns=[*keys, "weeks_in_year", "sanctions"], filter=chosen, batch_size=BATCH_ROWS
        ):
            table = pa.Table.from_batches([batch])
            sanctioned = pc.cast(pc.greater(table["sanctions"], 0), pa.int64())
            table = table.append_column("sanctioned", sanctioned)
            parts.append(
                table.group_by(keys).aggregate(
                    [("weeks_in_year", "sum"), ("sanctioned", "sum"), ("sanctioned", "count")]
                )
            )
    except (OSError, pa.ArrowException) as err:
        raise StreetlevelError(f"{run_dir / 'client_years.parquet'}: cannot read: {err}") from None
    if not parts:
        raise StreetlevelError(f"{run_dir / 'client_years.parquet'}: no client-years in {years}")
    sums = ["weeks_in_year_sum", "sanctioned_sum", "sanctioned_count"]
    cells = pa.concat_tables(parts).to_pandas()
    cells = cells.groupby(keys, observed=True, as_index=False)[sums].sum()
    national = cells.groupby(strata, observed=True)[sums].sum()
    rate = national["sanctioned_sum"] / (national["weeks_in_year_sum"] / weeks_per_year)
    cells = cells.join(rate.rename("stratum_rate"), on=strata)
    basis = "stock"
    if "entered" in cells.columns:
        cells, basis = cells[cells["entered"]], "inflow"
    cells["expected"] = cells["stratum_rate"] * cells["sanctioned_count"]
    out = cells.groupby(["replication", "municipality"], observed=True, as_index=False)[
        ["expected", "sanctioned_count"]
    ].sum()
    out["expected_sanction_rate"] = out["expected"] / out["sanctioned_count"]
    out["municipality"] = out["municipality"].astype(str)
    return out[["replication", "municipality", "expected_sanction_rate"]], basis


def municipality_panel(
    run_dir: Path | str, year: int | None = None
) -> tuple[pd.DataFrame, list[int], list[str]]:
    """One row per (replication, municipality) over the chosen years, with the logit rate,
    the weight, the factors' columns and the expected rate; the years; and notes on how the
    client mix was measured.

    Raises:
        StreetlevelError: not a complete run, a table or column missing, a year not run.
    """
    from streetlevel.output.summary import complete_manifest
    from streetlevel.scenario.loading import load_scenario

    run_dir = Path(run_dir)
    complete_manifest(run_dir)
    dataset, present = _read(run_dir, "municipality_years", list(REQUIRED))
    optional = [c for c in (*ORGANISATION, *CASEWORKERS) if c in present and c not in REQUIRED]
    try:
        frame = dataset.to_table(columns=[*REQUIRED, *optional]).to_pandas()
    except (OSError, pa.ArrowException) as err:
        raise StreetlevelError(f"{run_dir / 'municipality_years.parquet'}: {err}") from None
    path = run_dir / "municipality_years.parquet"
    years = _years(sorted(int(y) for y in frame["year"].unique()), year, path)
    frame = frame[frame["year"].isin(years)].copy()
    for c in ("municipality", "region", "absence_route"):
        frame[c] = frame[c].astype(str)
    means = [c for c in MEANS if c in frame.columns]
    weight = frame["recipient_years"].to_numpy(dtype=np.float64)
    for c in means:
        frame[c] = frame[c] * weight
    keys = ["replication", "municipality", "region", "absence_route"]
    panel = frame.groupby(keys, as_index=False)[
        ["recipients", "recipient_years", "sanctioned", *means]
    ].sum()
    safe = panel["recipient_years"].where(panel["recipient_years"] > 0)
    for c in means:
        panel[c] = panel[c] / safe
    panel["sanction_rate"] = panel["sanctioned"] / safe
    weeks = int(load_scenario(run_dir / "scenario.toml").time.weeks_per_year.value)
    expected, basis = expected_rates(run_dir, years, weeks)
    panel = panel.merge(expected, on=["replication", "municipality"], how="left")
    notes = [f"client mix: the {basis}'s strata at national rates (indirect standardisation)"]
    unknown = panel["expected_sanction_rate"].isna() & (panel["recipient_years"] > 0)
    if unknown.any():
        # No one entered: nothing is known of its inflow, so it is taken as the country's.
        known = panel[~unknown]
        country = np.average(known["expected_sanction_rate"], weights=known["recipient_years"])
        panel.loc[unknown, "expected_sanction_rate"] = country
        notes.append(
            f"client mix: {int(unknown.sum())} municipality-replications with no "
            "one entering, taken at the country's expected rate"
        )
    panel = panel[panel["recipient_years"] > 0].reset_index(drop=True)
    panel["logit_rate"] = logit_rate(panel["sanction_rate"], panel["recipients"])
    panel["logit_expected"] = logit_rate(panel["expected_sanction_rate"], panel["recipients"])
    return panel, years, notes


def _varies(column: pd.Series, weight: Float) -> bool:
    values = column.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        return False
    mean = np.average(values, weights=weight)
    return bool(np.average((values - mean) ** 2, weights=weight) > 0.0)


def design(panel: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
    """The regressors of each group (:data:`GROUPS`) and, per group, the columns it would
    use that the panel lacks or that do not vary in it."""
    weight = panel["recipient_years"].to_numpy(dtype=np.float64)
    absent: dict[str, list[str]] = {g: [] for g in GROUPS}
    org = pd.DataFrame(index=panel.index)
    routes = sorted(panel["absence_route"].unique())
    for route in routes[1:]:
        org[f"absence_route_{route}"] = (panel["absence_route"] == route).astype(np.float64)
    if len(routes) < 2:
        absent["organisation"].append("absence_route")
    for c in ("management_strictness", "office_culture"):
        if c not in panel.columns or not _varies(panel[c], weight):
            absent["organisation"].append(c)
            continue
        org[c] = panel[c]
        # The two routes weigh the norm (and the office) differently: an interaction.
        for route in routes[1:]:
            org[f"{c}_x_{route}"] = panel[c] * org[f"absence_route_{route}"]
    mix = pd.DataFrame(index=panel.index)
    if _varies(panel["logit_expected"], weight):
        mix["client_mix"] = panel["logit_expected"]
    else:
        absent["client_mix"].append("expected_sanction_rate")
    cw = pd.DataFrame(index=panel.index)
    for c in CASEWORKERS:
        if c in panel.columns and _varies(panel[c], weight):
            cw[c] = panel[c]
        else:
            absent["caseworkers"].append(c)
    return {"organisation": org, "client_mix": mix, "caseworkers": cw}, absent


def _stable(panel: pd.DataFrame, replications: int) -> tuple[dict[str, float | None], list[str]]:
    names = (
        "stable_share",
        "stable_share_logit",
        "municipal_rate_between_sd",
        "municipal_rate_within_sd",
    )
    if replications < 2:
        note = "the stable share needs at least 2 replications (this run has 1)"
        return dict.fromkeys(names, None), [note]
    share, between, within = stable_share(panel["sanction_rate"], panel["municipality"])
    share_logit, _, _ = stable_share(panel["logit_rate"], panel["municipality"])
    return dict(zip(names, (share, share_logit, between, within), strict=True)), []


def _means(panel: pd.DataFrame) -> pd.DataFrame:
    """Per municipality: means over replications, and the rate's spread across them."""
    columns = ["sanction_rate", "expected_sanction_rate", "recipient_years"]
    columns += [c for c in MEANS if c in panel.columns]
    keys = ["municipality", "region", "absence_route"]
    grouped = panel.groupby(keys, as_index=False)
    out = grouped[columns].mean()
    out["sanction_rate_sd"] = grouped["sanction_rate"].std(ddof=1)["sanction_rate"]
    return out


def explain(run_dir: Path | str, year: int | None = None, route: str | None = None) -> Explanation:
    """Decompose the variance of municipal sanction rates in a finished run (see the module).

    Args:
        run_dir: a run directory (a preset's run or a user's own scenario's).
        year: a reporting year; None pools all of them.
        route: only the municipalities with this absence route (``caseworker``: CHM's
            Figure 1; ``benefit_office``: Figure 2); None for all. The national stratum
            rates of the client mix stay the whole country's.

    Raises:
        StreetlevelError: not a complete run, a table or column missing, a year not in the
            run, a route no municipality has, or too few municipality-replications for the
            regression.
    """
    panel, years, notes = municipality_panel(run_dir, year)
    if route is not None:
        routes = sorted(panel["absence_route"].unique())
        if route not in routes:
            raise StreetlevelError(f"--route {route}: no municipality of {run_dir} has it "
                                   f"(its routes: {', '.join(routes)})")  # fmt: skip
        panel = panel[panel["absence_route"] == route].reset_index(drop=True)
    groups, absent = design(panel)
    y = panel["logit_rate"].to_numpy(dtype=np.float64)
    weight = panel["recipient_years"].to_numpy(dtype=np.float64)
    regressors = sum(x.shape[1] for x in groups.values())
    if len(panel) < regressors + 2:
        raise StreetlevelError(
            f"{run_dir}: {len(panel)} municipality-replications with recipients, too few for "
            f"a regression on {regressors} factors (at least {regressors + 2} needed)"
        )
    replications = int(panel["replication"].nunique())
    stable, stable_notes = _stable(panel, replications)
    notes += stable_notes
    for g in GROUPS:
        if absent[g]:
            notes.append(f"{g}: measured without {', '.join(absent[g])} (absent or constant)")
    full = r_squared(y, pd.concat(list(groups.values()), axis=1), weight)
    return Explanation(
        source=str(run_dir),
        years=years,
        route=route,
        replications=replications,
        municipalities=int(panel["municipality"].nunique()),
        rows=len(panel),
        r_squared=full,
        shapley=shapley(y, groups, weight),
        sequential=sequential(y, groups, weight),
        columns={g: list(x.columns) for g, x in groups.items()},
        absent=absent,
        stable=stable,
        municipal_means=_means(panel),
        notes=notes,
    )
