"""A calibration's result and how it is reported: the tables ``streetlevel calibrate`` prints,
its JSON, and the records the calibrated scenario file keeps.

Every parameter a calibration set records its calibration in the scenario: method, targets,
date, the command that ran it, the 95 % CI of the estimate, and its row of the
estimates' covariance matrix, keyed by the key paths of the parameters fitted with it::

    calibration = { method = "...", targets = [...], date = "...", command = "...",
                    interval = [-5.2, -3.3],
                    covariance = { "attendance.intercept" = 0.247, "exits.duration_decay" = ... } }

:func:`recorded_covariance` gathers those rows back into the matrix, so that a later step can
draw the parameters from their joint sampling distribution. A parameter whose value was set
again since (``--set``, which drops its record) leaves the matrix; the rest is still right,
being the covariance of the parameters that remain (the marginal of a normal distribution).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streetlevel.output.catalogue import find
from streetlevel.output.files import write_text_atomic
from streetlevel.scenario.loading import scenario_from_dict, scenario_to_toml
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.indirect import SurveyCalibration
from streetlevel.validation.calibration_setup import (
    SetupError,
    key_parts,
    parameter_of,
    resolve_path,
)
from streetlevel.validation.standard_errors import IDENTIFICATION, MEANING, Estimate

__all__ = [
    "METHOD",
    "CalibrationResult",
    "RecordedCovariance",
    "SurveyCalibrationResult",
    "calibrated_parameters",
    "calibration_json",
    "print_calibration",
    "record_calibration",
    "recorded_covariance",
    "write_calibrated",
]

METHOD = "simulated method of moments (common random numbers)"
"""The method a parameter's calibration record names."""
SOURCE = "calibrated: simulated method of moments to the published figures"
"""The source a calibrated parameter is given."""
SHORT = {
    IDENTIFICATION["well"]: "well",
    IDENTIFICATION["weak"]: "weakly",
    IDENTIFICATION["none"]: "not by the moments",
}
"""The identification verdicts as the table's column ``identified`` shows them."""
SIGMA_MEANING = (
    "sigma: how far the simulated figure may lie from the published one by chance alone (one "
    "standard deviation: the published figure's rounding and sampling, and the simulation's "
    "noise); each target weighs 1 / sigma^2 in the fit. Shares are in %, their sigma in "
    "percentage points."
)
DIGITS = 6
"""Decimals of a calibrated value and its interval in the scenario file (the covariance is
written in full, so that the matrix stays symmetric and positive definite)."""


@dataclass
class CalibrationResult:
    """The estimates, their covariance, the fit at the estimate, and how the search went.

    ``covariance[i][j]`` is the covariance of ``estimates[i]`` and ``estimates[j]``, in the
    parameters' units (infinite where the moments do not identify them)."""

    scenario: Scenario
    """The calibrated scenario: the estimates set, each with its calibration record."""
    estimates: list[Estimate]
    covariance: list[list[float]]
    moments: list[dict[str, Any]]
    evaluations: int
    seconds: float
    seed: int
    replications: int
    setup: str | None = None
    """The calibration set-up's name, when one chose the parameters."""
    method: str = "simulated method of moments, common random numbers (local regression search)"
    history: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What to know before trusting the estimates: a search that did not move, a parameter
    the moments do not identify."""

    @property
    def names(self) -> list[str]:
        """The parameters' key paths, in the order of the estimates and the covariance."""
        return [e.path for e in self.estimates]


@dataclass
class SurveyCalibrationResult:
    """An indirect inference on DK's survey (:mod:`streetlevel.survey.indirect`), with the
    calibrated scenario."""

    survey: SurveyCalibration
    scenario: Scenario
    method: str = "indirect inference (docs/model.md 7.13)"


@dataclass(frozen=True)
class RecordedCovariance:
    """The covariance of a scenario's calibrated parameters, as their records hold it."""

    names: list[str]
    """Key paths as the calibration wrote them (a list element by name)."""
    paths: list[str]
    """The same, with list elements by position (for ``with_values``)."""
    values: npt.NDArray[np.float64]
    covariance: npt.NDArray[np.float64]


