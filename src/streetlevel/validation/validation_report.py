"""How a validation is shown: the four groups ``streetlevel validate`` prints, and the report
it writes (``validation.json``, ``validation.png``, ``validation.html``).

Figures are shown in the units of the catalogue (:mod:`streetlevel.output.catalogue`): a share
in %, a difference of shares and a share's precision in percentage points. Inputs are shown
without a verdict; fitted moments, derived figures and checks each in their own table, and the
headline counts them apart: "k of n fitted moments met, j of m checks met".
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich import box
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.reports import Report, new_figure, save_png
from streetlevel.output.catalogue import MISSING, SPREAD, SPREAD_PREDICTION, Resolved, find, lookup
from streetlevel.output.files import write_json_atomic
from streetlevel.validation.targets import ROLES
from streetlevel.validation.validate import TargetResult, Validation

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "GROUPS",
    "RULE",
    "format_value",
    "print_validation",
    "printed_frame",
    "results_frame",
    "shorten",
    "write_validation_report",
]

REPORT_FILES = ("validation.json", "validation.png", "validation.html")
LABEL_WIDTH = 34
"""Characters per line of a target's label in the figure."""
TARGET_WIDTH = 25
"""Characters per line of a target in the printed tables, two lines at most (its label in
the catalogue where its description is longer, else the description cut with an ellipsis;
the HTML report and --json have it whole): with the figures' columns, a row fits an
80-column terminal."""
INPUT_WIDTH = 50
"""The same for the inputs' table, which has two figures' columns only."""
TARGET_LINES = 2
ELLIPSIS = "…"
GROUPS = {
    "input": "Inputs: read back from the scenario (shown, never counted as met)",
    "fitted": "Fitted moments: the calibration chose parameters to match these",
    "derived": "Derived: follow from fitted moments or from how the model is built",
    "check": "Checks: figures the model could miss",
}
"""The heading of each role's group, in the order of
:data:`~streetlevel.validation.targets.ROLES`."""
RULE = (
    f"A target is met when the published figure lies inside the {SPREAD} of the year it "
    "describes: where one realisation falls, estimated as a 95 % prediction interval, "
    "mean ± q·sqrt(s²(1 + 1/R) + var_param), with s the standard deviation of the R "
    "replications, q Student's t 97.5 % quantile on R − 1 degrees of freedom (fewer "
    "replications widen the interval, never narrow it) and var_param the variance the "
    "calibrated parameters' uncertainty adds; widened by the precision the figure was "
    "published to and the study's sampling error (docs/validation.md). It is not a "
    "confidence interval of the mean, which more replications would narrow."
)
RULE_SHORT = (
    f"verdict: met when the published figure, ± its precision, reaches the {SPREAD_PREDICTION}; "
    "a direction when the whole interval is above it; a range when the mean is inside it "
    "(the rule: the HTML report, docs/validation.md)"
)
"""The rule in one sentence, under the printed tables."""


def format_value(kind: str, value: float) -> str:
    """A figure that is not an indicator of the catalogue (a scenario's parameter, a figure
    not modelled) as people read it: shares in percent, counts with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind in ("share", "positive", "range"):
        return f"{100 * value:.1f} %"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:.2f}"


class _Shown:
    """How a target's figures are shown: in the unit of its indicator in the catalogue, or
    by its kind for a target that is no indicator (an input, a figure not modelled)."""

    def __init__(self, t: TargetResult) -> None:
        self.kind = t.kind
        self.entry: Resolved | None = find(t.name)

    def value(self, value: float) -> str:
        return self.entry.format(value) if self.entry else format_value(self.kind, value)

    def interval(self, low: float, high: float) -> str:
        if self.entry:
            return self.entry.format_interval(low, high)
        ends = [format_value(self.kind, v) for v in (low, high)]
        return "-" if ends == ["-", "-"] else f"{ends[0]} - {ends[1]}"

    def precision(self, value: float) -> str:
        """A precision: a share's in percentage points."""
        if self.entry:
            return self.entry.format_difference(value, signed=False)
        return format_value(self.kind, value)


def _rule(t: TargetResult) -> str:
    if t.role == "input" or t.kind in ("input", "not_modelled"):
        return "-"
    if t.kind == "positive":
        return "interval above 0"
    if t.kind == "above":
        return f"interval above {format_value(t.kind, t.published)}"
    if t.kind == "range":
        return "mean in the published range"
    if t.widening > 0:
        return f"in interval ± {_Shown(t).precision(t.widening)}"
    return "in interval"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "-"}[met]


