"""The files view: a file given with ``--aggregated`` shown as ``streetlevel benchmark``
shows it, a file given with ``--funnel`` as ``streetlevel funnel`` does. The results are
computed at start-up (:mod:`streetlevel.dashboard.files`); this module lays them out.

The benchmark's tables use the catalogue's labels and units, as its report does; a funnel
file's columns mean whatever the user's file means, so they keep plain names, with the
numbers formatted as the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from dash import dcc, html

from streetlevel.analysis.benchmark import ALL, Benchmark
from streetlevel.analysis.benchmark_report import outlier_lines
from streetlevel.analysis.funnel import LEVELS, outside_column
from streetlevel.analysis.funnel_report import summary
from streetlevel.dashboard.files import KIND_LABELS, ServedFile
from streetlevel.dashboard.views import table

__all__ = ["NO_FILE", "aggregated_view", "benchmark_lines", "files_view", "funnel_view"]

NO_FILE = (
    "No file given: start the dashboard with --aggregated FILE (aggregated counts, as "
    "`streetlevel benchmark` reads them) or --funnel FILE (per-unit counts, as "
    "`streetlevel funnel` reads them) to see it here."
)
SCOPE = "benchmark"
IMG_STYLE = {"maxWidth": "100%"}
RATIO_COLUMNS = (
    *("municipality", "region", "category", "denominator", "observed", "expected"),
    *("ratio", "low", "high", "share", "adjusted_share", "outside_95", "outside_998"),
    "outside_998_overdispersed",
)
"""The benchmark report's columns of the risk-adjusted ratios."""
RANKING_COLUMNS = (
    *("region", "rank", "municipality", "category", "denominator", "observed", "rate"),
    *("ratio", "adjusted_rank", "outside_95", "outside_998"),
)


def files_view(files: Sequence[ServedFile]) -> html.Div:
    """The dropdown of the files the dashboard was started with (each one's place in the
    list is what the page sends) and the place of the chosen one's view."""
    options = [
        {"label": f"{f.label} ({KIND_LABELS[f.kind]})", "value": i} for i, f in enumerate(files)
    ]
    return html.Div(
        [
            html.Label("File"),
            dcc.Dropdown(options, 0 if options else None, id="file", clearable=False),
            html.Div(id="file-error"),
            html.Div(id="file-view"),
        ]
    )


