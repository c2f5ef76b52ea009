"""A decomposition rendered: the table and lines ``streetlevel explain`` prints, its JSON, the
bar figure and the files ``--out`` writes (the result itself is computed in
:mod:`streetlevel.analysis.explain`). Labels and units are the catalogue's
(:mod:`streetlevel.output.catalogue`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.explain import CHANCE, GROUPS, Explanation
from streetlevel.analysis.reports import new_figure, save_png
from streetlevel.errors import StreetlevelError
from streetlevel.output.catalogue import lookup
from streetlevel.output.files import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import Console

__all__ = [
    "FACTOR_LABELS",
    "FILES",
    "explanation_figure",
    "explanation_json",
    "print_explanation",
    "write_explanation",
]

FACTOR_LABELS = {
    "organisation": "organisation (route, norm after pressure, office culture)",
    "client_mix": "client mix (expected rate of its inflow)",
    "caseworkers": "caseworkers drawn (their mean strictness)",
    CHANCE: "chance (unexplained: 1 - R²)",
}
"""How each factor group is named in the table and the figure."""
FILES = ("explain.json", "explain.png", "explain_municipalities.csv")
"""What ``--out`` writes."""
CSV_FLOAT_FORMAT = "%.6g"
FIGURE_SIZE = (9.0, 4.0)
BAR_HEIGHT = 0.38
COLOURS = {"explained_shapley": "#34495e", "explained_sequential": "#95a5a6"}
STABLE_COLOURS = ("#2e86c1", "#d5d8dc")
METHOD = (
    "Shapley decomposition of the R² of a weighted least-squares regression of the logit "
    "municipal sanction rate (clipped to [0.5/n, 1 - 0.5/n], n: recipients) on the three "
    "groups, over municipality x replication rows weighted by recipient-years; sequential "
    "shares in the order organisation, client mix, caseworkers."
)


def _finite(value: Any) -> Any:
    """None for a value that was not measured (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def explanation_json(result: Explanation) -> str:
    """The decomposition as JSON (``--json``; ``explain.json`` holds the same)."""
    data = {k: _finite(v) for k, v in result.to_dict().items()}
    data["method"] = METHOD
    return json.dumps(data, indent=2, sort_keys=True)


def _years(result: Explanation) -> str:
    first, last = result.years[0], result.years[-1]
    return f"{first}" if first == last else f"{first}-{last}"


def _route(result: Explanation) -> str:
    return "" if result.route is None else f" (absence route: {result.route})"


def _scope(result: Explanation) -> str:
    """What the decomposition was measured on: municipalities, replications, years."""
    return (
        f"{result.municipalities} municipalities{_route(result)} x "
        f"{result.replications} replications, {_years(result)}"
    )


def _rows() -> list[str]:
    return [*GROUPS, CHANCE]


def _share(result: Explanation, group: str, kind: str) -> float:
    if group == CHANCE:
        return result.chance
    return (result.shapley if kind == "explained_shapley" else result.sequential)[group]


def print_explanation(result: Explanation, console: Console, out: Path | None = None) -> None:
    """What ``streetlevel explain`` prints: the shares of each factor, the stable share, and
    what the run was measured on."""
    console.print(
        f"[bold]Why municipalities differ[/]: {escape(result.source)}, {escape(_scope(result))}",
        highlight=False,
    )
    shapley, seq = lookup("explained_shapley"), lookup("explained_sequential")
    table = Table(caption=escape(METHOD))
    table.add_column("factor")
    table.add_column(shapley.label, justify="right")
    table.add_column(seq.label, justify="right")
    for group in _rows():
        if group == CHANCE:
            table.add_section()
        table.add_row(
            FACTOR_LABELS[group],
            shapley.format(_share(result, group, "explained_shapley")),
            seq.format(_share(result, group, "explained_sequential")),
        )
    console.print(table)
    lines = [f"{lookup('explained_r_squared').label}: "
             f"{lookup('explained_r_squared').format(result.r_squared)}"]  # fmt: skip
    if result.stable["stable_share"] is not None:
        for name in ("stable_share", "stable_share_logit", "municipal_rate_between_sd",
                     "municipal_rate_within_sd"):  # fmt: skip
            entry = lookup(name)
            # A standard deviation, shown in points without the sign of a difference.
            shown = entry.unit.format(result.stable[name], entry.entry.digits, signed=False)
            lines.append(f"{entry.label}: {shown}")
    lines += [escape(note) for note in result.notes]
    if out is not None:
        lines.append(f"{', '.join(FILES)} in {escape(str(out))}")
    console.print("\n".join(lines), highlight=False)


def explanation_figure(result: Explanation) -> Figure:
    """Bars of each factor's share (Shapley and sequential) and, with 2 replications or
    more, the stable share of the variance of municipal rates."""
    fig = new_figure(*FIGURE_SIZE)
    stable = result.stable["stable_share"]
    if stable is None:
        ax = fig.subplots()
    else:
        ax, ax_stable = fig.subplots(1, 2, width_ratios=[3, 1])
    rows = _rows()
    y = np.arange(len(rows))
    for i, kind in enumerate(COLOURS):
        entry = lookup(kind)
        values = [entry.scaled(_share(result, g, kind)) for g in rows]
        ax.barh(y + (i - 0.5) * BAR_HEIGHT, values, BAR_HEIGHT, color=COLOURS[kind],
                label=entry.label)  # fmt: skip
    ax.set_yticks(y, [FACTOR_LABELS[g] for g in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"share of the variance of the logit municipal rate ({lookup(kind).unit.symbol})")
    # Above the bars, where it hides none of them.
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    fig.suptitle(_scope(result), fontsize=10)
    if stable is not None:
        entry = lookup("stable_share")
        ax_stable.bar([0], [entry.scaled(stable)], color=STABLE_COLOURS[0], label="stable")
        ax_stable.bar([0], [entry.scaled(1.0 - stable)], bottom=[entry.scaled(stable)],
                      color=STABLE_COLOURS[1], label="varies across replications")  # fmt: skip
        ax_stable.set_xticks([])
        ax_stable.set_ylabel(entry.axis_label, fontsize=8)
        ax_stable.set_ylim(0, entry.scaled(1.0))
        ax_stable.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0))
    return fig


def write_explanation(result: Explanation, out: Path | str) -> list[Path]:
    """Write ``explain.json``, ``explain.png`` and the per-municipality means
    (``explain_municipalities.csv``) into ``out``, each atomically; returns the paths."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StreetlevelError(f"{out}: cannot create the output directory: {err}") from None
    paths = [out / name for name in FILES]
    write_json_atomic(json.loads(explanation_json(result)), paths[0])
    save_png(explanation_figure(result), paths[1])
    csv = result.municipal_means.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)
    write_text_atomic(csv, paths[2])
    return paths
