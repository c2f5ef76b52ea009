"""Policy comparison: each outcome per lever combination, across replications.

For every combination of the levers' levels found in the results, and every outcome, the
mean over the replications (and over the uncertainties' points, when the experiment has
uncertainties: a policy is judged across what we do not know) and the 95 % interval in which
one replication's figure falls (2.5 and 97.5 percentiles, as in ``streetlevel run``'s
summary), with the standard error of the mean. Reads the results store only, so it can be
run while a sweep is still going (on the points finished so far).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from streetlevel.analysis.reports import Report, new_figure, save_png
from streetlevel.errors import ExperimentError
from streetlevel.experiments.spec import RESERVED_COLUMNS
from streetlevel.experiments.store import read_results, read_spec
from streetlevel.output.files import write_text_atomic
from streetlevel.output.summary import interval

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_FIGURE_OUTCOMES",
    "comparison",
    "comparison_figure",
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
    """One row per lever combination and outcome: ``mean``, ``low``, ``high`` (95 % of
    replications), ``se`` (standard error of the mean) and ``n`` (replications).

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
            present = values[~np.isnan(values)]
            se = float(present.std(ddof=1) / np.sqrt(len(present))) if len(present) > 1 else np.nan
            rows.append(
                {
                    **dict(zip(groups, labels, strict=True)),
                    "outcome": outcome,
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "se": round(se, 12),
                    "n": len(present),
                }
            )
    return pd.DataFrame(rows)


def comparison_figure(table: pd.DataFrame, outcomes: list[str]) -> Figure:
    """One panel per outcome: each lever combination's mean with its 95 % interval."""
    groups = list(table.columns[: list(table.columns).index("outcome")])
    combos = table.drop_duplicates(groups)[groups]
    labels = [" / ".join(str(v) for v in row) for row in combos.itertuples(index=False)]
    fig = new_figure(
        PANEL_WIDTH * len(outcomes) + 2.0, max(MIN_HEIGHT, ROW_HEIGHT * len(labels) + 1.2)
    )
    axes = fig.subplots(1, len(outcomes), sharey=True, squeeze=False)[0]
    y = np.arange(len(labels))
    for ax, outcome in zip(axes, outcomes, strict=True):
        rows = combos.merge(table[table["outcome"] == outcome], on=groups, how="left")
        mean = rows["mean"].to_numpy(dtype=np.float64)
        err = np.vstack([mean - rows["low"].to_numpy(), rows["high"].to_numpy() - mean])
        ax.errorbar(mean, y, xerr=err, fmt="o", capsize=3)
        ax.set_title(outcome)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    axes[0].set_ylabel(" / ".join(groups))
    fig.suptitle("mean and 95 % interval across replications")
    return fig


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
        f"{spec.experiment.description} Mean and 95 % interval across replications.",
    )
    report.figure(fig, "outcomes per lever combination")
    for outcome in dict.fromkeys(table["outcome"]):
        report.heading(str(outcome))
        report.table(table[table["outcome"] == outcome].drop(columns="outcome"))
    report.write(paths[2])
    return table, paths
