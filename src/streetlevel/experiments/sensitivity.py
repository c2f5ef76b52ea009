"""Sensitivity analysis of a finished sweep: SALib's Sobol or Morris indices per outcome.

Each point's outcome is its mean over the replications; the indices say how much of the
outcome's variation across the design each factor explains (Sobol: first-order ``S1`` and
total ``ST``, with 95 % bootstrap intervals; Morris: ``mu_star``, the mean absolute
elementary effect, and ``sigma``, its spread, a sign of interactions or non-linearity).
The design must be the matching one (``kind = "sobol"`` or ``"morris"``) and complete: the
estimators need every point, in the design's order.

Replication noise counts as variation the factors do not explain. With
``common_random_numbers = true`` two points that differ only in a factor with no effect give
identical results, and that factor's indices are exactly zero.

Outcomes are shown by their labels (:mod:`streetlevel.output.catalogue`); ``sensitivity.csv``
keeps their names. A design too small for its indices is said so (:func:`design_warnings`):
Sobol's bootstrap intervals wider than :data:`MAX_HALF_WIDTH`, or an index negative beyond its
interval (the indices are shares of variance, never below zero: a negative one is estimation
error), or Morris's ``mu_star`` less than twice its interval's half-width for the factor that
matters most; with the number of base samples or trajectories that would do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from streetlevel.analysis.reports import Report, new_figure, save_png
from streetlevel.errors import ExperimentError
from streetlevel.experiments.design import salib_problem
from streetlevel.experiments.spec import RESERVED_COLUMNS
from streetlevel.experiments.store import frame_table, read_design, read_results, read_spec
from streetlevel.output.catalogue import label
from streetlevel.output.files import write_text_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import Console

__all__ = [
    "MAX_HALF_WIDTH",
    "design_warnings",
    "labelled",
    "print_sensitivity",
    "sensitivity",
    "sensitivity_figure",
    "write_sensitivity",
]

PANEL_WIDTH = 4.0
PANEL_HEIGHT = 0.45
PANELS_PER_ROW = 3
BAR_HEIGHT = 0.38
MAX_HALF_WIDTH = 0.1
"""A Sobol index's 95 % confidence interval may be this wide on either side (a tenth of the indices'
range, 0 to 1) before the design is called too small for it."""
MORRIS_SIGNAL = 2.0
"""The largest ``mu_star`` of an outcome must be this many half-widths of its interval above
zero, or the trajectories are too few to rank the factors."""


def sensitivity(out: str | Path, outcomes: list[str] | None = None) -> pd.DataFrame:
    """One row per outcome and factor with the indices of the experiment's design.

    Sobol: ``S1``, ``S1_conf``, ``ST``, ``ST_conf``. Morris: ``mu_star``, ``mu_star_conf``,
    ``mu``, ``sigma``. An outcome that does not vary (or is undefined at some point) gets
    NaN indices rather than an error.
    """
    from SALib.analyze import morris, sobol

    out = Path(out)
    spec = read_spec(out)
    design = spec.design
    if design.kind not in ("sobol", "morris"):
        raise ExperimentError(
            f"{out}: sensitivity needs a sobol or morris design (design.kind), "
            f"this experiment has {design.kind}"
        )
    factors = [*spec.levers, *spec.uncertainties]
    problem = salib_problem(factors)
    points = read_design(out).sort_values("point")
    results = read_results(out)
    missing = len(points) - results["point"].nunique() if not results.empty else len(points)
    if missing:
        raise ExperimentError(
            f"{out}: {missing} of {len(points)} points have not finished; "
            "run the sweep again to complete it"
        )
    names = [c for c in results.columns if c not in {*RESERVED_COLUMNS, *problem["names"]}]
    chosen = outcomes or names
    unknown = [o for o in chosen if o not in names]
    if unknown:
        raise ExperimentError(f"--outcome: {unknown} are not outcomes of {out}")
    means = results.groupby("point")[chosen].mean().sort_index()
    x = points[[f"x_{f.name}" for f in factors]].to_numpy(dtype=np.float64)
    seed = spec.experiment.seed
    rows: list[dict[str, Any]] = []
    for outcome in chosen:
        y = means[outcome].to_numpy(dtype=np.float64)
        usable = bool(np.all(np.isfinite(y))) and float(np.ptp(y)) > 0
        if design.kind == "sobol":
            keys = ("S1", "S1_conf", "ST", "ST_conf")
            if usable:
                found = sobol.analyze(problem, y, calc_second_order=design.second_order, seed=seed)
        else:
            keys = ("mu_star", "mu_star_conf", "mu", "sigma")
            if usable:
                found = morris.analyze(problem, x, y, num_levels=design.grid_levels, seed=seed)
        for i, name in enumerate(problem["names"]):
            row: dict[str, Any] = {"outcome": outcome, "factor": name}
            for key in keys:
                row[key] = float(np.asarray(found[key])[i]) if usable else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def design_warnings(table: pd.DataFrame, samples: int) -> list[str]:
    """What makes the indices of :func:`sensitivity` untrustworthy, said with what to do.

    ``samples`` is the design's ``samples`` (Sobol: base samples N; Morris: trajectories).
    The half-widths shrink about as 1 / sqrt(N), so the advice scales N by the square of how
    much too wide the widest interval is (to the next power of 2, as Sobol designs need).

    >>> t = pd.DataFrame({"outcome": ["r", "r"], "factor": ["a", "b"], "S1": [0.9, -0.4],
    ...                   "S1_conf": [0.3, 0.2], "ST": [1.0, 0.1], "ST_conf": [0.2, 0.1]})
    >>> print(*design_warnings(t, 16))  # doctest: +NORMALIZE_WHITESPACE
    sensitivity: the design is too small for its indices: 3 of 4 Sobol indices have 95 %
    confidence intervals wider than +-0.1 (the widest +-0.30), and 1 is negative beyond its
    interval (b on r: S1 = -0.40 +- 0.20). Sample more: design.samples = 256 or more (16 now) in the
    experiment file, then sweep again into a new directory.
    """
    if "S1" in table.columns:
        conf = table[["S1_conf", "ST_conf"]].to_numpy(dtype=np.float64).ravel()
        finite = conf[np.isfinite(conf)]
        wide = int(np.sum(finite > MAX_HALF_WIDTH))
        negative = [
            f"{r.factor} on {r.outcome}: {key} = {getattr(r, key):.2f} +- "
            f"{getattr(r, key + '_conf'):.2f}"
            for r in table.itertuples()
            for key in ("S1", "ST")
            if getattr(r, key) + getattr(r, key + "_conf") < 0
        ]
        if not wide and not negative:
            return []
        widest = float(np.max(finite)) if len(finite) else 0.0
        parts = []
        if wide:
            parts.append(
                f"{wide} of {len(conf)} Sobol indices have 95 % confidence intervals wider than "
                f"+-{MAX_HALF_WIDTH:g} (the widest +-{widest:.2f})"
            )
        if negative:
            shown = "; ".join(negative[:3]) + ("; ..." if len(negative) > 3 else "")
            verb = "is" if len(negative) == 1 else "are"
            parts.append(f"{len(negative)} {verb} negative beyond its interval ({shown})")
        factor = max(widest / MAX_HALF_WIDTH, 2.0) ** 2
        wanted = 2 ** math.ceil(math.log2(samples * factor))
        return [
            f"sensitivity: the design is too small for its indices: {', and '.join(parts)}. "
            f"Sample more: design.samples = {wanted} or more ({samples} now) in the "
            "experiment file, then sweep again into a new directory."
        ]
    weak = []
    for outcome, rows in table.groupby("outcome", sort=False):
        top = rows.loc[rows["mu_star"].idxmax()] if rows["mu_star"].notna().any() else None
        if top is not None and top["mu_star"] < MORRIS_SIGNAL * top["mu_star_conf"]:
            weak.append(
                f"{outcome} ({top['factor']}: mu* {top['mu_star']:.3g} +- "
                f"{top['mu_star_conf']:.3g})"
            )
    if not weak:
        return []
    return [
        f"sensitivity: too few trajectories to rank the factors of {len(weak)} outcome(s): "
        f"the largest mu* is within {MORRIS_SIGNAL:g} half-widths of zero ({'; '.join(weak[:3])}). "
        f"Sample more: design.samples = {4 * samples} or more ({samples} now), then sweep "
        "again into a new directory."
    ]


def sensitivity_figure(table: pd.DataFrame) -> Figure:
    """One panel per outcome: total and first-order indices (Sobol) or mu* (Morris)."""
    outcomes = list(dict.fromkeys(table["outcome"]))
    factors = list(dict.fromkeys(table["factor"]))
    cols = min(PANELS_PER_ROW, len(outcomes))
    rows = -(-len(outcomes) // cols)
    fig = new_figure(PANEL_WIDTH * cols + 1.5, max(2.5, rows * (PANEL_HEIGHT * len(factors) + 1.2)))
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    y = np.arange(len(factors))
    sobol = "ST" in table.columns
    for ax, outcome in zip(axes, outcomes, strict=False):
        part = table[table["outcome"] == outcome].set_index("factor").loc[factors]
        if sobol:
            ax.barh(y - BAR_HEIGHT / 2, part["ST"], BAR_HEIGHT, xerr=part["ST_conf"], label="ST")
            ax.barh(y + BAR_HEIGHT / 2, part["S1"], BAR_HEIGHT, xerr=part["S1_conf"], label="S1")
        else:
            ax.barh(y, part["mu_star"], 2 * BAR_HEIGHT, xerr=part["mu_star_conf"], label="mu*")
        ax.set_title(label(outcome), fontsize="small")
        ax.set_yticks(y, factors)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(outcomes) :]:
        ax.set_visible(False)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize="small")
    fig.suptitle("Sobol indices (95 % bootstrap intervals)" if sobol else "Morris mu*")
    return fig


def write_sensitivity(
    out: str | Path, dest: str | Path | None = None, outcomes: list[str] | None = None
) -> tuple[pd.DataFrame, list[Path]]:
    """Write ``sensitivity.csv``, ``sensitivity.png`` and ``sensitivity.html`` into ``dest``
    (default: the experiment directory); returns the table and the files written."""
    out = Path(out)
    dest = Path(dest) if dest is not None else out
    dest.mkdir(parents=True, exist_ok=True)
    table = sensitivity(out, outcomes)
    fig = sensitivity_figure(table)
    paths = [dest / "sensitivity.csv", dest / "sensitivity.png", dest / "sensitivity.html"]
    write_text_atomic(table.to_csv(index=False), paths[0])
    save_png(fig, paths[1])
    spec = read_spec(out)
    report = Report(
        f"Sensitivity: {spec.experiment.name}",
        f"{spec.design.kind} design, {spec.experiment.replications} replications per point; "
        "each point's outcome is its mean over the replications.",
    )
    for warning in design_warnings(table, spec.design.samples or 0):
        report.paragraph(f"Warning: {warning}")
    report.figure(fig, "sensitivity indices per outcome")
    report.table(labelled(table))
    report.write(paths[2])
    return table, paths


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The :func:`sensitivity` table with each outcome's label in place of its name."""
    return table.assign(outcome=[label(o) for o in table["outcome"]])


def print_sensitivity(table: pd.DataFrame, paths: list[Path], console: Console) -> None:
    """What ``streetlevel sensitivity`` prints: the indices, each outcome by its label, and
    the files :func:`write_sensitivity` wrote."""
    console.print(frame_table(labelled(table), caption=", ".join(map(str, paths))))
