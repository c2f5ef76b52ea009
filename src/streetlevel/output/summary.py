"""The run summary: national and municipal indicators across replications, each with its
spread of replications and the confidence interval of its mean.

Read from a run directory's tables (analysis never touches live simulation objects). Each
indicator is first computed per replication (averaged over the reporting years; the profile
gaps of the sanctioned are pooled over them), then summarised across replications by

- its mean;
- the spread of replications (:data:`~streetlevel.output.catalogue.SPREAD_PERCENTILES`): the
  2.5th and 97.5th percentiles, where a single replication's figure falls, which is what a
  published figure is compared with (docs/targets.md); more replications do not narrow it;
- the 95 % confidence interval of the mean (:data:`~streetlevel.output.catalogue.MEAN_CI`):
  mean ± t(0.975, n − 1)·sd/√n, how well the replications pin the mean down; it narrows as
  they grow.

Each indicator's label, unit and definition come from the catalogue
(:mod:`streetlevel.output.catalogue`); :func:`print_summary` shows a summary in them, as
``streetlevel run`` and ``streetlevel summary`` do.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from streetlevel.errors import StreetlevelError
from streetlevel.model.codes import AGE_GROUPS
from streetlevel.model.indicators import LONG_TERM_YEARS, ratio, sanction_rate
from streetlevel.model.tally import BY_MINORITY, PROFILE
from streetlevel.output.catalogue import (
    MEAN_CI,
    MISSING,
    SPREAD,
    SPREAD_PERCENTILES,
    Resolved,
    lookup,
)
from streetlevel.output.uncertainty import SPREAD_COVERAGE, interval, mean_ci, spread_coverage
from streetlevel.scenario.loading import load_scenario

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from streetlevel.scenario.schema import Scenario

__all__ = [
    "GROUPS",
    "Indicator",
    "Summary",
    "complete_manifest",
    "describe",
    "interval",
    "mean_ci",
    "print_summary",
    "replication_indicators",
    "spread_coverage",
    "summarize",
    "summary_notes",
    "summary_table",
]

FRAME_COLUMNS = [
    "name", "label", "unit", "mean", "spread_low", "spread_high", "mean_ci_low", "mean_ci_high",
    "mean_shown", "spread_shown", "mean_ci_shown", "description",
]  # fmt: skip
"""The columns of :meth:`Summary.to_frame` (and ``summary --csv``); the numbers' names are the
``--json`` keys."""
JSON_KEYS = {
    "low": "spread_low", "high": "spread_high", "ci_low": "mean_ci_low", "ci_high": "mean_ci_high",
}  # fmt: skip
"""An :class:`Indicator`'s fields as ``--json`` names them: what each interval is."""
GROUPS = ("minority", "majority")
"""The client groups whose placement approvals and exits to work are compared."""


@dataclass(frozen=True)
class Indicator:
    """One indicator across replications, with its definition, label and unit from the
    catalogue (:mod:`streetlevel.output.catalogue`)."""

    name: str
    mean: float
    low: float
    """The spread of replications' lower end (2.5th percentile; ``spread_low`` in JSON)."""
    high: float
    """The spread of replications' upper end (97.5th percentile; ``spread_high``)."""
    description: str
    """The definition: what is counted, over what."""
    label: str = ""
    unit: str = ""
    """The name of the unit (:data:`streetlevel.output.catalogue.UNITS`)."""
    ci_low: float = float("nan")
    """The 95 % CI of the mean, lower end (``mean_ci_low``; NaN with fewer than two
    replications)."""
    ci_high: float = float("nan")
    """The 95 % CI of the mean, upper end (``mean_ci_high``)."""

    def format(self, value: float) -> str:
        """A value of this indicator in its unit (12.3 %, +2.1 pp, 13,730)."""
        return lookup(self.name).format(value)


