"""A benchmark rendered: figures, the HTML report, the files ``streetlevel benchmark`` writes
and the summary it prints (the result itself is computed in
:mod:`streetlevel.analysis.benchmark`). Labels and units are the catalogue's
(:mod:`streetlevel.output.catalogue`, scope ``benchmark``).

Two funnel plots: the raw share of recipients sanctioned against recipients (the person-based
form of the rate a database's users compare),
and the risk-adjusted ratio against the expected count (the fair comparison), each with the
95 % and 99.8 % control limits of :mod:`streetlevel.analysis.funnel`. The limits are drawn for the
country's rate; each municipality is flagged against its own binomial, which for an unusual
client mix can differ from the drawn curve by a hair.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.ticker import PercentFormatter
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.benchmark import ALL, Benchmark
from streetlevel.analysis.funnel import LEVELS, outside_column
from streetlevel.analysis.outliers import control_limits
from streetlevel.analysis.overdispersion import Dispersion
from streetlevel.analysis.reports import Report, label_points, log_count_axis, new_figure, save_png
from streetlevel.errors import StreetlevelError
from streetlevel.output.catalogue import find, lookup
from streetlevel.output.files import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from rich.console import Console

__all__ = [
    "funnel_figure",
    "labelled_table",
    "outlier_lines",
    "print_benchmark",
    "raw_funnel_figure",
    "raw_outside",
    "report",
    "write_benchmark",
]

LABELLED = 4
"""Municipalities named on a funnel plot at each end: the most extreme outside 99.8 %."""
CURVE_POINTS = 200
PANEL_COLUMNS = 1
"""Panels (one per category compared) are stacked, each with its legend beside it."""
PANEL_SIZE = (8.5, 4.5)
COLOURS = {"inside": "#8c8c8c", "95": "#e69f00", "998": "#c0392b"}
LINES = {LEVELS[0]: "--", LEVELS[1]: "-"}
Float = npt.NDArray[np.float64]
SHOWN = 10
"""Rows of the highest and lowest ratios shown in the report's summary table."""
PRINTED = 5
"""Municipalities printed at each end of the ratios (all are in the report)."""
SCOPE = "benchmark"
"""The catalogue's scope of a benchmark's columns."""