def _count(value: float) -> str:
    # A denominator counts people (whole) or recipient-years (fractional).
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _shown(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``frame``'s ``columns`` that it has (all by default), the category left out when
    every row is the whole country (a benchmark not by category), and the denominator,
    which the catalogue does not know (it counts what the file's counts are out of), as a
    count."""
    kept = [c for c in (columns or frame.columns) if c in frame.columns]
    if "category" in kept and (frame["category"] == ALL).all():
        kept.remove("category")
    out = frame[kept]
    if "denominator" in kept:
        out = out.assign(denominator=[_count(v) for v in out["denominator"]])
    return out


def _wide(child: Any) -> html.Div:
    # A table wider than the page scrolls on its own rather than spilling over.
    return html.Div(child, style={"overflowX": "auto"})


def benchmark_lines(result: Benchmark) -> list[str]:
    """What ``streetlevel benchmark`` prints above its table, line by line."""
    return outlier_lines(result)


def aggregated_view(file: ServedFile) -> list[Any]:
    """An aggregated file's benchmark: what ``streetlevel benchmark FILE`` prints and
    writes (the summary, the risk-adjusted ratios, the regional ranking, the country's rate
    in each stratum, the funnel plots, and the ratios over the years)."""
    result = file.benchmark
    adjusted = result.risk_adjusted
    ordered = adjusted.sort_values("ratio", ascending=False)
    ranking = result.ranking.sort_values(["region", "category", "rank"])
    parts: list[Any] = [
        html.H4(
            f"Benchmark {result.year}: {len(adjusted)} units, {result.indicator} in the "
            f"country {result.national_rate:.4g} (observed / denominator, counts of "
            f"{'people' if result.proportion else 'events'})",
            id="file-title",
        ),
        html.Ul([html.Li(line) for line in benchmark_lines(result)], id="file-summary"),
        html.H4("Funnel plot (risk-adjusted)"),
        html.Img(src=file.figure("funnel"), id="file-funnel", style=IMG_STYLE),
        html.H4("Observed / expected, highest first"),
        _wide(table(_shown(ordered, RATIO_COLUMNS), "file-ratios")),
        html.H4(
            f"The regional ranking as published, {result.year}, beside the risk-adjusted ratio"
        ),
        _wide(table(_shown(ranking, RANKING_COLUMNS), "file-ranking")),
        html.H4("The country's rate in each stratum (the expected counts' basis)"),
        table(_shown(result.risk_model), "file-strata"),
        html.H4("What a database shows: the raw shares"),
        html.Img(src=file.figure("raw"), id="file-raw-funnel", style=IMG_STYLE),
    ]
    if result.persistent is not None:
        parts += [
            html.H4("Over the years: units outside the 95 % limits in every year"),
            table(_shown(result.persistent), "file-persistent"),
            html.Img(src=file.figure("years"), id="file-years", style=IMG_STYLE),
        ]
    return parts


def _flag(row: Any) -> str:
    # As `streetlevel funnel` flags a unit: by the limits allowing for over-dispersion.
    if row.outside_998_overdispersed:
        return "99.8 %"
    return "95 %" if row.outside_95_overdispersed else ""


def _yes(value: Any) -> str:
    return "yes" if bool(value) else ""


def funnel_view(file: ServedFile) -> list[Any]:
    """A funnel file's result: what ``streetlevel funnel FILE`` prints (the summary, the
    counts outside the limits, the units with their flag, all of them here), its funnel
    plot, and the table of the units outside any of the limits."""
    result = file.funnel
    units = result.units.sort_values("ratio", ascending=False)
    lines = [summary(result)]
    for level in LEVELS:
        column = outside_column(level)
        lines.append(
            f"outside {100 * level:g} %: {int(units[column].sum())} by chance limits, "
            f"{int(units[column + '_overdispersed'].sum())} allowing for over-dispersion"
        )
    numbers = pd.DataFrame({"unit": units["unit"].astype(str)})
    numbers["observed"] = [f"{v:g}" for v in units["observed"]]
    numbers["expected"] = [f"{v:.4g}" for v in units["expected"]]
    if result.proportion:
        numbers["denominator"] = [f"{v:g}" for v in units["denominator"]]
    numbers["ratio"] = [f"{v:.3f}" for v in units["ratio"]]
    flags = {outside_column(level): f"outside {100 * level:g} %" for level in LEVELS}
    allowing = f", allowing for over-dispersion ({result.adjustment})"
    flags |= {f"{c}_overdispersed": label + allowing for c, label in flags.items()}
    outside = units[list(flags)].any(axis=1).to_numpy()
    marks = pd.DataFrame({label: [_yes(v) for v in units[c]] for c, label in flags.items()})
    listed = pd.concat([numbers, marks.set_axis(numbers.index)], axis=1)[outside]
    every = numbers.assign(flag=[_flag(r) for r in units.itertuples()])
    return [
        html.H4(f"Funnel plot of {file.label}", id="file-title"),
        html.Ul([html.Li(line) for line in lines], id="file-summary"),
        html.Img(src=file.figure("funnel"), id="file-funnel", style=IMG_STYLE),
        html.H4(f"Units outside the limits ({len(listed)} of {len(units)})"),
        _wide(table(listed, "file-outliers", scope=None))
        if len(listed)
        else html.P("No unit is outside the limits.", id="file-outliers"),
        html.H4("Every unit, highest ratio first (flag: allowing for over-dispersion)"),
        table(every, "file-units", scope=None),
    ]
