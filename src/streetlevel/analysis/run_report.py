"""A run's report: one self-contained HTML file (``streetlevel report RUN_DIR``, or
``streetlevel run --report``) with the summary table and its figures: the sanction rates over
the years (the country's and each category's), by category, and by municipality.

Every number comes from the run's own summary (:func:`streetlevel.output.summary.summarize`,
the table ``run`` prints) or, for the municipalities not in it, from the municipality-years
table, each municipality's sanction rate averaged over the reporting years and the
replications; the report is written with :class:`~streetlevel.analysis.reports.Report`
(figures embedded as PNG, nothing fetched), in the catalogue's labels and units.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streetlevel.analysis.reports import Report, new_figure
from streetlevel.output.catalogue import MEAN_CI, SPREAD_PERCENTILES, lookup
from streetlevel.output.municipality_summary import labelled, municipality_summary
from streetlevel.output.summary import Summary, complete_manifest, summarize, summary_notes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["REPORT", "run_report", "write_run_report"]

REPORT = "report.html"
"""The report's file name in the run directory (the default)."""
YEARLY = re.compile(r"(?P<series>.+)_(?P<year>\d{4})$")
"""A yearly indicator of the summary: ``national_sanction_rate_2011``."""
SERIES = re.compile(r"national_sanction_rate|sanction_rate_category_\d+")
"""The yearly series drawn over the years: the country's rate and each category's."""
BAND_ALPHA = 0.2
AXIS = f"sanction rate ({lookup('national_sanction_rate').unit.symbol})"
"""The rate axis of every figure: shares in %, as the catalogue shows them."""


def run_report(run_dir: Path | str) -> Report:
    """The report of the finished run in ``run_dir``."""
    run_dir = Path(run_dir)
    complete_manifest(run_dir)
    summary = summarize(run_dir)
    report = Report(
        f"Run of {summary.scenario}",
        f"{summary.replications} replications, seed {summary.seed}; means with the "
        f"{SPREAD_PERCENTILES} and the {MEAN_CI}. Run directory: {run_dir}",
    )
    frame = summary.to_frame()
    overall = frame[~frame["name"].str.match(YEARLY.pattern)]
    report.heading("Summary")
    for note in summary_notes(summary):
        report.paragraph(f"{note[0].upper()}{note[1:]}.")
    report.table(
        overall[["label", "mean_shown", "spread_shown", "mean_ci_shown", "name"]].rename(
            columns={
                "mean_shown": "mean",
                "spread_shown": SPREAD_PERCENTILES,
                "mean_ci_shown": MEAN_CI,
            }
        )
    )
    report.heading("Sanction rates over the years")
    report.figure(years_figure(summary), "sanction rates over the years")
    report.heading("Sanction rates by category")
    report.figure(category_figure(summary), "sanction rates by category")
    report.heading("Sanction rates by municipality")
    try:
        national: float | None = summary.get("national_sanction_rate").mean
    except KeyError:
        national = None
    by_municipality = municipality_summary(run_dir)
    report.figure(municipality_figure(by_municipality, national), "sanction rates by municipality")
    report.paragraph(
        "Each municipality's sanction rate, averaged over the reporting years and the "
        "replications, from its municipality-years table; the dashed line is the country's. "
        "The table (also `streetlevel summary RUN --by municipality`) gives each one's "
        "figures, counts per year."
    )
    report.table(labelled(by_municipality))
    return report


def write_run_report(run_dir: Path | str, path: Path | str | None = None) -> Path:
    """Write the report of ``run_dir`` to ``path`` (default: RUN_DIR/report.html)."""
    target = Path(path) if path is not None else Path(run_dir) / REPORT
    run_report(run_dir).write(target)
    return target


def years_figure(summary: Summary) -> Figure:
    """The yearly rates of the summary (country, each category): means, with the spread of
    replications as a band."""
    series: dict[str, list[tuple[int, float, float, float]]] = {}
    for ind in summary.indicators:
        found = YEARLY.match(ind.name)
        if found and SERIES.fullmatch(found["series"]):
            series.setdefault(found["series"], []).append(
                (int(found["year"]), ind.mean, ind.low, ind.high)
            )
    fig = new_figure(8.0, 4.5)
    ax = fig.subplots()
    labels = {ind.name: ind.label for ind in summary.indicators if ind.label}
    for name, points in series.items():
        entry = lookup(name)
        years, mean, low, high = (np.array(v, dtype=np.float64) for v in zip(*points, strict=True))
        label = labels.get(name, entry.label)
        (line,) = ax.plot(years, entry.scaled(mean), marker="o", label=label)
        ax.fill_between(
            years, entry.scaled(low), entry.scaled(high), color=line.get_color(), alpha=BAND_ALPHA
        )
    ax.set_xlabel("year")
    ax.set_ylabel(AXIS)
    ax.set_title(f"mean, band: {SPREAD_PERCENTILES}", fontsize="medium")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    return fig


def category_figure(summary: Summary) -> Figure:
    """The country's and each category's rate over the reporting years: means, with the
    spread of replications."""
    shown = [
        ind
        for ind in summary.indicators
        if SERIES.fullmatch(ind.name) and not YEARLY.match(ind.name)
    ]
    fig = new_figure(8.0, 0.5 * len(shown) + 1.5)
    ax = fig.subplots()
    y = np.arange(len(shown))
    means = np.array([lookup(i.name).scaled(i.mean) for i in shown], dtype=np.float64)
    lows = np.array([lookup(i.name).scaled(i.low) for i in shown], dtype=np.float64)
    highs = np.array([lookup(i.name).scaled(i.high) for i in shown], dtype=np.float64)
    ax.barh(y, means, xerr=[means - lows, highs - means], capsize=3)
    ax.set_yticks(y, [i.label or lookup(i.name).label for i in shown])
    ax.invert_yaxis()
    ax.set_xlabel(AXIS)
    ax.set_title(f"mean; error bars: {SPREAD_PERCENTILES}", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    return fig


def municipality_figure(by_municipality: pd.DataFrame, national: float | None = None) -> Figure:
    """Every municipality's sanction rate (reporting years and replications pooled by mean:
    :func:`~streetlevel.output.municipality_summary.municipality_summary`), sorted, against
    the country's rate ``national`` where given."""
    rates = by_municipality.set_index("municipality")["sanction_rate"].sort_values()
    entry = lookup("national_sanction_rate")
    fig = new_figure(8.0, max(3.0, 0.18 * len(rates) + 1.5))
    ax = fig.subplots()
    y = np.arange(len(rates))
    ax.barh(y, entry.scaled(rates.to_numpy(dtype=np.float64)))
    ax.set_yticks(y, [str(m) for m in rates.index], fontsize="x-small")
    if national is not None and not np.isnan(national):
        ax.axvline(entry.scaled(national), linestyle="--", color="black")
    ax.set_xlabel(AXIS)
    ax.grid(axis="x", alpha=0.3)
    return fig
