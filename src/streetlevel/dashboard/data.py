"""What the dashboard shows, without the web framework: the directories it serves, their
benchmark and policy comparison (computed by :mod:`streetlevel.analysis.benchmark` and
:mod:`streetlevel.experiments.compare`, never re-implemented here), and what the run view
offers (the runs themselves are :mod:`streetlevel.dashboard.runs`').

Everything a view needs is a pandas table or a PNG, so it can be tested and used from a
notebook without a browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from streetlevel.analysis.benchmark import ALL, Benchmark, benchmark
from streetlevel.analysis.benchmark_report import funnel_figure
from streetlevel.dashboard.files import data_url
from streetlevel.errors import StreetlevelError
from streetlevel.experiments.compare import comparison, level_label, policy_name
from streetlevel.experiments.spec import Experiment, example_path, load_experiment
from streetlevel.experiments.store import EXPERIMENT
from streetlevel.scenario.loading import list_presets, load_scenario, with_values

__all__ = [
    "REPLICATION_LIMITS",
    "RUN_LEVERS",
    "SCALE_LIMITS",
    "Source",
    "check_run",
    "classify",
    "funnel_png",
    "lever_levels",
    "municipality_benchmark",
    "municipality_funnel",
    "policy_table",
    "run_scenario_for",
]

RUN_LEVERS = ("route", "norm", "pressure")
"""Levers of the shipped experiment (``route-norm-pressure.toml``) offered by the run view;
the era is the preset's (``denmark-2011`` or ``denmark-2014``): changing it alone would
leave the other era's categories."""
RUN_PRESETS = ("denmark-2011", "denmark-2014")
"""Presets with a synthetic country, which the route and norm levers set."""
SCALE_LIMITS = (0.01, 1.0)
"""The run view's client scale (clients per recipient): from a quick look to the whole
country; the form offers these and :meth:`streetlevel.dashboard.runs.Runner.start` refuses
others, so a forged request cannot start a run of 10^9 clients on a shared machine."""
REPLICATION_LIMITS = (1, 20)
"""The run view's replications: 20 give intervals close to a sweep's; more belong in a sweep."""
HIGHLIGHT = "#1f77b4"


@dataclass(frozen=True)
class Source:
    """A directory the dashboard was started with: a run, a sweep, or a problem to show."""

    path: Path
    kind: str
    """``run``, ``sweep`` or ``error``."""
    problem: str = ""

    @property
    def label(self) -> str:
        return str(self.path)


def classify(path: Path | str) -> Source:
    """What ``path`` holds; a missing, empty or unknown directory is a ``Source`` with the
    problem to show in the page (the dashboard starts anyway).

    >>> classify("/no/such/dir").problem
    '/no/such/dir: no such directory'
    """
    path = Path(path)
    if not path.is_dir():
        return Source(path, "error", f"{path}: no such directory")
    if (path / EXPERIMENT).is_file():
        return Source(path, "sweep")
    if (path / "client_years.parquet").exists():
        return Source(path, "run")
    if not any(path.iterdir()):
        return Source(path, "error", f"{path}: the directory is empty (no run or sweep in it)")
    return Source(
        path,
        "error",
        f"{path}: not a run directory (no client_years.parquet) nor a sweep directory "
        f"(no {EXPERIMENT})",
    )


@lru_cache(maxsize=16)
def _benchmarks(path: str, stamp: float) -> tuple[Benchmark, Benchmark]:
    """The run's benchmark over all clients and by category (``stamp``: the manifest's
    modification time, so a run written again is read again)."""
    return benchmark(path), benchmark(path, by_category=True)


def _stamp(path: Path | str) -> float:
    manifest = Path(path) / "manifest.json"
    return manifest.stat().st_mtime if manifest.is_file() else 0.0


def municipality_benchmark(path: Path | str) -> tuple[Benchmark, Benchmark]:
    """Benchmarks of a run directory: over all clients (ranking, funnel) and by category
    (rates by category over the years)."""
    return _benchmarks(str(path), _stamp(path))


def municipality_funnel(path: Path | str, municipality: str) -> str:
    """The run's funnel plot with ``municipality`` marked (:func:`funnel_png`), drawn once
    per run and municipality: drawing it is most of a page view's time, and many users look
    at the same few municipalities."""
    return _funnel(str(path), _stamp(path), municipality)


@lru_cache(maxsize=64)
def _funnel(path: str, stamp: float, municipality: str) -> str:
    # 64 PNGs of some 70 kB: a few megabytes at most.
    return funnel_png(_benchmarks(path, stamp)[0], municipality)