def _panels(count: int) -> tuple[Figure, list[Axes]]:
    columns = min(count, PANEL_COLUMNS)
    rows = -(-count // columns)
    fig = new_figure(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        extra.set_visible(False)
    return fig, axes[:count]


def _draw(
    ax: Axes,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    outside: dict[float, npt.NDArray[np.bool_]],
    names: list[str],
    z: npt.NDArray[np.float64],
    curve: tuple[Float, dict[float, tuple[Float, Float]]],
    target: float,
    named: npt.NDArray[np.bool_] | None = None,
) -> None:
    """One funnel; ``named`` are the points labelled (default: the most extreme outside
    99.8 %, :data:`LABELLED` at each end)."""
    grid, limits = curve
    ax.axhline(target, color="black", linewidth=0.8)
    for level, (low, high) in limits.items():
        style = LINES[level]
        label = f"{100 * level:g} % limits"
        ax.plot(grid, low, style, color="#34495e", linewidth=0.9, label=label)
        ax.plot(grid, high, style, color="#34495e", linewidth=0.9)
    beyond95, beyond998 = outside[LEVELS[0]], outside[LEVELS[1]]
    groups = (
        (~beyond95, COLOURS["inside"], "inside"),
        (beyond95 & ~beyond998, COLOURS["95"], "outside 95 %"),
        (beyond998, COLOURS["998"], "outside 99.8 %"),
    )
    for mask, colour, label in groups:
        ax.scatter(x[mask], y[mask], s=18, color=colour, label=f"{label} ({mask.sum()})", zorder=3)
    if named is None:
        order = np.argsort(np.nan_to_num(z))
        flagged = [i for i in order if beyond998[i]]
        labelled = sorted(set(flagged[:LABELLED]) | set(flagged[-LABELLED:]))
    else:
        labelled = np.flatnonzero(named).tolist()
    log_count_axis(ax)
    label_points(ax, x[labelled], y[labelled], [names[i] for i in labelled])
    _legend(ax)


def _legend(ax: Axes) -> None:
    # Beside the panel, where it hides no municipality.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _curve(
    x_min: float, x_max: float, rate: float, per: str, proportion: bool = True
) -> tuple[Float, dict[float, tuple[Float, Float]]]:
    """Control limits of the ratio for a unit at the country's ``rate``, along x = expected
    count (``per="expected"``) or recipients (``per="recipients"``): binomial for people out
    of a denominator, Poisson for events."""
    grid = np.geomspace(max(x_min, 1.0) * 0.8, x_max * 1.25, CURVE_POINTS)
    recipients = np.maximum(np.round(grid / rate if per == "expected" else grid), 1.0)
    expected = recipients * rate
    x = np.asarray(expected if per == "expected" else recipients, dtype=np.float64)
    limits = {
        level: control_limits(expected, level, recipients if proportion else None)
        for level in LEVELS
    }
    if per == "recipients":
        limits = {k: (low * rate, high * rate) for k, (low, high) in limits.items()}
    return x, limits


def _category_rates(result: Benchmark) -> dict[str, float]:
    n = result.denominator
    totals = result.risk_adjusted.groupby("category")[["observed", n]].sum()
    return {str(k): float(v) for k, v in (totals["observed"] / totals[n]).items()}


def funnel_figure(result: Benchmark) -> Figure:
    """Observed / expected against the expected count, one panel per category compared; the
    dotted curves allow for the spread between municipalities as well as chance, and the
    municipalities beyond them are ringed."""
    rates = _category_rates(result)
    fig, axes = _panels(len(rates))
    for ax, (category, rate) in zip(axes, rates.items(), strict=True):
        rows = result.risk_adjusted[result.risk_adjusted["category"] == category]
        x = rows["expected"].to_numpy(dtype=np.float64)
        y = rows["ratio"].to_numpy(dtype=np.float64)
        curve = _curve(float(x.min()), float(x.max()), rate, "expected", result.proportion)
        tau2 = float(rows["between_sd"].iloc[0]) ** 2
        ringed = rows[f"{outside_column(LEVELS[1])}_overdispersed"].to_numpy()
        _draw(
            ax,
            x,
            y,
            {level: rows[outside_column(level)].to_numpy() for level in LEVELS},
            rows["municipality"].tolist(),
            rows["z"].to_numpy(dtype=np.float64),
            curve,
            1.0,
            ringed if tau2 > 0 else None,
        )
        if tau2 > 0:
            grid = curve[0]
            spread = Dispersion(
                "proportion" if result.proportion else "shmi",
                result.overdispersion,
                tau2,
                len(rows),
            )
            low, high = control_limits(
                grid, LEVELS[1], np.maximum(np.round(grid / rate), 1.0) if result.proportion
                else None, dispersion=spread, adjustment="additive",
            )  # fmt: skip
            label = "99.8 %, allowing for the spread between municipalities"
            low = np.maximum(low, 0.0)  # a ratio is never negative
            ax.plot(grid, low, ":", color="#34495e", linewidth=1.2, label=label)
            ax.plot(grid, high, ":", color="#34495e", linewidth=1.2)
            ax.scatter(x[ringed], y[ringed], s=60, facecolors="none", edgecolors="black")
            _legend(ax)
        where = "all categories" if category == "all" else f"category {category}"
        ax.set_title(f"Risk-adjusted, {result.year}, {where}", fontsize=10)
        ax.set_xlabel(lookup("expected", SCOPE).axis_label)
        ax.set_ylabel(lookup("ratio", SCOPE).axis_label)
    return fig


def raw_outside(result: Benchmark) -> dict[float, npt.NDArray[np.bool_]]:
    """Which raw shares sanctioned fall outside the limits around the country's (or the
    category's) share."""
    rates = result.risk_adjusted["category"].map(_category_rates(result)).to_numpy()
    n = result.risk_adjusted[result.denominator].to_numpy(dtype=np.float64)
    relative = result.risk_adjusted["share"].to_numpy() / rates
    flags = {}
    for level in LEVELS:
        low, high = control_limits(n * rates, level, n if result.proportion else None)
        flags[level] = (relative < low) | (relative > high)
    return flags


def raw_funnel_figure(result: Benchmark) -> Figure:
    """Raw share sanctioned against recipients: what a database lets its users compare."""
    rates = _category_rates(result)
    flags = raw_outside(result)
    fig, axes = _panels(len(rates))
    for ax, (category, rate) in zip(axes, rates.items(), strict=True):
        mask = (result.risk_adjusted["category"] == category).to_numpy()
        rows = result.risk_adjusted[mask]
        x = rows[result.denominator].to_numpy(dtype=np.float64)
        n = x
        spread = rate * (1 - rate) if result.proportion else rate
        z = (rows["share"].to_numpy() - rate) / np.sqrt(spread / n)
        _draw(
            ax,
            x,
            rows["share"].to_numpy(dtype=np.float64),
            {level: flags[level][mask] for level in LEVELS},
            rows["municipality"].tolist(),
            z,
            _curve(float(x.min()), float(x.max()), rate, "recipients", result.proportion),
            rate,
        )
        where = "all categories" if category == "all" else f"category {category}"
        ax.set_title(f"Raw share sanctioned, {result.year}, {where}", fontsize=10)
        ax.set_xlabel(lookup("recipients", SCOPE).axis_label)
        # The shares are drawn as they are and labelled in per cent, as the tables show them.
        ax.set_ylabel(lookup("share", SCOPE).axis_label)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, symbol=""))
    return fig