def results_frame(v: Validation, role: str | None = None) -> pd.DataFrame:
    """The comparison as a table of strings (the CLI and the HTML report show this), of one
    role's targets or of all."""
    rows = []
    for t in v.targets:
        if role is not None and t.role != role:
            continue
        shown = _Shown(t)
        if t.kind == "positive":
            published = "direction: positive"
        elif t.kind == "above":
            published = f"direction: above {format_value(t.kind, t.published)}"
        elif t.published_range is not None:
            published = shown.interval(*t.published_range)
        else:
            published = shown.value(t.published)
        rows.append(
            {
                "target": t.description,
                "role": t.role,
                "year": "-" if t.year is None else str(t.year),
                "published": published,
                "simulated": shown.value(t.simulated),
                SPREAD_PREDICTION: shown.interval(t.low, t.high),
                "rule": _rule(t),
                "verdict": _verdict(t.met),
                "note": t.note,
            }
        )
    return pd.DataFrame(rows)


def shorten(text: str, width: int = TARGET_WIDTH, lines: int = TARGET_LINES) -> str:
    """``text`` in at most ``lines`` lines of ``width``, its end cut with an ellipsis.

    >>> print(shorten("exits to unknown per exit to work, among recipients sanctioned in the "
    ...               "year who leave", 28))
    exits to unknown per exit to
    work, among recipients…
    """
    wrapped = textwrap.wrap(text, width)
    if len(wrapped) <= lines:
        return "\n".join(wrapped)
    rest = " ".join(wrapped[lines - 1 :])
    last = textwrap.shorten(rest, width - len(ELLIPSIS), placeholder="") + ELLIPSIS
    return "\n".join([*wrapped[: lines - 1], last])


def _width(role: str) -> int:
    return INPUT_WIDTH if role == "input" else TARGET_WIDTH


def _short(t: TargetResult) -> str:
    """A target as the printed table names it: its description where that fits in
    :data:`TARGET_LINES` lines, else its label in the catalogue where it is an indicator and
    that fits, else its description shortened."""
    width = _width(t.role)
    for text in (t.description, getattr(find(t.name), "label", "")):
        if text and len(lines := textwrap.wrap(text, width)) <= TARGET_LINES:
            return "\n".join(lines)
    return shorten(t.description, width)


def printed_frame(v: Validation, role: str) -> pd.DataFrame:
    """One role's targets as ``validate`` prints them in a terminal: the target named in two
    lines at most (:func:`_short`), the published figure with the precision it is widened by (or
    the direction or range it is judged by), the simulated mean, its spread of replications
    and the verdict; inputs with the published and simulated figures only."""
    rows = []
    for t, row in zip(
        [t for t in v.targets if t.role == role],
        results_frame(v, role).to_dict("records"),
        strict=True,
    ):
        shown = _Shown(t)
        published = row["published"]
        if t.kind == "positive":
            published = "above 0"
        elif t.kind == "above":
            published = f"above {format_value(t.kind, t.published)}"
        elif t.role != "input" and t.widening > 0 and published != MISSING:
            published = f"{published} ± {shown.precision(t.widening)}"
        printed = {"target": _short(t), "year": row["year"], "published": published}
        if role != "input":
            printed |= {
                "simulated": row["simulated"],
                SPREAD_PREDICTION: row[SPREAD_PREDICTION],
                "verdict": row["verdict"],
            }
        else:
            del printed["year"]
            printed["simulated"] = row["simulated"]
        rows.append(printed)
    return pd.DataFrame(rows)


def _figure(v: Validation) -> Any:
    shares = [
        t
        for t in v.targets
        if t.kind == "share" and t.role != "input" and not math.isnan(t.simulated)
    ]
    fig = new_figure(11, 0.5 * max(len(shares), 4) + 1.5)
    axes = fig.subplots(1, 2, width_ratios=[3, 2])
    ax = axes[0]
    for i, t in enumerate(shares):
        y = len(shares) - 1 - i
        ax.plot([100 * t.low, 100 * t.high], [y, y], color="tab:blue", lw=3, alpha=0.6)
        ax.plot(100 * t.simulated, y, "o", color="tab:blue")
        w = 100 * t.widening
        ax.errorbar(100 * t.published, y + 0.25, xerr=w, fmt="D", color="black", capsize=3)
    labels = [textwrap.fill(f"{t.description} ({t.role})", LABEL_WIDTH) for t in reversed(shares)]
    ax.set_yticks(range(len(shares)), labels, fontsize=8)
    ax.set_xlabel(f"percent (black: published ± precision; blue: simulated mean and {SPREAD})")
    ax.set_title("Published and simulated shares")
    ax.grid(axis="x", alpha=0.3)
    ax = axes[1]
    if v.effect is not None:
        effects = [v.effect.pooled, *v.effect.profile]
        for i, e in enumerate(effects):
            ax.errorbar(
                i,
                100 * e.estimate,
                yerr=[[100 * (e.estimate - e.low)], [100 * (e.high - e.estimate)]],
                fmt="o",
                color="tab:blue",
                capsize=4,
            )
            ax.plot(i, 100 * e.input, "_", color="tab:red", markersize=22, mew=2)
        ax.set_xticks(
            range(len(effects)), [e.label.replace(" after a sanction", "") for e in effects]
        )
        effect = next(t for t in v.targets if t.name == "post_sanction_exit_effect")
        if effect.published_range is not None:
            low, high = (100 * x for x in effect.published_range)
            ax.axhspan(
                low, high, color="grey", alpha=0.15, label=f"published: {low:.0f}-{high:.0f} %"
            )
        ax.set_ylabel(lookup("post_sanction_exit_effect").axis_label)
        ax.set_title("Sanction effect: estimate (blue), input (red)")
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.set_axis_off()
    return fig


