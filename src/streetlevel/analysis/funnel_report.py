"""``streetlevel funnel``: a user's per-unit file read (:func:`read_units`), judged by the
generic funnel (:func:`streetlevel.analysis.outliers.funnel`), and rendered: the table it
prints, the CSV, the PNG and the self-contained HTML report it writes.

Rows of the same unit are summed first, as FunnelPlotR does, so a file may hold one row per
unit or per record (a patient, a client-year) with its observed and expected count.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.funnel import LEVELS, outside_column
from streetlevel.analysis.outliers import Funnel, control_limits
from streetlevel.analysis.reports import Report, label_points, log_count_axis, new_figure, save_png
from streetlevel.errors import StreetlevelError
from streetlevel.output.files import write_text_atomic
from streetlevel.scenario.tables import CellProblems, check_columns, read_user_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import Console

__all__ = ["FunnelDataError", "figure", "print_funnel", "read_units", "summary", "write_funnel"]

CURVE_POINTS = 200
PRINTED = 10
"""Units printed at each end of the ratios (all are in the CSV and the report)."""
CSV_FLOAT_FORMAT = "%.6g"


class FunnelDataError(StreetlevelError):
    """A per-unit file for ``streetlevel funnel`` with a missing column or a bad cell."""


def read_units(
    path: Path | str,
    unit: str,
    observed: str,
    expected: str,
    denominator: str | None = None,
    *,
    delimiter: str | None = None,
) -> pd.DataFrame:
    """The file's units: unit, observed, expected (and denominator), rows of a unit summed.

    Raises:
        FunnelDataError: a missing column, a non-numeric or negative cell (named by row, line
            and column), a unit with nothing expected, or observed above the denominator.
    """
    table = read_user_table(path, FunnelDataError, delimiter=delimiter)
    wanted = [unit, observed, expected, *([denominator] if denominator else [])]
    hint = "; name the columns with --unit, --observed, --expected, --denominator"
    check_columns(
        table.columns, wanted, [], table.origin, FunnelDataError, unknown_allowed=True, hint=hint
    )
    raw = table.frame
    if len(raw) == 0:
        raise FunnelDataError(f"{table.origin}: no data rows")
    problems = CellProblems(table)
    names = raw[unit].astype("string").str.strip()
    problems.add(np.flatnonzero((names.isna() | (names == "")).to_numpy()), unit, "missing value")
    out = pd.DataFrame({"unit": names.fillna("").astype(object)})
    comma = table.delimiter == ";"
    for column, target in [(observed, "observed"), (expected, "expected"),
                           *([(denominator, "denominator")] if denominator else [])]:  # fmt: skip
        text = raw[column].astype("string").str.strip()
        if comma:
            text = text.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
        values = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        absent = text.isna().to_numpy()
        problems.add(np.flatnonzero(absent), column, "missing value")
        for row in np.flatnonzero((np.isnan(values) & ~absent) | np.isinf(values)):
            problems.add([row], column, f"{raw[column].iloc[row]!r} is not a number")
        for row in np.flatnonzero(np.isfinite(values) & (values < 0)):
            problems.add([row], column, f"{raw[column].iloc[row]} is negative (a count)")
        out[target] = values
    problems.raise_if_any(FunnelDataError)
    units = out.groupby("unit", sort=False).sum().reset_index()
    empty = units[units["expected"] <= 0]
    if len(empty):
        raise FunnelDataError(
            f"{table.origin}: column {expected!r}: nothing expected for unit(s) "
            f"{', '.join(repr(u) for u in empty['unit'][:PRINTED])} (a ratio needs E > 0)"
        )
    if denominator:
        above = units[units["observed"] > units["denominator"]]
        if len(above):
            raise FunnelDataError(
                f"{table.origin}: column {observed!r}: above the denominator "
                f"({denominator!r}) for unit(s) "
                + ", ".join(repr(u) for u in above["unit"][:PRINTED])
            )
    return units


def figure(result: Funnel, title: str = "Funnel plot") -> Figure:
    """Observed / expected against the expected count, the chance limits at 95 % and 99.8 %
    and the limits that allow for over-dispersion (dotted), drawn for a unit of the typical
    size ratio ``denominator / expected``."""
    units = result.units
    e = units["expected"].to_numpy(np.float64)
    fig = new_figure(8.5, 5.0)
    ax = fig.subplots()
    grid = np.geomspace(max(float(e.min()), 1.0) * 0.8, float(e.max()) * 1.25, CURVE_POINTS)
    n = None
    if result.proportion:
        size = float(units["denominator"].sum() / units["expected"].sum())
        n = np.maximum(np.round(grid * size), 1.0)
    for level, style in zip(LEVELS, ("--", "-"), strict=True):
        low, high = control_limits(grid, level, n)
        ax.plot(grid, low, style, color="#34495e", linewidth=0.9, label=f"{100 * level:g} % limits")
        ax.plot(grid, high, style, color="#34495e", linewidth=0.9)
        if result.adjustment != "none":
            low, high = control_limits(
                grid, level, n, dispersion=result.dispersion, adjustment=result.adjustment
            )
            label = f"{100 * level:g} %, {result.adjustment} over-dispersion"
            ax.plot(grid, low, ":", color="#c0392b", linewidth=1.1, label=label)
            ax.plot(grid, high, ":", color="#c0392b", linewidth=1.1)
    ratio = units["ratio"].to_numpy(np.float64)
    flagged = units[f"{outside_column(LEVELS[1])}_overdispersed"].to_numpy(bool)
    ax.scatter(e[~flagged], ratio[~flagged], s=18, color="#8c8c8c", label="inside", zorder=3)
    label = f"outside 99.8 % (allowing for over-dispersion): {int(flagged.sum())}"
    ax.scatter(e[flagged], ratio[flagged], s=22, color="#c0392b", zorder=3, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    log_count_axis(ax)
    named = np.flatnonzero(flagged)
    label_points(ax, e[named], ratio[named], units["unit"].iloc[named].astype(str).tolist())
    ax.set_xlabel("expected count")
    ax.set_ylabel("observed / expected")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def summary(result: Funnel) -> str:
    """The line ``streetlevel funnel`` prints first: the units, their kind, the over-dispersion
    estimated and the adjustment allowed for."""
    d = result.dispersion
    how = "chosen from the data" if result.chosen else "as asked"
    kind = "proportions (binomial limits)" if result.proportion else "ratios (exact Poisson limits)"
    return (
        f"{len(result.units)} units, {kind}; "
        f"over-dispersion ({d.method}): phi {d.phi:.3g}, tau2 {d.tau2:.3g}; "
        f"adjustment {result.adjustment} ({how})"
    )  # fmt: skip


def write_funnel(result: Funnel, out: Path | str, source: str = "") -> list[Path]:
    """Write ``funnel.csv``, ``funnel.png`` and ``report.html`` into ``out`` (atomically)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StreetlevelError(f"{out}: cannot create the output directory: {err}") from None
    write_text_atomic(
        result.units.to_csv(index=False, float_format=CSV_FLOAT_FORMAT), out / "funnel.csv"
    )
    save_png(figure(result), out / "funnel.png")
    rep = Report("Funnel plot", f"{source}: {summary(result)}.")
    rep.paragraph(
        "Control limits at 95 % and 99.8 % (Spiegelhalter 2005): binomial quantiles with a "
        "denominator, exact Poisson ones without. Over-dispersion as in FunnelPlotR: phi the "
        "mean squared z-score after the extremes are pulled in (10 % at each end), tau2 the "
        "additive variance between units (DerSimonian-Laird)."
    )
    rep.figure(figure(result), "funnel plot")
    rep.table(result.units.sort_values("ratio", ascending=False))
    rep.write(out / "report.html")
    return [out / "funnel.csv", out / "funnel.png", out / "report.html"]


def print_funnel(result: Funnel, console: Console, out: Path | None = None) -> None:
    """What ``streetlevel funnel`` prints: the summary and the most extreme units."""
    console.print(escape(summary(result)), highlight=False)
    for level in LEVELS:
        column = outside_column(level)
        console.print(
            f"outside {100 * level:g} %: {int(result.units[column].sum())} by chance limits, "
            f"{int(result.units[column + '_overdispersed'].sum())} allowing for over-dispersion",
            highlight=False,
        )
    caption = f"funnel.csv, funnel.png and report.html in {out}" if out else None
    table = Table("unit", "observed", "expected", "ratio", "flag", caption=caption)
    ordered = result.units.sort_values("ratio", ascending=False)
    shown = ordered if len(ordered) <= 2 * PRINTED else pd.concat(
        [ordered.head(PRINTED), ordered.tail(PRINTED)]
    )  # fmt: skip
    for row in shown.itertuples():
        flag = ("99.8 %" if row.outside_998_overdispersed
                else "95 %" if row.outside_95_overdispersed else "")  # fmt: skip
        table.add_row(escape(str(row.unit)), f"{row.observed:g}", f"{row.expected:.4g}",
                      f"{row.ratio:.3f}", flag)  # fmt: skip
    console.print(table)