@dataclass(frozen=True)
class Summary:
    """What ``streetlevel run`` prints, and its ``--json`` form."""

    scenario: str
    seed: int
    replications: int
    wall_seconds: float
    out: str
    indicators: list[Indicator] = field(default_factory=list)
    reporting_years: list[int] = field(default_factory=list)
    """The calendar years each indicator without a year of its own is averaged over."""
    municipalities: int = 0
    """How many municipalities the run simulated (0: not recorded)."""

    def get(self, name: str) -> Indicator:
        for ind in self.indicators:
            if ind.name == name:
                return ind
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """One row per indicator: its name, label, unit, mean, spread of replications and
        95 % CI of the mean as numbers (a share as a fraction, as ``--json`` gives them and
        names them), the same as the table shows them (``11.4 %``, ``11.0 - 11.6 %``), and
        its definition; what ``streetlevel summary --csv`` writes.

        >>> frame = Summary("s", 1, 2, 0.5, "runs/s", [Indicator("repeat_share", 0.36, 0.35,
        ...     0.37, "d", "repeat share", "share")]).to_frame()
        >>> frame[["mean", "spread_low", "spread_high"]].iloc[0].tolist()
        [0.36, 0.35, 0.37]
        >>> frame.loc[0, "spread_shown"], frame.loc[0, "mean_ci_shown"]
        ('35.0 - 37.0 %', '-')
        """
        import pandas as pd

        rows = []
        for ind in self.indicators:
            entry = lookup(ind.name)
            rows.append(
                {
                    "name": ind.name,
                    "label": ind.label or entry.label,
                    "unit": ind.unit or entry.unit.name,
                    "mean": ind.mean,
                    "spread_low": ind.low,
                    "spread_high": ind.high,
                    "mean_ci_low": ind.ci_low,
                    "mean_ci_high": ind.ci_high,
                    "mean_shown": entry.format(ind.mean),
                    "spread_shown": entry.format_interval(ind.low, ind.high),
                    "mean_ci_shown": entry.format_interval(ind.ci_low, ind.ci_high),
                    "description": ind.description,
                }
            )
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def to_json(self) -> str:
        """The summary as JSON: each indicator's ``mean``, ``spread_low`` and ``spread_high``
        (the spread of replications) and ``mean_ci_low`` and ``mean_ci_high`` (the 95 % CI of
        the mean), None where not measured."""
        data = asdict(self)
        # Each interval next to the mean, under the name of what it is.
        order = ["name", "mean", *JSON_KEYS.values()]
        data["indicators"] = [
            dict(
                sorted(
                    ((JSON_KEYS.get(key, key), value) for key, value in ind.items()),
                    key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order),
                )
            )
            for ind in data["indicators"]
        ]
        for ind in data["indicators"]:
            for key in ("mean", *JSON_KEYS.values()):
                ind[key] = None if np.isnan(ind[key]) else ind[key]
        return json.dumps(data, ensure_ascii=False)