def record_calibration(
    scenario: Scenario,
    estimates: list[Estimate],
    covariance: npt.NDArray[np.float64],
    targets: list[str],
    date: str,
    command: str,
) -> Scenario:
    """The scenario with the estimates set and each parameter's calibration recorded."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    # The covariance rows only when the whole matrix is usable: finite entries and positive
    # variances (a parameter the moments do not identify leaves none).
    usable = bool(np.all(np.isfinite(covariance)) and np.all(np.diag(covariance) > 0))
    for i, e in enumerate(estimates):
        node: Any = data
        for part in key_parts(resolve_path(scenario, e.path)):
            node = node[part] if isinstance(part, int) else node[str(part)]
        node["value"] = round(e.value, DIGITS)
        node["source"] = SOURCE
        record: dict[str, Any] = {
            "method": METHOD,
            "targets": targets,
            "date": date,
            "command": command,
        }
        if math.isfinite(e.se):
            record["interval"] = [round(e.low, DIGITS), round(e.high, DIGITS)]
        if usable:
            record["covariance"] = {
                other.path: float(covariance[i, j]) for j, other in enumerate(estimates)
            }
        node["calibration"] = record
    return scenario_from_dict(data, "calibration")


def recorded_covariance(scenario: Scenario) -> RecordedCovariance:
    """The covariance matrix of the parameters whose calibration records hold a row of it.

    Two parameters that do not record each other (calibrated separately, or one set again
    and calibrated alone since) are taken as independent.

    >>> from streetlevel.scenario.loading import load_scenario
    >>> found = recorded_covariance(load_scenario("municipality-a"))
    >>> sorted(found.names)[:2], found.covariance.shape
    (['attendance.intercept', 'attendance.motivation'], (7, 7))
    """
    rows: dict[str, dict[str, float]] = {}
    values: dict[str, float] = {}
    paths: dict[str, str] = {}
    for path, param in _parameters(scenario.model_dump(mode="python", exclude_none=True)):
        row = (param.get("calibration") or {}).get("covariance")
        if not row:
            continue
        # The parameter's own name is the key of its row that leads to it.
        own = [key for key in row if _resolves_to(scenario, key, path)]
        if own:
            rows[own[0]], values[own[0]], paths[own[0]] = row, float(param["value"]), path
    names = list(rows)

    def between(a: str, b: str) -> float:
        if b in rows[a] and a in rows[b]:
            return (rows[a][b] + rows[b][a]) / 2
        return 0.0

    matrix = np.array([[between(a, b) for b in names] for a in names], dtype=np.float64)
    return RecordedCovariance(
        names=names,
        paths=[paths[n] for n in names],
        values=np.array([values[n] for n in names], dtype=np.float64),
        covariance=matrix.reshape(len(names), len(names)),
    )


def calibrated_parameters(scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
    """Every parameter of ``scenario`` that records a calibration: its key path (list
    elements by position) and its table (``value``, ``unit``, ``calibration``, ...).

    >>> from streetlevel.scenario.loading import load_scenario
    >>> [p for p, _ in calibrated_parameters(load_scenario("denmark-2011"))][:2]
    ['categories[2].exit_other', 'attendance.intercept']
    """
    return [
        (path, param)
        for path, param in _parameters(scenario.model_dump(mode="python", exclude_none=True))
        if param.get("calibration")
    ]


def _resolves_to(scenario: Scenario, key: str, path: str) -> bool:
    try:
        return resolve_path(scenario, key) == path
    except SetupError:
        return False  # a parameter no longer in the scenario


def _parameters(node: Any, at: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every ``{value, unit, source}`` table under ``node``, with its key path."""
    if isinstance(node, dict):
        if "value" in node and "unit" in node:
            return [(at, node)]
        return [
            found
            for key, child in node.items()
            for found in _parameters(child, f"{at}.{key}" if at else key)
        ]
    if isinstance(node, list):
        return [found for i, child in enumerate(node) for found in _parameters(child, f"{at}[{i}]")]
    return []


