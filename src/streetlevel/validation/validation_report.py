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
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.reports import Report, new_figure, save_png
from streetlevel.output.catalogue import Resolved, find, lookup
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
    "results_frame",
    "write_validation_report",
]

REPORT_FILES = ("validation.json", "validation.png", "validation.html")
LABEL_WIDTH = 34
"""Characters per line of a target's label in the figure."""
GROUPS = {
    "input": "Inputs: read back from the scenario (shown, never counted as met)",
    "fitted": "Fitted moments: the calibration chose parameters to match these",
    "derived": "Derived: follow from fitted moments or from how the model is built",
    "check": "Checks: figures the model could miss",
}
"""The heading of each role's group, in the order of
:data:`~streetlevel.validation.targets.ROLES`."""
RULE = (
    "A target is met when the published figure lies inside the 95 % interval of one "
    "realisation of the year it describes: mean ± q·sqrt(s²(1 + 1/R) + var_param), with s the "
    "spread of the R replications, q Student's t 97.5 % quantile on R − 1 degrees of freedom "
    "(fewer replications widen the interval, never narrow it) and var_param the variance the "
    "calibrated parameters' uncertainty adds; widened by the precision the figure was "
    "published to and the study's sampling error (docs/validation.md; this rule supersedes "
    "TARGETS.md's)."
)


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
                "95 % interval": shown.interval(t.low, t.high),
                "rule": _rule(t),
                "verdict": _verdict(t.met),
                "note": t.note,
            }
        )
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
    ax.set_xlabel("percent (black: published ± precision; blue: simulated mean and 95 % interval)")
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
    for role in ROLES:
        frame = results_frame(v, role)
        if frame.empty:
            continue
        shown = frame.drop(columns=["role", "note"])
        if role == "input":
            shown = shown[["target", "published", "simulated"]]
        table = Table(title=GROUPS[role], title_justify="left")
        for col in shown.columns:
            table.add_column(col, justify="left" if col in ("target", "rule") else "right")
        of_role = [t for t in v.targets if t.role == role]
        for row, t in zip(shown.itertuples(index=False), of_role, strict=True):
            table.add_row(*(escape(str(x)) for x in row), style="red" if t.met is False else None)
        console.print(table)
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