def _held(v: Validation) -> list[str]:
    """The calibrated parameters not propagated, one line each."""
    return [
        f"{p['path']} = {p['value']:g}: {p['status']}"
        for p in v.parameters
        if p["status"] != "propagated"
    ]


def write_validation_report(v: Validation, out_dir: Path) -> list[Path]:
    """Write ``validation.json``, ``validation.png`` and ``validation.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(v.to_dict(), out_dir / "validation.json")
    fig = _figure(v)
    save_png(fig, out_dir / "validation.png")
    report = Report(
        f"Validation: {v.scenario}",
        f"{v.replications} replications, seed {v.seed}: {v.headline}. Run directory: {v.out}",
    )
    if v.warning:
        report.paragraph(f"Warning: {v.warning}.")
    report.paragraph(RULE)
    report.paragraph(f"Parameter uncertainty: {v.uncertainty}.")
    for line in _held(v):
        report.paragraph(line)
    for role in ROLES:
        frame = results_frame(v, role)
        if frame.empty:
            continue
        report.heading(GROUPS[role])
        metrics = [t.met for t in v.targets if t.role == role]
        report.table(
            frame.drop(columns=["role"]),
            classes=["met" if m else "not-met" if m is False else "" for m in metrics],
        )
    report.figure(fig, "published and simulated figures; sanction effect recovery")
    if v.effect is not None:
        report.heading("Effect recovery: the sanction's effect on exits to work")
        e, effect = v.effect, lookup("post_sanction_exit_effect")
        report.paragraph(
            f"A discrete-time hazard model (Poisson GLM with log link on {e.person_weeks:,} "
            f"person-weeks, {e.exits_to_work:,} exits to work; baseline per category and year "
            f"on benefit) re-estimates the effect the scenario put in. "
            f"{e.post_person_weeks:,} person-weeks and {e.post_exits_to_work:,} exits fall in "
            f"the {e.window_weeks - 1} weeks after a sanction."
        )
        report.table(
            pd.DataFrame(
                [
                    {
                        "window": x.label,
                        "input": effect.format(x.input),
                        "estimate": effect.format(x.estimate),
                        "95 % CI": effect.format_interval(x.low, x.high),
                        "recovered": "yes" if x.recovered else "NO",
                    }
                    for x in [e.pooled, *e.profile]
                ]
            )
        )
    report.write(out_dir / "validation.html")
    return [out_dir / name for name in REPORT_FILES]


def print_validation(v: Validation, console: Console, report: Path | str | None = None) -> None:
    """What ``streetlevel validate`` prints: the headline, then each role's targets in their
    own table (the ones not met in red; inputs without a verdict), the notes, how parameter
    uncertainty entered, and the effect-recovery check."""
    console.print(
        f"[bold]{escape(v.scenario)}: {v.replications} replications, seed {v.seed}: "
        f"{escape(v.headline)}[/]"
    )
    if v.warning:
        console.print(f"[yellow]warning: {escape(v.warning)}[/]")
    for role in ROLES:
        frame = printed_frame(v, role)
        if frame.empty:
            continue
        # One space between columns (the box's), none at the edges: a row fits 80 columns.
        table = Table(
            title=GROUPS[role],
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=0,
            show_edge=False,
        )
        for col in frame.columns:
            if col == "target":
                table.add_column(col, width=_width(role))
            else:
                # The long heading in lines no wider than the column's figures.
                heading = "\n".join(textwrap.wrap(col, len("13,342 - 13,717") - 2))
                table.add_column(heading, justify="right", no_wrap=True)
        of_role = [t for t in v.targets if t.role == role]
        for row, t in zip(frame.itertuples(index=False), of_role, strict=True):
            table.add_row(*(escape(str(x)) for x in row), style="red" if t.met is False else None)
        console.print()
        console.print(table)
    console.print(escape(RULE_SHORT))
    for t in v.targets:
        if t.note and t.role != "input":
            console.print(f"- {escape(t.description)}: {escape(t.note)}")
    console.print(f"Parameter uncertainty: {escape(v.uncertainty)}.")
    for line in _held(v):
        console.print(f"  - {escape(line)}")
    if v.effect is not None:
        e, shown_e = v.effect.pooled, lookup("post_sanction_exit_effect")
        console.print(
            f"Effect recovery ({e.label}): input {shown_e.format(e.input)}, re-estimated "
            f"{shown_e.format(e.estimate)} (95 % CI {shown_e.format_interval(e.low, e.high)}): "
            + ("recovered" if e.recovered else "[red]NOT recovered[/]")
        )
    if report is not None:
        console.print(f"report: {escape(str(report))}")