def labelled_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A benchmark's table as a report shows it: each column of the catalogue under its
    label, its values in its unit (12.3 %, 1.25); other columns as they are."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        entry = find(str(column), SCOPE)
        if entry is None:
            out[column] = frame[column]
        else:
            out[entry.label] = [entry.format(v) for v in frame[column]]
    return out


def report(result: Benchmark) -> Report:
    """The HTML report: what is published, the risk model, the funnel plots, the outliers."""
    adjusted = result.risk_adjusted
    where = "" if result.replication is None else f", replication {result.replication}"
    measure = (
        f"{result.indicator} in the country {result.national_rate:.4g} (observed / "
        "denominator)" if result.input == "aggregated"
        else f"country sanction rate {lookup('national_rate', SCOPE).format(result.national_rate)}"
        " (per full-year recipient)"
    )  # fmt: skip
    rep = Report(
        f"Benchmark of municipalities, {result.year}",
        f"{result.source}{where}: {len(adjusted)} units compared, {measure}.",
    )
    raw = raw_outside(result)
    rep.heading("What a database shows: raw sanction rates")
    rep.paragraph(
        "A national database such as jobindsats publishes each municipality's sanction rate "
        "(recipients sanctioned at least once in the year per full-year recipient); regional "
        "authorities rank their municipalities by it. Raw rates ignore who the clients are. "
        "In its person-based form (the share of the year's recipients sanctioned), against "
        f"the country's share, {int(raw[LEVELS[0]].sum())} units are outside the 95 % limits "
        f"and {int(raw[LEVELS[1]].sum())} outside the 99.8 % limits before risk adjustment."
    )
    rep.figure(raw_funnel_figure(result), "funnel plot of raw sanction rates")
    rep.heading("Risk adjustment")
    if result.input == "aggregated":
        rep.paragraph(
            f"Indicator {result.indicator}: observed counts of "
            f"{'people' if result.proportion else 'events'} out of {result.denominator} "
            f"({'binomial' if result.proportion else 'Poisson'} limits). Expected counts by "
            "indirect standardisation: the country's rate in each stratum of the file times "
            "the unit's denominator in it, summed over its strata. The country's rates:"
        )
        rep.table(result.risk_model.round(4))
    else:
        _risk_model_section(rep, result)
    _funnel_section(rep, result)
    return rep


def _risk_model_section(rep: Report, result: Benchmark) -> None:
    rep.paragraph(
        "Expected sanctioned recipients come from a logistic regression of 'sanctioned at "
        "least once in the year' on the client's category, age group, sex, education, "
        "minority background, weeks on the caseload this year and length of the spell, "
        "fitted on the whole country and never on the municipality (indirect "
        "standardisation). Observed / expected is 1 for a municipality that sanctions like "
        "the country would with the same clients. Odds ratios of the model (reference: the "
        "first level of each factor):"
    )
    rep.table(result.risk_model.round(3))


