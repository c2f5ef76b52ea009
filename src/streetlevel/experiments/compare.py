"""Policy comparison: each outcome per lever combination, across replications.

For every combination of the levers' levels found in the results, and every outcome, the
mean over the replications (and over the uncertainties' points, when the experiment has
uncertainties: a policy is judged across what we do not know) and the spread of replications
(:data:`~streetlevel.output.catalogue.SPREAD_PERCENTILES`: the 2.5th and 97.5th percentiles,
where one replication's figure falls, as in ``streetlevel run``'s summary; not a confidence
interval), with the standard error of the mean. Reads the results store only, so it can be
run while a sweep is still going (on the points finished so far). Outcomes are shown by their
labels and in their units (:mod:`streetlevel.output.catalogue`); ``compare.csv`` keeps their
names and values as stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.reports import Report, new_figure, save_png
from streetlevel.errors import ExperimentError
from streetlevel.experiments.spec import RESERVED_COLUMNS
from streetlevel.experiments.store import read_results, read_spec
from streetlevel.output.catalogue import SPREAD_PERCENTILES, lookup
from streetlevel.output.files import write_text_atomic
from streetlevel.output.uncertainty import interval, mean_ci

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import Console

__all__ = [
    "DEFAULT_FIGURE_OUTCOMES",
    "comparison",
    "comparison_figure",
    "comparison_table",
    "level_label",
    "policy_name",
    "print_comparison",
    "shown_outcomes",
    "write_comparison",
]

DEFAULT_FIGURE_OUTCOMES = ("national_sanction_rate", "exit_unknown_rate")
"""What the figure shows unless told otherwise: who is sanctioned, and who leaves the benefit
with no known income (the cost of sanctions CHM and the NAO point to)."""
PANEL_WIDTH = 4.5
ROW_HEIGHT = 0.35
MIN_HEIGHT = 3.0


def comparison(out: str | Path, by: list[str] | None = None) -> pd.DataFrame:
    """One row per lever combination and outcome: ``mean``, ``spread_low``, ``spread_high``
    (the spread of replications: 2.5th and 97.5th percentiles, where one replication's figure
    falls), ``mean_ci_low``, ``mean_ci_high`` (the 95 % CI of the mean), ``se`` (standard error
    of the mean) and ``n`` (replications).

    Args:
        by: factors to group by (default: the experiment's levers; all factors when it has
            none).
    """
    spec = read_spec(out)
    results = read_results(out)
    if results.empty:
        raise ExperimentError(f"{out}: no point has finished yet")
    factors = [f.name for f in [*spec.levers, *spec.uncertainties]]
    groups = by or [f.name for f in spec.levers] or factors
    unknown = [g for g in groups if g not in factors]
    if unknown:
        raise ExperimentError(f"--by: {unknown} are not factors (expected some of {factors})")
    outcomes = [c for c in results.columns if c not in {*RESERVED_COLUMNS, *factors}]
    rows = []
    for key, frame in results.groupby(groups, sort=False):
        labels = key if isinstance(key, tuple) else (key,)
        for outcome in outcomes:
            values = frame[outcome].to_numpy(dtype=np.float64)
            mean, low, high = interval(values)
            ci_low, ci_high = mean_ci(values)
            present = values[~np.isnan(values)]
            se = float(present.std(ddof=1) / np.sqrt(len(present))) if len(present) > 1 else np.nan
            rows.append(
                {
                    **dict(zip(groups, labels, strict=True)),
                    "outcome": outcome,
                    "mean": mean,
                    "spread_low": low,
                    "spread_high": high,
                    "mean_ci_low": ci_low,
                    "mean_ci_high": ci_high,
                    "se": round(se, 12),
                    "n": len(present),
                }
            )
    return pd.DataFrame(rows)


def comparison_figure(table: pd.DataFrame, outcomes: list[str]) -> Figure:
    """One panel per outcome: each lever combination's mean with its spread of replications."""
    groups = list(table.columns[: list(table.columns).index("outcome")])
    combos = table.drop_duplicates(groups)[groups]
    labels = [
        policy_name(dict(zip(groups, row, strict=True))) for row in combos.itertuples(index=False)
    ]
    fig = new_figure(
        PANEL_WIDTH * len(outcomes) + 2.0, max(MIN_HEIGHT, ROW_HEIGHT * len(labels) + 1.2)
    )
    axes = fig.subplots(1, len(outcomes), sharey=True, squeeze=False)[0]
    y = np.arange(len(labels))
    for ax, outcome in zip(axes, outcomes, strict=True):
        entry = lookup(outcome)
        rows = combos.merge(table[table["outcome"] == outcome], on=groups, how="left")
        # In the unit the tables show (a share in %), labelled as the CLI labels it.
        mean = entry.scaled(rows["mean"].to_numpy(dtype=np.float64))
        low = entry.scaled(rows["spread_low"].to_numpy(dtype=np.float64))
        high = entry.scaled(rows["spread_high"].to_numpy(dtype=np.float64))
        ax.errorbar(mean, y, xerr=np.vstack([mean - low, high - mean]), fmt="o", capsize=3)
        ax.set_title(entry.label, fontsize="medium")
        if entry.unit.symbol:
            ax.set_xlabel(entry.unit.symbol)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    fig.suptitle(f"mean and {SPREAD_PERCENTILES}")
    return fig