def _mean_over_years(values: npt.ArrayLike) -> float:
    """The mean of a replication's yearly figures, over the years that measured it (NaN,
    silently, where no year did: e.g. a category with no recipients in a small run)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def complete_manifest(out: Path | str) -> dict[str, Any]:
    """The manifest of the run directory ``out``, whose run must have completed: every reader
    of run directories checks this first, so tables of a run that was interrupted, failed or
    killed are never read as results.

    Raises:
        StreetlevelError: no readable manifest, or a run that did not complete; the message
            says what the manifest records and what to do.
    """
    out = Path(out)
    path = out / "manifest.json"
    if not path.exists():
        raise StreetlevelError(f"{out}: not a run directory (no manifest.json)")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StreetlevelError(f"{path}: cannot read the manifest: {err}") from None
    status = manifest.get("status", "unknown")
    if status == "complete":
        return manifest
    if status == "running":
        # A killed run never rewrites its manifest: only its process tells it from a live one.
        why = (
            f"its manifest says it is still running (process {manifest.get('pid')} on "
            f"{manifest.get('host')}, started {manifest.get('started')}); if that process has "
            "ended, the run was killed"
        )
    else:
        why = f"its manifest says {status!r} ({manifest.get('error', 'no reason recorded')})"
    raise StreetlevelError(
        f"{out}: not a complete run: {why}; finish it with run --resume (the same --out, "
        "scenario and seed) or run it again with --overwrite"
    )


def summarize(out: Path) -> Summary:
    """Summarise the run directory ``out``."""
    out = Path(out)
    manifest = complete_manifest(out)
    my = pq.read_table(out / "municipality_years.parquet").to_pandas()
    scenario = load_scenario(out / "scenario.toml")
    simulated = sorted(set(my["municipality"].astype(str)))
    # The indicator keeps its name (national_sanction_rate): an experiment's outcomes and a
    # script's --json keys are the same whatever the scenario. Its label says what it covers:
    # a run of one municipality alone (municipality-b) has no country to speak for, and
    # "sanction rate, country" would read as Denmark's rate.
    fields = {"area": f"{simulated[0]} alone"} if len(simulated) == 1 else {}
    indicators = []
    for name, values, _ in [
        *replication_indicators(my, scenario),
        *([] if _has_profile_counts(my) else _profile_gaps(out)),
    ]:
        entry = describe(name, scenario, **fields)
        ci_low, ci_high = mean_ci(values)
        indicators.append(
            Indicator(
                name,
                *interval(values),
                entry.definition,
                entry.label,
                entry.unit.name,
                ci_low,
                ci_high,
            )
        )
    return Summary(
        scenario=str(manifest["scenario"]),
        seed=int(manifest["seed"]),
        replications=int(manifest["replications"]),
        wall_seconds=float(manifest.get("wall_seconds", float("nan"))),
        out=str(out),
        indicators=indicators,
        reporting_years=sorted(int(y) for y in my["year"].unique()),
        municipalities=len(simulated),
    )


def replication_indicators(
    my: pd.DataFrame, scenario: Scenario
) -> list[tuple[str, npt.NDArray[np.float64], str]]:
    """Each indicator per replication (in replication order), from the municipality-year rows
    of the reporting years (the ``municipality_years`` table, as a data frame): what
    :func:`summarize` reduces to intervals and what an experiment stores per replication.
    The profile gaps of the sanctioned are among them when the table has the profile counts
    (runs written before the engine counted them have not)."""
    scale = scenario.scale.client_scale.value
    indicators: list[tuple[str, npt.NDArray[np.float64], str]] = []

    def add(name: str, values: Any) -> None:
        description = describe(name, scenario).definition
        indicators.append((name, np.asarray(values, dtype=np.float64), description))

    national = my.groupby(["replication", "year"]).sum(numeric_only=True)
    per_rep = national.groupby(level="replication")
    # Each replication's rows of ``national`` (sorted by replication, then year) as a slice:
    # a yearly figure is computed for all rows at once and averaged per slice, the same
    # numbers as per group, without a data frame per replication and indicator (0.3 s of a
    # 100-replication run's summary).
    reps = national.index.get_level_values("replication").to_numpy()
    bounds = np.flatnonzero(np.r_[True, reps[1:] != reps[:-1], True])

    def per_replication(yearly: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.array([_mean_over_years(yearly[a:b]) for a, b in itertools.pairwise(bounds)])

    def column(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(national[name].to_numpy(), dtype=np.float64)

    def national_ratio(num: str, den: str) -> Any:
        return per_replication(ratio(column(num), column(den)))

    wpy = scenario.time.weeks_per_year.value

    def national_rate(sanctioned: str, weeks: str) -> Any:
        return per_replication(sanction_rate(column(sanctioned), column(weeks), wpy))

    add("national_sanction_rate", national_rate("sanctioned", "weeks_in_year"))
    add("sanctioned_recipients", per_rep["sanctioned"].mean() / scale)
    add("repeat_share", national_ratio("repeat_sanctioned", "sanctioned"))
    k = 1
    while f"recipients_category_{k}" in my.columns:
        # A category no one was in during the reporting years (one not yet in force, as the
        # 2014 reform's education-ready group in 2011) has no rate to report.
        if column(f"recipient_years_category_{k}").sum() > 0:
            add(
                f"sanction_rate_category_{k}",
                national_ratio(f"sanctioned_category_{k}", f"recipient_years_category_{k}"),
            )
        k += 1
    present = set(my["municipality"].astype(str))
    for m in scenario.municipalities:
        if m.name in present:
            rows = my[my["municipality"] == m.name]
            add(
                f"sanction_rate_{_slug(m.name)}",
                rows.groupby("replication")["sanction_rate"].mean(),
            )
    for dest in ("work", "other", "unknown"):
        add(f"exit_{dest}_rate", national_ratio(f"exits_{dest}", "recipients"))
    add(
        "unknown_to_work_exits_sanctioned",
        national_ratio("exits_unknown_sanctioned", "exits_work_sanctioned"),
    )
    add(
        "timeliness",
        per_replication(
            ratio(column("meetings_timely"), column("meetings_timely") + column("meetings_late"))
        ),
    )
    add("activation_degree", national_ratio("weeks_offer", "weeks_in_year"))
    for years in LONG_TERM_YEARS:
        add(f"long_term_{years}y_share", national_ratio(f"long_term_{years}y", "stock_end"))
    add("weeks_per_sanction", national_ratio("weeks_sanctioned", "sanctions"))
    add("amount_withheld_per_recipient", national_ratio("amount_withheld", "recipients"))
    by_year = national["sanctioned"] / (national["weeks_in_year"] / wpy)
    for year, rates in by_year.groupby(level="year"):
        add(f"national_sanction_rate_{year}", rates.to_numpy())
    for c in range(1, k):
        full_years = national[f"recipient_years_category_{c}"]
        rate_c = national[f"sanctioned_category_{c}"] / full_years
        for year, rates in rate_c.groupby(level="year"):
            if full_years.xs(year, level="year").sum() > 0:
                add(f"sanction_rate_category_{c}_{year}", rates.to_numpy())
    add("mean_management_strictness", my.groupby("replication")["management_strictness"].mean())
    if all(name in my.columns for name in BY_MINORITY):
        for name, values in _by_minority(column, per_replication):
            add(name, values)
    if _has_profile_counts(my):
        summed = my.groupby("replication").sum(numeric_only=True)
        indicators.extend(_gaps({name: summed[name].to_numpy() for name in _COUNTED}))
    return indicators


def _by_minority(
    column: Callable[[str], npt.NDArray[np.float64]],
    per_replication: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
) -> list[tuple[str, npt.NDArray[np.float64]]]:
    """Minority and majority clients' placement approvals and exits to work, and the gaps
    (minority minus majority), per replication from the national yearly ``column`` s of the
    :data:`~streetlevel.model.tally.BY_MINORITY` counts (scenarios with placements)."""
    recipients = {"minority": column("recipients_minority")}
    recipients["majority"] = column("recipients") - recipients["minority"]
    exits = {"minority": column("exits_work_minority")}
    exits["majority"] = column("exits_work") - exits["minority"]
    yearly: dict[str, npt.NDArray[np.float64]] = {}
    for group in GROUPS:
        yearly[f"placement_approval_rate_{group}"] = ratio(
            column(f"placements_approved_{group}"), column(f"placements_{group}")
        )
        yearly[f"exit_work_rate_{group}"] = ratio(exits[group], recipients[group])
    for what in ("placement_approval_rate", "exit_work_rate"):
        yearly[f"{what}_gap"] = yearly[f"{what}_minority"] - yearly[f"{what}_majority"]
    return [(name, per_replication(values)) for name, values in yearly.items()]


def describe(name: str, scenario: Scenario, **extra: str) -> Resolved:
    """The catalogue's entry of indicator ``name`` in the words of ``scenario``: a listed
    municipality by its own name, amounts in the currency of its benefit (and ``extra``
    fields, such as the ``area`` a national figure covers).

    >>> from streetlevel.scenario.loading import load_scenario
    >>> describe("sanction_rate_municipality_a", load_scenario("denmark-2011")).label
    'sanction rate, Municipality A'
    """
    fields = {"currency": scenario.legislation.benefit.unit.removesuffix(" per week"), **extra}
    slug = lookup(name).parts.get("municipality")
    named = [m.name for m in scenario.municipalities if _slug(m.name) == slug]
    if slug is not None and named:
        fields["municipality"] = named[0]
    return lookup(name, **fields)


def summary_table(summary: Summary) -> Table:
    """The summary as ``streetlevel run`` prints it: each indicator's label, its mean over the
    replications, its spread of replications and the 95 % CI of its mean, in its unit; the
    caption says what they are, and over which years the rows without a year are averaged."""
    from rich.table import Table

    table = Table(
        title=f"{summary.scenario}: {summary.replications} replications, seed {summary.seed}, "
        f"{summary.wall_seconds:.1f} s",
        caption="\n".join([*summary_notes(summary), f"results in {summary.out}"]),
        caption_justify="left",
    )
    table.add_column("indicator")
    table.add_column("mean", justify="right")
    table.add_column(SPREAD_PERCENTILES, justify="right")
    table.add_column(MEAN_CI, justify="right")
    for ind in summary.indicators:
        entry = lookup(ind.name)
        table.add_row(
            ind.label or entry.label,
            entry.format(ind.mean),
            entry.format_interval(ind.low, ind.high),
            entry.format_interval(ind.ci_low, ind.ci_high),
        )
    return table


def summary_notes(summary: Summary) -> list[str]:
    """What the summary's columns are, in words (its table's caption, the run report's
    paragraph): the years a row is averaged over, the two intervals, and a warning when the
    replications are too few for the spread to hold most of them."""
    years = summary.reporting_years
    over = (
        "the reporting years"
        if not years
        else f"the reporting year {years[0]}"
        if len(years) == 1
        else f"the reporting years {years[0]}-{years[-1]}"
    )
    notes = [
        f"mean: over the replications, each averaged over {over} (a year's own where the "
        "label names one)",
        f"{SPREAD}: where one replication's figure falls (what a published figure is "
        f"compared with); {MEAN_CI}: mean ± t·sd/√n ({MISSING}: one replication)",
    ]
    n = summary.replications
    if n > 0 and spread_coverage(n) < SPREAD_COVERAGE:
        notes.append(
            f"only {n} replication{'s' if n != 1 else ''}: the {SPREAD} is about their "
            f"smallest to largest and holds a new one's figure about "
            f"{100 * spread_coverage(n):.0f} % of the time, not 95 %"
        )
    return notes


def print_summary(summary: Summary, console: Console) -> None:
    """Print :func:`summary_table` on ``console``."""
    console.print(summary_table(summary))


def _has_profile_counts(my: pd.DataFrame) -> bool:
    """Whether the municipality-years carry the profile counts (runs written before the engine
    counted them have not: their gaps are counted from the client-years, _profile_gaps)."""
    return all(name in my.columns for name in _COUNTED)


def _profile_gaps(out: Path) -> list[tuple[str, Any, str]]:
    """The profile gaps counted from the client-years, for runs whose municipality-years do
    not carry the profile counts (written before the engine counted them)."""
    # Imported here, as rich is in summary_table: the tasks of sweeps and calibrations use
    # this module's indicators in workers that never read a run's files or print.
    import duckdb

    # DuckDB counts over the batch files in parallel, comparing dictionary codes; decoding a
    # national run's 70 million client-years to strings took longer than writing them.
    table = out / "client_years.parquet"
    # A directory of batch files; one file in runs written before batches had their own.
    files = str(table / "*.parquet") if table.is_dir() else str(table)
    counts = (
        duckdb.connect()
        .execute(
            # The names of the municipality-years' profile counts (_COUNTED).
            "SELECT replication, count(*) AS recipients, "
            "count(*) FILTER (sanctions > 0) AS sanctioned, "
            + ", ".join(
                f"count(*) FILTER ({column} = ?) AS recipients_{trait}, "
                f"count(*) FILTER ({column} = ? AND sanctions > 0) AS sanctioned_{trait}"
                for trait, column, _ in _TRAITS
            )
            + " FROM read_parquet(?) GROUP BY replication ORDER BY replication",
            [value for _, _, value in _TRAITS for _ in range(2)] + [files],
        )
        .fetchnumpy()
    )
    reps = counts["replication"].astype(np.int64)
    n_reps = int(reps.max()) + 1 if len(reps) else 0

    def per_replication(name: str) -> npt.NDArray[np.float64]:
        values = np.zeros(n_reps)
        values[reps] = counts[name]
        return values

    return _gaps({name: per_replication(name) for name in _COUNTED})


def _gaps(counts: dict[str, npt.NDArray[Any]]) -> list[tuple[str, Any, str]]:
    """Who is sanctioned: share young / male / low-educated among the sanctioned minus among
    all recipients (CHM: positive for all three), per replication from the client-year counts
    named as in :data:`_COUNTED`."""
    gaps = []
    for trait, _, _ in _TRAITS:
        share_all = ratio(counts[f"recipients_{trait}"], counts["recipients"])
        share_s = ratio(counts[f"sanctioned_{trait}"], counts["sanctioned"])
        name = f"{trait}_share_gap"
        gaps.append((name, share_s - share_all, lookup(name).definition))
    return gaps


_TRAITS = (
    ("young", "age_group", AGE_GROUPS[0]),
    ("male", "sex", "male"),
    ("low_education", "education", "low"),
)
assert tuple(trait for trait, _, _ in _TRAITS) == PROFILE  # the engine counts the same traits
_COUNTED = (
    "recipients",
    "sanctioned",
    *(f"{who}_{trait}" for trait in PROFILE for who in ("recipients", "sanctioned")),
)
"""The client-year counts the profile gaps are computed from, per replication."""