def _funnel_section(rep: Report, result: Benchmark) -> None:
    adjusted = result.risk_adjusted
    rep.heading("Funnel plot: who is outside the control limits")
    counts = {level: int(adjusted[outside_column(level)].sum()) for level in LEVELS}
    rep.paragraph(
        f"After risk adjustment, {counts[LEVELS[0]]} of {len(adjusted)} units are outside the "
        f"95 % limits (chance alone puts about {len(adjusted) * (1 - LEVELS[0]):.0f} there) "
        f"and {counts[LEVELS[1]]} outside the 99.8 % limits (chance: about "
        f"{len(adjusted) * (1 - LEVELS[1]):.1f}). Over-dispersion (Spiegelhalter's winsorised "
        f"mean squared z-score, about 0.7 when only chance is at work, as its extremes are "
        "pulled in first): "
        f"{result.overdispersion:.1f}. Limits follow Spiegelhalter (2005); a unit's own 95 % "
        "interval (low, high) is exact Poisson."
    )
    spread = adjusted.groupby("category")["between_sd"].first()
    beyond = adjusted[adjusted[f"{outside_column(LEVELS[1])}_overdispersed"]]
    rep.paragraph(
        "Allowing for the spread of ratios between municipalities beyond chance (standard "
        f"deviation {', '.join(f'{v:.2f}' for v in spread)}; Spiegelhalter's additive random "
        "effects, the dotted curves), these stand out even among municipalities that differ "
        "in practice: "
        + (", ".join(f"{r.municipality} ({r.ratio:.2f})" for r in beyond.itertuples()) or "none")
        + "."
    )
    rep.figure(funnel_figure(result), "funnel plot of risk-adjusted ratios")
    columns = [
        *("municipality", "region", "category", result.denominator, "observed", "expected"),
        *("ratio", "low", "high", "share", "adjusted_share", "outside_95", "outside_998"),
        "outside_998_overdispersed",
    ]
    ordered = adjusted.sort_values("ratio", ascending=False)
    rep.heading(f"The {SHOWN} highest ratios")
    rep.table(labelled_table(ordered[columns].head(SHOWN)))
    rep.heading(f"The {SHOWN} lowest ratios")
    rep.table(labelled_table(ordered[columns].tail(SHOWN).iloc[::-1]))
    rep.heading("The regional ranking as published, beside the risk-adjusted ratio")
    rep.table(labelled_table(result.ranking))
    if result.over_years is not None and result.persistent is not None:
        rep.heading("Over the years")
        rep.paragraph(
            "Each year standardised against that year's country; units outside the 95 % "
            f"limits in every year ({len(result.persistent)}):"
        )
        rep.table(labelled_table(result.persistent))
        rep.figure(years_figure(result), "observed / expected over the years, per unit")


YEARS_PANELS = 4
"""Panels per row of the figure of ratios over the years (one panel per unit)."""