def policy_name(levels: dict[str, Any]) -> str:
    """A lever combination as a reader names it: each lever with its level as the experiment
    file writes it (``true``, not Python's ``True``).

    >>> policy_name({"route": "benefit_office", "pressure": True})
    'route = benefit_office, pressure = true'
    """
    return ", ".join(f"{lever} = {level_label(level)}" for lever, level in levels.items())


def level_label(value: Any) -> str:
    """A lever's level as the experiment file writes it (booleans in lower case, NumPy's
    too: a lever column read back from Parquet holds them)."""
    return str(value).lower() if isinstance(value, bool | np.bool_) else str(value)


def shown_outcomes(table: pd.DataFrame, outcomes: list[str] | None = None) -> list[str]:
    """The outcomes to show: those asked for (checked), else the defaults the experiment
    has, else its first two."""
    present = list(dict.fromkeys(table["outcome"]))
    if outcomes:
        missing = [o for o in outcomes if o not in present]
        if missing:
            raise ExperimentError(
                f"--outcome: {missing} are not outcomes of the experiment "
                f"(expected some of: {', '.join(present)})"
            )
        return list(outcomes)
    return [o for o in DEFAULT_FIGURE_OUTCOMES if o in present] or present[:2]


def write_comparison(
    out: str | Path, dest: str | Path | None = None, outcomes: list[str] | None = None
) -> tuple[pd.DataFrame, list[Path]]:
    """Write ``compare.csv``, ``compare.png`` and ``compare.html`` into ``dest`` (default:
    the experiment directory); returns the table and the files written."""
    out = Path(out)
    dest = Path(dest) if dest is not None else out
    dest.mkdir(parents=True, exist_ok=True)
    table = comparison(out)
    shown = shown_outcomes(table, outcomes)
    fig = comparison_figure(table, shown)
    paths = [dest / "compare.csv", dest / "compare.png", dest / "compare.html"]
    write_text_atomic(table.to_csv(index=False), paths[0])
    save_png(fig, paths[1])
    spec = read_spec(out)
    report = Report(
        f"Policy comparison: {spec.experiment.name}",
        f"{spec.experiment.description} Mean and {SPREAD_PERCENTILES}: where one "
        "replication's figure falls (low, high); se: the standard error of the mean.",
    )
    report.figure(fig, "outcomes per lever combination")
    for outcome in dict.fromkeys(table["outcome"]):
        entry = lookup(str(outcome))
        report.heading(f"{entry.label} ({outcome})")
        report.paragraph(entry.definition)
        rows = table[table["outcome"] == outcome].drop(columns="outcome")
        shown = rows.assign(
            mean=[entry.format(v) for v in rows["mean"]],
            spread_low=[entry.format(v) for v in rows["spread_low"]],
            spread_high=[entry.format(v) for v in rows["spread_high"]],
            mean_ci_low=[entry.format(v) for v in rows["mean_ci_low"]],
            mean_ci_high=[entry.format(v) for v in rows["mean_ci_high"]],
            se=[entry.format_difference(v, signed=False) for v in rows["se"]],
        )
        report.table(shown)
    report.write(paths[2])
    return table, paths


def comparison_table(
    table: pd.DataFrame, outcomes: list[str] | None = None, caption: str | None = None
) -> Table:
    """The :func:`comparison` as ``streetlevel compare`` prints it: a row per lever
    combination, a column per outcome shown (:func:`shown_outcomes`) under its label, each
    cell the mean (spread of replications) in the outcome's unit."""
    shown = shown_outcomes(table, outcomes)
    groups = list(table.columns[: list(table.columns).index("outcome")])
    entries = [lookup(name) for name in shown]
    view = Table(*groups, *[e.label for e in entries], caption=caption)
    wide = table.set_index([*groups, "outcome"])
    for key in table.drop_duplicates(groups)[groups].itertuples(index=False):
        cells = []
        for name, entry in zip(shown, entries, strict=True):
            row = wide.loc[(*key, name)]
            spread = entry.format_interval(row["spread_low"], row["spread_high"])
            cells.append(f"{entry.format(row['mean'])} ({spread})")
        view.add_row(*[escape(level_label(k)) for k in key], *cells)
    return view


def print_comparison(
    table: pd.DataFrame,
    outcomes: list[str] | None,
    paths: list[Path],
    console: Console,
) -> None:
    """Print :func:`comparison_table`, with the files :func:`write_comparison` wrote."""
    caption = f"mean ({SPREAD_PERCENTILES}); {', '.join(map(str, paths))}"
    console.print(comparison_table(table, outcomes, caption))