def write_calibrated(result: CalibrationResult | SurveyCalibrationResult, path: Path) -> None:
    """Write the calibrated scenario as TOML (atomically)."""
    write_text_atomic(scenario_to_toml(result.scenario), Path(path))


def calibration_json(
    result: CalibrationResult | SurveyCalibrationResult, out: Path | None = None
) -> dict[str, Any]:
    """What ``streetlevel calibrate --json`` prints."""
    if isinstance(result, SurveyCalibrationResult):
        data: dict[str, Any] = asdict(result.survey)
    else:
        data = {
            "scenario": result.scenario.scenario.name,
            "setup": result.setup,
            "method": result.method,
            "evaluations": result.evaluations,
            "seconds": result.seconds,
            "seed": result.seed,
            "replications": result.replications,
            "estimates": [asdict(e) for e in result.estimates],
            "covariance": {"names": result.names, "matrix": _json_matrix(result.covariance)},
            "moments": result.moments,
            "warnings": result.warnings,
        }
    if out is not None:
        data["out"] = str(out)
    return data


def _json_matrix(matrix: list[list[float]]) -> list[list[float | None]]:
    """JSON has no infinity: an entry the moments do not identify is null."""
    return [[v if math.isfinite(v) else None for v in row] for row in matrix]


def print_calibration(
    result: CalibrationResult | SurveyCalibrationResult, console: Console, out: Path | None = None
) -> None:
    """The estimates and the fit at the estimate, as ``streetlevel calibrate`` prints them."""
    where = f"calibrated scenario: {out}" if out is not None else None
    if isinstance(result, SurveyCalibrationResult):
        survey = result.survey
        console.print(
            f"indirect inference: loading {survey.loading:.3f}, chi-square of the "
            f"bivariate tables {survey.chi_square:.2f}" + (f"; {where}" if where else ""),
            highlight=False,
        )
        return
    table = Table(
        title=f"calibrate {escape(result.scenario.scenario.name)}: {result.evaluations} "
        f"simulations, {result.seconds:.0f} s ({result.method})",
        caption=where,
    )
    # A key path is the parameter's whole name: it is never cut or folded.
    widest = max((len(e.path) for e in result.estimates), default=0)
    table.add_column("parameter", no_wrap=True, min_width=widest)
    table.add_column("unit", no_wrap=True)
    for col in ("start", "estimate", "std. error", "95 % CI", "bounds"):
        # Two numbers (interval, bounds) may fold at their dash; a header is never cut.
        table.add_column(col, justify="right", min_width=max(len(w) for w in col.split()))
    table.add_column("identified", no_wrap=True)
    for e in result.estimates:
        table.add_row(
            escape(e.path),
            escape(parameter_of(result.scenario, e.path).unit),
            f"{e.start:.4g}",
            f"{e.value:.4g}",
            f"{e.se:.3g}",
            f"{e.low:.4g} - {e.high:.4g}",
            f"{e.lower:g} - {e.upper:g}",
            SHORT[e.identified],
        )
    console.print(table)
    for verdict in dict.fromkeys(e.identified for e in result.estimates):
        console.print(f"  {verdict}: {MEANING[verdict]}", highlight=False)
    fit = Table(title="fit at the estimate", caption=SIGMA_MEANING)
    fit.add_column("target", no_wrap=True)
    fit.add_column("indicator", no_wrap=True)
    for col in ("published", "simulated", "sigma"):
        fit.add_column(col, justify="right")
    for m in result.moments:
        entry = find(m["target"])
        if entry is None:  # a figure that is no indicator of the catalogue
            shown = [f"{m[k]:.4g}" for k in ("published", "simulated", "sigma")]
            fit.add_row("", m["target"], *shown)
            continue
        fit.add_row(
            entry.label,
            m["target"],
            entry.format(m["published"]),
            entry.format(m["simulated"]),
            entry.format_difference(m["sigma"], signed=False),
        )
    console.print(fit)
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