def years_figure(result: Benchmark) -> Figure:
    """Each unit's observed / expected over the years, one small panel per unit (all
    categories compared in it), its points ringed in the years it is outside the 95 %
    limits."""
    yearly = result.over_years
    assert yearly is not None
    units = sorted(yearly["municipality"].unique())
    rows = -(-len(units) // YEARS_PANELS)
    fig = new_figure(2.6 * YEARS_PANELS, 1.9 * rows)
    axes = fig.subplots(rows, YEARS_PANELS, squeeze=False, sharey=True).ravel()
    for ax in axes[len(units) :]:
        ax.set_visible(False)
    for ax, unit in zip(axes, units, strict=False):
        mine = yearly[yearly["municipality"] == unit]
        for _, line in mine.groupby("category"):
            ax.plot(line["year"], line["ratio"], "-o", markersize=3, linewidth=0.9)
            out = line[line["outside_95"]]
            ax.scatter(out["year"], out["ratio"], s=40, facecolors="none", edgecolors="black")
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_title(str(unit), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xticks(sorted(yearly["year"].unique()))
    return fig


CSV_FLOAT_FORMAT = "%.6g"
"""Six significant digits: more than any indicator's sampling precision."""


def write_benchmark(result: Benchmark, out: Path | str) -> list[Path]:
    """Write the tables (CSV), the funnel plots (PNG) and the HTML report into ``out``, each
    atomically; returns the paths written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StreetlevelError(f"{out}: cannot create the output directory: {err}") from None
    written = []
    tables = {
        "indicators.csv": result.indicators,
        "ranking.csv": result.ranking,
        "risk_adjusted.csv": result.risk_adjusted,
        "risk_model.csv": result.risk_model,
    }
    for name, frame in tables.items():
        write_text_atomic(frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT), out / name)
        written.append(out / name)
    if result.over_years is not None and result.persistent is not None:
        for name, frame in (("over_years.csv", result.over_years),
                            ("persistent.csv", result.persistent)):  # fmt: skip
            write_text_atomic(frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT), out / name)
            written.append(out / name)
        save_png(years_figure(result), out / "ratios_over_years.png")
        written.append(out / "ratios_over_years.png")
    save_png(funnel_figure(result), out / "funnel.png")
    save_png(raw_funnel_figure(result), out / "funnel_raw.png")
    report(result).write(out / "report.html")
    write_json_atomic(
        {
            "source": result.source,
            "input": result.input,
            "indicator": result.indicator,
            "year": result.year,
            "replication": result.replication,
            "by_category": result.by_category,
            "national_rate": result.national_rate,
            "overdispersion": result.overdispersion,
            "units": len(result.risk_adjusted),
            "outside_95": int(result.risk_adjusted["outside_95"].sum()),
            "outside_998": int(result.risk_adjusted["outside_998"].sum()),
            "between_sd": sorted(set(result.risk_adjusted["between_sd"].round(6))),
            "outside_998_overdispersed": int(
                result.risk_adjusted["outside_998_overdispersed"].sum()
            ),
        },
        out / "benchmark.json",
    )
    written += [out / n for n in ("funnel.png", "funnel_raw.png", "report.html", "benchmark.json")]
    return written


def outlier_lines(result: Benchmark, quote: Callable[[str], str] = str) -> list[str]:
    """The lines ``streetlevel benchmark`` prints about the units that stand out: those outside
    the limits, the over-dispersion, those outside even allowing for it and (with several
    years) those outside in every year; names passed through ``quote`` (Rich's ``escape`` for
    the console, nothing for a web page)."""
    adjusted = result.risk_adjusted
    lines = []
    for column, level in (("outside_95", "95 %"), ("outside_998", "99.8 %")):
        flagged = adjusted[adjusted[column]]
        above = int((flagged["ratio"] > 1).sum())
        lines.append(
            f"outside the {level} limits after risk adjustment: {len(flagged)} "
            f"({above} above, {len(flagged) - above} below)"
        )
    spread = lookup("overdispersion", SCOPE)
    lines.append(
        f"{spread.label} (winsorised mean squared z-score; chance alone gives about 0.7): "
        f"{spread.format(result.overdispersion)}"
    )
    standing_out = adjusted[adjusted["outside_998_overdispersed"]]
    lines.append(
        "outside the 99.8 % limits allowing for the spread between municipalities: "
        + (", ".join(quote(str(m)) for m in standing_out["municipality"].unique()) or "none")
    )
    if result.persistent is not None:
        lines.append(
            "outside the 95 % limits in every year: "
            + (", ".join(quote(str(m)) for m in result.persistent["municipality"].unique())
               or "none")
        )  # fmt: skip
    return lines


def print_benchmark(result: Benchmark, out: Path | str, console: Console) -> None:
    """What ``streetlevel benchmark`` prints: the units outside the control limits, and the
    :data:`PRINTED` highest and lowest observed / expected ratios beside their published rate
    and rank (the files written to ``out`` have them all)."""
    adjusted = result.risk_adjusted
    rate = lookup("national_rate", SCOPE)
    rep = "" if result.replication is None else f", replication {result.replication}"
    if result.input == "aggregated":
        lines = [f"[bold]Benchmark {result.year}[/]{rep}: {len(adjusted)} units, "
                 f"{escape(result.indicator)} in the country {result.national_rate:.4g} "
                 "(observed / denominator)"]  # fmt: skip
    else:
        lines = [f"[bold]Benchmark {result.year}[/]{rep}: {len(adjusted)} units, sanction rate "
                 f"{rate.format(result.national_rate)} per full-year recipient"]  # fmt: skip
    lines += outlier_lines(result, escape)
    console.print("\n".join(lines), highlight=False)
    ratio, rank, rate = (lookup(name, SCOPE) for name in ("ratio", "rank", "rate"))
    table = Table(
        title=f"The {PRINTED} highest and {PRINTED} lowest {ratio.label} of {len(adjusted)}",
        caption=f"all of them: tables, funnel.png and report.html in {out}",
    )
    for name in ("", "municipality", "region", rate.label, rank.label, ratio.label,
                 "95 % CI", "flag"):  # fmt: skip
        left = name in ("", "municipality", "region")
        table.add_column(name, justify="left" if left else "right")
    published = result.ranking.set_index(["category", "municipality"])
    # "1 of 22": a rank within the region says little without the region's size.
    in_region = result.ranking.groupby(["category", "region"])["municipality"].transform("size")
    sizes = in_region.set_axis(result.ranking.set_index(["category", "municipality"]).index)
    ordered = adjusted.sort_values("ratio", ascending=False)
    for part, rows in enumerate((ordered.head(PRINTED), ordered.tail(PRINTED))):
        if part == 1:
            table.add_section()
        for place, row in enumerate(rows.itertuples()):
            where = str(row.municipality)
            if row.category != ALL:
                where += f" ({row.category})"
            flag = "99.8 %" if row.outside_998 else "95 %" if row.outside_95 else ""
            rank_value, rate_value = published.loc[
                (row.category, row.municipality), ["rank", "rate"]
            ]
            heading = ("highest" if part == 0 else "lowest") if place == 0 else ""
            of = int(sizes.loc[(row.category, row.municipality)])
            table.add_row(
                heading, escape(where), escape(row.region), rate.format(rate_value),
                f"{rank.format(rank_value)} of {of}", ratio.format(row.ratio),
                ratio.format_interval(row.low, row.high), flag,
            )  # fmt: skip
    console.print(table)