def funnel_png(result: Benchmark, municipality: str | None) -> str:
    """The benchmark's funnel plot
    (:func:`~streetlevel.analysis.benchmark_report.funnel_figure`) with ``municipality``
    marked, as a ``data:`` URL for an ``<img>``."""
    # A plain Figure (reports.new_figure), not pyplot: callbacks run in several threads.
    fig = funnel_figure(result)
    rows = result.risk_adjusted
    row = rows[(rows["category"] == ALL) & (rows["municipality"] == municipality)]
    if not row.empty:
        ax = fig.axes[0]
        x, y = float(row["expected"].iloc[0]), float(row["ratio"].iloc[0])
        ax.scatter([x], [y], s=160, marker="*", color=HIGHLIGHT, zorder=5, label=municipality)
        ax.annotate(
            str(municipality), (x, y), xytext=(6, 6), textcoords="offset points", color=HIGHLIGHT
        )
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return data_url(fig)


def policy_table(path: Path | str) -> tuple[pd.DataFrame, list[str]]:
    """The sweep's comparison (:func:`streetlevel.experiments.compare.comparison`) with a
    ``policy`` column naming each lever combination, and the lever columns."""
    table = comparison(path)
    groups = list(table.columns[: list(table.columns).index("outcome")])
    names = [
        policy_name(dict(zip(groups, row, strict=True)))
        for row in table[groups].itertuples(index=False)
    ]
    table.insert(0, "policy", names if groups else "all")
    return table, groups


def lever_levels() -> dict[str, list[str]]:
    """The run view's levers and their levels, from the shipped experiment file."""
    spec = _example().spec
    levers = {f.name: f for f in spec.levers}
    return {name: _labels(levers[name]) for name in RUN_LEVERS}


def _labels(factor: Any) -> list[str]:
    if factor.levels is not None:
        return list(factor.levels)
    return [level_label(v) for v in factor.values or []]


@lru_cache(maxsize=1)
def _example() -> Experiment:
    return load_experiment(example_path())


def _point_value(factor: Any, label: str) -> Any:
    if factor.levels is not None:
        return label
    for value in factor.values or []:
        if level_label(value) == label:
            return value
    raise StreetlevelError(f"{factor.name}: no level {label!r}")


def check_run(preset: Any, levers: dict[str, Any], client_scale: Any, replications: Any) -> None:
    """Raise a :class:`StreetlevelError` unless the run is one the run view offers: a preset
    of :data:`RUN_PRESETS`, a level of each lever, a client scale within
    :data:`SCALE_LIMITS` and a whole number of replications within :data:`REPLICATION_LIMITS`.

    >>> try:
    ...     check_run("denmark-2011", {"route": "caseworker"}, 1e9, 1)
    ... except StreetlevelError as err:
    ...     print(err)
    client scale: expected a number from 0.01 to 1, got 1000000000.0
    """
    if preset not in RUN_PRESETS:
        raise StreetlevelError(f"{preset!r:.80}: not a preset the run view offers {RUN_PRESETS}")
    levels = lever_levels()
    for name, label in levers.items():
        if name not in levels or label not in levels[name]:
            raise StreetlevelError(
                f"{name!r:.40} = {label!r:.40}: not a lever and level of the run view "
                f"(expected some of {levels})"
            )
    for value, (low, high), what, whole in (
        (client_scale, SCALE_LIMITS, "client scale", False),
        (replications, REPLICATION_LIMITS, "replications", True),
    ):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (
            number
            and math.isfinite(value)
            and low <= value <= high
            and (not whole or float(value).is_integer())
        ):
            kind = "a whole number" if whole else "a number"
            raise StreetlevelError(
                f"{what}: expected {kind} from {low:g} to {high:g}, got {value!r:.40}"
            )


def run_scenario_for(preset: str, levers: dict[str, str], client_scale: float) -> Any:
    """The preset with the chosen levers' levels and client scale set (as a sweep point of the
    shipped experiment would set them)."""
    if preset not in list_presets() or preset not in RUN_PRESETS:
        raise StreetlevelError(f"{preset}: not a preset the run view offers ({RUN_PRESETS})")
    base = with_values(load_scenario(preset), {"scale.client_scale": client_scale}, "dashboard")
    example = _example()
    experiment = Experiment(spec=example.spec, base=base, origin="dashboard")
    factors = {f.name: f for f in example.spec.levers}
    unknown = [k for k in levers if k not in factors]
    if unknown:
        raise StreetlevelError(f"{unknown}: not levers (expected some of {list(factors)})")
    point = {name: _point_value(factors[name], levers[name]) for name in factors}
    assignments = experiment.assignments(point)
    return with_values(base, assignments, "dashboard")
