"""Validation: every published figure next to the simulated one, and the effect-recovery check.

The library behind ``streetlevel validate``. It reads a finished run directory (analysis never
touches live simulation objects): the summary indicators, the country as built, the
client-years (who leaves after a sanction) and the events (the re-estimated sanction effect),
and compares each with its target under the rule of :mod:`streetlevel.validation.targets`.
Figures are shown in the units of the catalogue (:mod:`streetlevel.output.catalogue`): a share
in %, a difference of shares and a share's precision in percentage points.
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq
from rich.markup import escape
from rich.table import Table

from streetlevel.analysis.reports import Report, new_figure, save_png
from streetlevel.errors import StreetlevelError
from streetlevel.output.catalogue import Resolved, find, lookup
from streetlevel.output.files import write_json_atomic
from streetlevel.output.summary import Summary, summarize
from streetlevel.scenario.loading import load_scenario
from streetlevel.validation.effect_recovery import PostSanctionEffect, estimate_post_sanction_effect
from streetlevel.validation.targets import load_targets

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "TargetResult",
    "Validation",
    "print_validation",
    "results_frame",
    "validate_run",
    "write_validation_report",
]

REPORT_FILES = ("validation.json", "validation.png", "validation.html")
LABEL_WIDTH = 34
"""Characters per line of a target's label in the figure."""


@dataclass(frozen=True)
class TargetResult:
    """One target: the published figure, the simulated mean and 95 % interval, and the verdict."""

    name: str
    description: str
    kind: str
    published: float
    simulated: float
    low: float
    high: float
    met: bool | None
    within_tolerance: bool | None
    tolerance: float | None
    widening: float
    published_range: tuple[float, float] | None
    """The published range, for a target published as one (kind ``range``)."""
    source: str
    note: str


