"""Aggregated counts: what national databases publish (jobindsats, STAR's sanctions by
municipality, Stat-Xplore, the Bundesagentur's Jobcenter statistics), one row per unit x
stratum x year with an observed count and its denominator, read from a user's file or from a
run's municipality-year table, validated on load.

The schema (``docs/benchmarking.md``): ``municipality`` (the unit), ``sanctioned`` (the
observed count) and ``recipients`` (its denominator) are required; ``region``, ``year`` and the
strata ``category``, ``age_group``, ``sex``, ``education`` are optional, and any other stratum
is declared (``--strata``). Every database names its columns differently, so each can be
mapped (:class:`Columns`). The counts are either of **people** (sanctioned at least once: a
proportion of the denominator, compared with binomial limits) or of **events** (sanctions:
a Poisson count per unit of the denominator, e.g. per full-year recipient).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "counts.csv"
>>> _ = path.write_text("municipality;year;sanctioned;recipients\\nAarhus;2011;12;-5\\n")
>>> try:
...     read_aggregates(path)
... except AggregateDataError as err:
...     print(str(err).removeprefix(f"{path}: "))
row 1 (line 2), column 'recipients': -5 is negative (a count)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from streetlevel.errors import StreetlevelError
from streetlevel.scenario.tables import CellProblems, check_columns, read_user_table

__all__ = [
    "COUNTS",
    "INDICATORS",
    "KNOWN_STRATA",
    "AggregateDataError",
    "Aggregates",
    "Columns",
    "RunIndicator",
    "read_aggregates",
    "run_aggregates",
]

Counts = Literal["people", "events"]
COUNTS: tuple[Counts, ...] = ("people", "events")
"""What the observed count counts: people (a proportion of the denominator) or events."""
KNOWN_STRATA = ("category", "age_group", "sex", "education")
"""Stratum columns recognised by name; others are declared."""
DEFAULT_UNIT, DEFAULT_OBSERVED, DEFAULT_DENOMINATOR = "municipality", "sanctioned", "recipients"
NO_REGION = "(no region)"
"""The region of every unit when a file has none: the ranking is then national."""
NO_YEAR = 0
"""The year of every row when a file has none."""


class AggregateDataError(StreetlevelError):
    """An aggregated file does not follow the schema (names the row, line and column)."""


@dataclass(frozen=True)
class Columns:
    """The file's names of the schema's columns."""

    unit: str = DEFAULT_UNIT
    observed: str = DEFAULT_OBSERVED
    denominator: str = DEFAULT_DENOMINATOR
    region: str = "region"
    year: str = "year"
    strata: tuple[str, ...] = ()
    """Declared strata besides :data:`KNOWN_STRATA` (which are used when present)."""


@dataclass(frozen=True)
class Aggregates:
    """Validated counts: columns municipality, region, year, the strata, observed,
    denominator (canonical names whatever the file's)."""

    source: str
    frame: pd.DataFrame
    strata: tuple[str, ...]
    counts: Counts
    denominator: str = DEFAULT_DENOMINATOR
    """What the denominator counts (``recipients``, ``recipient_years``, ``meetings``...)."""
    indicator: str = "sanction_rate"
    has_region: bool = True
    has_year: bool = True
    years: list[int] = field(default_factory=list)


def read_aggregates(
    path: Path | str,
    columns: Columns | None = None,
    counts: Counts = "people",
    *,
    denominator: str = DEFAULT_DENOMINATOR,
    delimiter: str | None = None,
) -> Aggregates:
    """Read and validate an aggregated file (``.csv`` with ``,`` ``;`` or tab, or Parquet).

    Raises:
        AggregateDataError: naming the file and the row, line and column of each problem: a
            missing (or unknown) column, a non-numeric or negative count, an observed count of
            people above its denominator, a unit x stratum x year given twice.
    """
    columns = columns or Columns()
    table = read_user_table(path, AggregateDataError, delimiter=delimiter)
    names = table.columns
    strata = tuple(dict.fromkeys([*columns.strata, *(s for s in KNOWN_STRATA if s in names)]))
    optional = [c for c in (columns.region, columns.year) if c in names]
    check_columns(
        names,
        [columns.unit, columns.observed, columns.denominator, *columns.strata],
        [columns.region, columns.year, *KNOWN_STRATA],
        table.origin,
        AggregateDataError,
        hint="; other names are mapped with --unit, --observed, --denominator, --region, "
        "--year, and other strata declared with --strata",
    )
    raw = table.frame
    if len(raw) == 0:
        raise AggregateDataError(f"{table.origin}: no data rows")
    problems = CellProblems(table)
    decimal_comma = table.delimiter == ";"
    out = pd.DataFrame(index=raw.index)
    for name, target in [(columns.unit, "municipality"), *((s, s) for s in strata)]:
        out[target] = _text(raw[name], name, problems)
    has_region = columns.region in optional
    out["region"] = (
        _text(raw[columns.region], columns.region, problems) if has_region else NO_REGION
    )
    has_year = columns.year in optional
    if has_year:
        out["year"] = _number(raw[columns.year], columns.year, problems, decimal_comma, whole=True)
    else:
        out["year"] = NO_YEAR
    observed = _number(raw[columns.observed], columns.observed, problems, decimal_comma, whole=True)
    whole = denominator == "recipients"
    den = _number(raw[columns.denominator], columns.denominator, problems, decimal_comma,
                  whole=whole)  # fmt: skip
    out["observed"], out["denominator"] = observed, den
    if not problems.items:
        _check_rows(out, strata, counts, columns, problems, has_region)
    problems.raise_if_any(AggregateDataError)
    out["year"] = out["year"].astype(np.int64)
    years = sorted(int(y) for y in out["year"].unique())
    return Aggregates(
        table.origin, out.reset_index(drop=True), strata, counts, denominator,
        "custom" if columns.observed != DEFAULT_OBSERVED else "sanction_rate",
        has_region, has_year, years,
    )  # fmt: skip


def _text(raw: pd.Series, name: str, problems: CellProblems) -> pd.Series:
    values = raw.astype("string").str.strip()
    blank = values.isna() | (values == "")
    problems.add(np.flatnonzero(blank.to_numpy()), name, "missing value")
    return values.fillna("").astype(object)


def _number(
    raw: pd.Series, name: str, problems: CellProblems, decimal_comma: bool, whole: bool
) -> pd.Series:
    """A count column: text parsed as numbers (a decimal comma where ``;`` separates the
    fields, as Danish spreadsheets write them)."""
    text = raw.astype("string").str.strip()
    if decimal_comma:
        text = text.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    absent = text.isna().to_numpy() | (text == "").to_numpy(dtype=bool, na_value=False)
    problems.add(np.flatnonzero(absent), name, "missing value")
    bad = np.isnan(values) & ~absent | np.isinf(values)
    for row in np.flatnonzero(bad):
        problems.add([row], name, f"{raw.iloc[row]!r} is not a number")
    ok = np.isfinite(values)
    for row in np.flatnonzero(ok & (values < 0)):
        problems.add([row], name, f"{raw.iloc[row]} is negative (a count)")
    if whole:
        for row in np.flatnonzero(ok & (values >= 0) & (values != np.round(values))):
            problems.add([row], name, f"{raw.iloc[row]} is not a whole number (a count)")
    return pd.Series(values, index=raw.index)


def _check_rows(
    out: pd.DataFrame,
    strata: tuple[str, ...],
    counts: Counts,
    columns: Columns,
    problems: CellProblems,
    has_region: bool,
) -> None:
    """Checks across columns, once every value is of the right type."""
    if counts == "people":
        above = np.flatnonzero((out["observed"] > out["denominator"]).to_numpy())
        for row in above:
            problems.add([row], columns.observed,
                         f"{out['observed'].iloc[row]:g} people counted out of "
                         f"{out['denominator'].iloc[row]:g} ({columns.denominator}): "
                         "more than the denominator")  # fmt: skip
    else:
        none = np.flatnonzero(((out["denominator"] == 0) & (out["observed"] > 0)).to_numpy())
        problems.add(none, columns.observed, f"events where {columns.denominator} is 0")
    key = ["municipality", *strata, "year"]
    first = out.groupby(key, sort=False).cumcount()
    dup = np.flatnonzero((first > 0).to_numpy())
    if len(dup):
        firsts = out.reset_index(drop=True).drop_duplicates(key).reset_index()
        where = out[key].merge(firsts[[*key, "index"]], on=key, how="left")["index"]
        for row in dup:
            named = " x ".join(str(out[k].iloc[row]) for k in key)
            problems.add([row], columns.unit,
                         f"{named} ({' x '.join(key)}) is given twice: also in "
                         f"{problems.table.where(int(where.iloc[row]))}")  # fmt: skip
    if has_region:
        pairs = out.groupby(["municipality", "region"], sort=False).size()
        usual = pairs.sort_values(ascending=False, kind="stable").reset_index()
        usual = usual.drop_duplicates("municipality")
        expected = out["municipality"].map(dict(zip(usual["municipality"], usual["region"],
                                                    strict=True)))  # fmt: skip
        for row in np.flatnonzero((out["region"] != expected).to_numpy()):
            problems.add([row], columns.region,
                         f"{out['region'].iloc[row]!r} differs from the region of the "
                         "unit's other rows")  # fmt: skip


@dataclass(frozen=True)
class RunIndicator:
    """A municipality-year indicator as observed count over denominator (columns of the
    run's ``municipality_years`` table, summed where several are named)."""

    observed: tuple[str, ...]
    denominator: tuple[str, ...]
    counts: Counts
    denominator_name: str
    by_category: tuple[str, str] | None = None
    """Per-category column patterns (observed, denominator), ``{k}`` the category's number."""


INDICATORS: dict[str, RunIndicator] = {
    "sanction_rate": RunIndicator(
        ("sanctioned",), ("recipients",), "people", "recipients",
        ("sanctioned_category_{k}", "recipients_category_{k}"),
    ),
    "sanctions": RunIndicator(("sanctions",), ("recipient_years",), "events", "recipient_years"),
    "repeat_share": RunIndicator(("repeat_sanctioned",), ("sanctioned",), "people", "sanctioned"),
    "timeliness": RunIndicator(
        ("meetings_timely",), ("meetings_timely", "meetings_late"), "people", "meetings"
    ),
    "activation_degree": RunIndicator(
        ("weeks_offer",), ("weeks_in_year",), "people", "weeks_in_year"
    ),
    "exit_work_rate": RunIndicator(("exits_work",), ("recipients",), "people", "recipients"),
    "exit_other_rate": RunIndicator(("exits_other",), ("recipients",), "people", "recipients"),
    "exit_unknown_rate": RunIndicator(
        ("exits_unknown",), ("recipients",), "people", "recipients"
    ),
    "long_term_5y_share": RunIndicator(("long_term_5y",), ("stock_end",), "people", "stock_end"),
    "long_term_10y_share": RunIndicator(
        ("long_term_10y",), ("stock_end",), "people", "stock_end"
    ),
}  # fmt: skip
"""The municipality-year indicators a run can be benchmarked on (``--indicator``): the names
are the catalogue's (``streetlevel indicators``); ``sanctions`` is sanctions per full-year
recipient, an events rate."""


def run_aggregates(
    run: Path | str,
    indicator: str = "sanction_rate",
    replication: int | None = None,
    by_category: bool = True,
) -> tuple[Aggregates, int]:
    """A run directory's municipality-year table as aggregates of ``indicator``, one
    replication (default: the first); per category (a stratum) where the indicator has
    category columns and ``by_category``. Returns the aggregates and the replication."""
    import pyarrow.parquet as pq

    from streetlevel.output.summary import complete_manifest
    from streetlevel.scenario.loading import load_scenario

    if indicator not in INDICATORS:
        raise StreetlevelError(
            f"--indicator {indicator}: not an indicator of the municipality-year table "
            f"(one of: {', '.join(INDICATORS)})"
        )
    spec = INDICATORS[indicator]
    run = Path(run)
    complete_manifest(run)
    scenario = load_scenario(run / "scenario.toml")
    table = pq.read_table(run / "municipality_years.parquet").to_pandas()
    present = sorted(int(r) for r in table["replication"].unique())
    chosen = present[0] if replication is None else replication
    if chosen not in present:
        raise StreetlevelError(f"replication {chosen} is not in the data ({present})")
    table = table[table["replication"] == chosen].reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "municipality": table["municipality"].astype(str),
            "region": table["region"].astype(str),
            "year": table["year"].astype(np.int64),
        }
    )
    if spec.by_category is not None and by_category:
        parts = []
        for k, category in enumerate(scenario.categories, start=1):
            obs, den = (pattern.format(k=k) for pattern in spec.by_category)
            parts.append(
                keys.assign(
                    category=category.name,
                    observed=table[obs].to_numpy(np.float64),
                    denominator=table[den].to_numpy(np.float64),
                )
            )
        frame = pd.concat(parts, ignore_index=True)
        strata: tuple[str, ...] = ("category",)
    else:
        frame = keys.assign(
            observed=table[list(spec.observed)].sum(axis=1).to_numpy(np.float64),
            denominator=table[list(spec.denominator)].sum(axis=1).to_numpy(np.float64),
        )
        strata = ()
    years = sorted(int(y) for y in frame["year"].unique())
    aggregates = Aggregates(
        str(run), frame, strata, spec.counts, spec.denominator_name, indicator, True, True, years
    )
    return aggregates, chosen


def with_strata(aggregates: Aggregates, strata: tuple[str, ...]) -> Aggregates:
    """The aggregates summed over every stratum not in ``strata``."""
    drop = [s for s in aggregates.strata if s not in strata]
    if not drop:
        return aggregates
    key = ["municipality", "region", "year", *strata]
    frame = aggregates.frame.groupby(key, sort=False)[["observed", "denominator"]].sum()
    return replace(aggregates, frame=frame.reset_index(), strata=strata)