@dataclass(frozen=True)
class Validation:
    """All targets of a run, and the effect-recovery check."""

    scenario: str
    replications: int
    seed: int
    out: str
    targets: list[TargetResult]
    effect: PostSanctionEffect | None

    @property
    def met(self) -> int:
        return sum(t.met is True for t in self.targets)

    @property
    def tested(self) -> int:
        return sum(t.met is not None for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        data: dict[str, Any] = {
            "scenario": self.scenario,
            "replications": self.replications,
            "seed": self.seed,
            "out": self.out,
            "met": self.met,
            "tested": self.tested,
            "targets": [asdict(t) for t in self.targets],
            "effect_recovery": None,
        }
        if self.effect is not None:
            data["effect_recovery"] = {
                **asdict(self.effect),
                "pooled": {**asdict(self.effect.pooled), "recovered": self.effect.pooled.recovered},
                "profile": [{**asdict(p), "recovered": p.recovered} for p in self.effect.profile],
            }
        return clean(data)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _structure(run_dir: Path) -> dict[str, float]:
    """Figures of the country as built (the same in every replication)."""
    m = pq.read_table(run_dir / "municipalities.parquet").to_pandas()
    out: dict[str, float] = {
        "municipalities": float(len(m)),
        "mean_population": float(m["population"].mean()),
        "recipients_per_100": float(100 * m["recipients"].sum() / m["population"].sum()),
    }
    for row in m.itertuples():
        slug = str(row.municipality).lower().replace(" ", "_")
        out[f"population_{slug}"] = float(row.population)
        out[f"recipients_per_100_{slug}"] = float(row.recipients_per_100)
    return out


def _parameter(run_dir: Path, path: str) -> float:
    obj: Any = load_scenario(run_dir / "scenario.toml")
    for part in path.split("."):
        obj = getattr(obj, part)
    return float(obj.value)


def validate_run(run_dir: Path, effect: bool = True) -> Validation:
    """Compare a finished run with the targets of its scenario (denmark-2011's for another
    Danish scenario that no target names, such as a user's edited copy)."""
    run_dir = Path(run_dir)
    summary: Summary = summarize(run_dir)
    targets = load_targets(summary.scenario)
    if not targets:
        country = load_scenario(run_dir / "scenario.toml").scenario.country
        if country != "Denmark":
            raise StreetlevelError(
                f"{run_dir}: no published figures to validate a {country} scenario against "
                "here; the Norwegian survey's figures are compared by `streetlevel survey`"
            )
        targets = load_targets("denmark-2011")
    structure = _structure(run_dir)
    recovered = None
    if effect and any(t.name == "post_sanction_exit_effect" for t in targets):
        try:
            recovered = estimate_post_sanction_effect(run_dir)
        except StreetlevelError:
            recovered = None  # too few sanctions: the target is shown as not measured
    results = []
    for t in targets:
        mean, low, high = float("nan"), float("nan"), float("nan")
        note = ""
        if t.kind == "input":
            assert t.parameter is not None
            mean = low = high = _parameter(run_dir, t.parameter)
            note = f"set directly by {t.parameter}; not a test"
        elif t.kind == "not_modelled":
            note = f"not modelled: {t.reason}"
        elif t.name == "post_sanction_exit_effect":
            if recovered is not None:
                p = recovered.pooled
                mean, low, high = p.estimate, p.low, p.high
                note = "discrete-time hazard estimate from the events, 95 % confidence interval"
            else:
                note = "not measured: too few exits after sanctions"
        elif t.name in structure:
            mean = low = high = structure[t.name]
            note = "the country as built from the scenario"
        else:
            try:
                ind = summary.get(t.name)
            except KeyError:
                note = "not measured in this run"
            else:
                mean, low, high = ind.mean, ind.low, ind.high
        results.append(
            TargetResult(
                name=t.name,
                description=t.description,
                kind=t.kind,
                published=t.published,
                simulated=mean,
                low=low,
                high=high,
                met=t.is_met(mean, low, high),
                within_tolerance=t.within_tolerance(mean),
                tolerance=t.tolerance,
                widening=t.widening(),
                published_range=(t.low, t.high)
                if t.low is not None and t.high is not None
                else None,
                source=t.source,
                note=note,
            )
        )
    return Validation(
        scenario=summary.scenario,
        replications=summary.replications,
        seed=summary.seed,
        out=str(run_dir),
        targets=results,
        effect=recovered,
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
    if t.kind == "positive":
        return "interval above 0"
    if t.kind == "range":
        return "mean in the published range"
    if t.kind in ("input", "not_modelled"):
        return "-"
    if t.widening > 0:
        return f"in interval ± {_Shown(t).precision(t.widening)}"
    return "in interval"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "-"}[met]


def results_frame(v: Validation) -> pd.DataFrame:
    """The comparison as a table of strings (the CLI and the HTML report show this)."""
    rows = []
    for t in v.targets:
        shown = _Shown(t)
        if t.kind == "positive":
            published = "direction: positive"
        elif t.published_range is not None:
            published = shown.interval(*t.published_range)
        else:
            published = shown.value(t.published)
        rows.append(
            {
                "target": t.description,
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
    shares = [t for t in v.targets if t.kind == "share" and not math.isnan(t.simulated)]
    fig = new_figure(11, 0.5 * max(len(shares), 4) + 1.5)
    axes = fig.subplots(1, 2, width_ratios=[3, 2])
    ax = axes[0]
    for i, t in enumerate(shares):
        y = len(shares) - 1 - i
        ax.plot([100 * t.low, 100 * t.high], [y, y], color="tab:blue", lw=3, alpha=0.6)
        ax.plot(100 * t.simulated, y, "o", color="tab:blue")
        w = 100 * t.widening
        ax.errorbar(100 * t.published, y + 0.25, xerr=w, fmt="D", color="black", capsize=3)
    labels = [textwrap.fill(t.description, LABEL_WIDTH) for t in reversed(shares)]
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


def write_validation_report(v: Validation, out_dir: Path) -> list[Path]:
    """Write ``validation.json``, ``validation.png`` and ``validation.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(v.to_dict(), out_dir / "validation.json")
    fig = _figure(v)
    save_png(fig, out_dir / "validation.png")
    report = Report(
        f"Validation: {v.scenario}",
        f"{v.replications} replications, seed {v.seed}; {v.met} of {v.tested} tested targets "
        f"met. Run directory: {v.out}",
    )
    report.paragraph(
        "A target is met when the published figure lies inside the simulated 95 % interval "
        "(percentiles across replications), widened by the precision it was published to and "
        "by the study's sampling error where it is a sample (TARGETS.md)."
    )
    frame = results_frame(v)
    report.table(
        frame, classes=["met" if t.met else "not-met" if t.met is False else "" for t in v.targets]
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
    """What ``streetlevel validate`` prints: every target beside the simulated figure (the
    ones not met in red), what the untested ones are, and the effect-recovery check."""
    table = Table(
        title=f"{v.scenario}: {v.replications} replications, seed {v.seed}: "
        f"{v.met} of {v.tested} tested targets met",
        caption=None if report is None else f"report: {report}",
    )
    frame = results_frame(v).drop(columns=["note"])
    for col in frame.columns:
        table.add_column(col, justify="left" if col in ("target", "rule") else "right")
    for row, t in zip(frame.itertuples(index=False), v.targets, strict=True):
        table.add_row(*(escape(str(x)) for x in row), style="red" if t.met is False else None)
    console.print(table)
    for t in v.targets:
        if t.met is None and t.note:
            console.print(f"- {escape(t.description)}: {escape(t.note)}")
    if v.effect is not None:
        e, shown = v.effect.pooled, lookup("post_sanction_exit_effect")
        console.print(
            f"Effect recovery ({e.label}): input {shown.format(e.input)}, re-estimated "
            f"{shown.format(e.estimate)} (95 % CI {shown.format_interval(e.low, e.high)}): "
            + ("recovered" if e.recovered else "[red]NOT recovered[/]")
        )
