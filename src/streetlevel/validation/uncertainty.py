"""The calibrated parameters' uncertainty, propagated to the simulated figures by parameter
draws.

A calibrated parameter is known only within its sampling error, so a figure simulated at the
estimate is uncertain beyond the simulation noise. :func:`plan_propagation` reads which
parameters of a scenario were calibrated, and how precisely, from their calibration records
(:mod:`~streetlevel.validation.calibration_report`): jointly normal with the recorded
covariance where the records hold it, else independent normals with standard deviation
``interval half-width / 1.96`` (said so in the output). A parameter is held at its value, and
flagged, where its spread would come from a bound rather than from the data:

- its estimate sits at a bound of its set-up or of its interval ("at bound: not propagated");
- its interval reaches both bounds of the set-up (the moments do not identify it within them:
  its half-width is the box's, not a standard error);
- the set-up that serves the scenario no longer fits it (an earlier calibration's value).

An interval cut at one bound keeps its other side, which is ``1.96`` standard errors.

:func:`simulate_draws` simulates each drawn parameter set with common random numbers (the
validation run's seed and first replications) and a few replications;
:func:`parameter_variance` separates the variance the parameters add from the simulation noise
of the draws' means (a two-way analysis of variance, draws x replications, since common random
numbers share each replication's noise across draws).

>>> import numpy as np
>>> values = np.array([[1.0, 1.2], [2.0, 2.2], [3.0, 3.2]])  # 3 draws x 2 replications
>>> parameter_variance(values, spread=0.1)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from streetlevel.constants import Z95
from streetlevel.output.run import municipality_years_in_memory
from streetlevel.scenario.loading import with_values
from streetlevel.scenario.schema import Scenario
from streetlevel.validation.calibration_report import calibrated_parameters, recorded_covariance
from streetlevel.validation.calibration_setup import (
    SetupError,
    key_parts,
    resolve_path,
    setup_for,
)

__all__ = [
    "BOUND_TOLERANCE",
    "ParameterUncertainty",
    "Propagation",
    "named_path",
    "parameter_variance",
    "plan_propagation",
    "simulate_draws",
]

F64 = npt.NDArray[np.float64]

BOUND_TOLERANCE = 1e-6
"""An estimate or interval end this close to a bound (as a share of the set-up's range, or
absolutely without one) sits at it: the records keep six decimals."""

PROPAGATED = "propagated"
AT_BOUND = "at bound: not propagated"
BOTH_BOUNDS = "interval reaches both bounds (not identified within them): not propagated"
NOT_FITTED = "not fitted by the current calibration set-up: held at its value"
NO_ERROR = "no standard error recorded (not identified): not propagated"


@dataclass(frozen=True)
class ParameterUncertainty:
    """One calibrated parameter: its value, the standard deviation it is drawn with (NaN
    where held), and what was done with it."""

    path: str
    """Key path, list elements by name where they have one (as set-ups write them)."""
    value: float
    sd: float
    status: str
    source: str
    """``covariance`` or ``interval``: what the spread was read from (``-`` where held)."""

    @property
    def propagated(self) -> bool:
        return self.status == PROPAGATED


@dataclass(frozen=True)
class Propagation:
    """What a validation draws: the propagated parameters' joint normal distribution, cut to
    their set-up's bounds, and every calibrated parameter's status."""

    parameters: list[ParameterUncertainty]
    paths: list[str]
    mean: F64
    covariance: F64
    lower: F64
    upper: F64
    method: str
    notes: list[str] = field(default_factory=list)

    def draw(self, n: int, seed: int) -> F64:
        """``n`` parameter sets (rows), each within the set-up's bounds (a draw beyond one is
        cut to it: the model is not defined beyond some, and the search never went there)."""
        if not self.paths:
            return np.empty((n, 0))
        rng = np.random.default_rng(seed)
        sets = rng.multivariate_normal(self.mean, self.covariance, size=n, method="eigh")
        return np.asarray(np.clip(sets, self.lower, self.upper), dtype=np.float64)


def named_path(scenario: Scenario, path: str) -> str:
    """``path`` with each list element named, where it has a name.

    >>> from streetlevel.scenario.loading import load_scenario
    >>> named_path(load_scenario("denmark-2011"), "municipalities[1].management_strictness")
    'municipalities["Municipality B"].management_strictness'
    """
    node: Any = scenario
    out = ""
    for part in key_parts(path):
        if isinstance(part, str):
            node = getattr(node, part)
            out += f".{part}" if out else part
        elif isinstance(part, int):
            node = node[part]
            name = getattr(node, "name", None)
            out += f'["{name}"]' if isinstance(name, str) else f"[{part}]"
        else:
            return path  # already by name
    return out


def _at(x: float, bound: float, scale: float) -> bool:
    return abs(x - bound) <= BOUND_TOLERANCE * scale


def _reaches(x: float, bound: float, outward: float) -> bool:
    """Whether ``x`` lies at ``bound`` or beyond it (``outward``: the range, signed towards
    outside)."""
    return _at(x, bound, abs(outward)) or (x - bound) * outward > 0


def plan_propagation(scenario: Scenario) -> Propagation:
    """Which calibrated parameters of ``scenario`` are drawn, and from what distribution."""
    try:
        setup = setup_for(scenario)
        bounds = {resolve_path(scenario, p.path): (p.lower, p.upper) for p in setup.parameters}
    except SetupError:
        bounds = {}  # no set-up serves the scenario: no parameter is fitted by one now
    recorded = recorded_covariance(scenario)
    row_of = {path: i for i, path in enumerate(recorded.paths)}
    statuses: list[ParameterUncertainty] = []
    for path, param in calibrated_parameters(scenario):
        record = param["calibration"]
        value = float(param["value"])
        shown = named_path(scenario, path)
        held = ParameterUncertainty(shown, value, math.nan, "", "-")
        if path not in bounds:
            statuses.append(_with(held, NOT_FITTED))
            continue
        lower, upper = bounds[path]
        scale = upper - lower
        interval = record.get("interval")
        low, high = (float(x) for x in interval) if interval else (math.nan, math.nan)
        if _at(value, lower, scale) or _at(value, upper, scale) or value in (low, high):
            statuses.append(_with(held, AT_BOUND))
        elif path in row_of:
            i = row_of[path]
            sd = math.sqrt(max(float(recorded.covariance[i, i]), 0.0))
            statuses.append(ParameterUncertainty(shown, value, sd, PROPAGATED, "covariance"))
        elif not interval:
            statuses.append(_with(held, NO_ERROR))
        elif _reaches(low, lower, -scale) and _reaches(high, upper, scale):
            statuses.append(_with(held, BOTH_BOUNDS))
        else:
            # An interval cut at one bound keeps 1.96 standard errors on its other side (one
            # recorded under wider bounds than the set-up's now is cut here the same way).
            cut_low, cut_high = _reaches(low, lower, -scale), _reaches(high, upper, scale)
            half = high - value if cut_low else value - low if cut_high else (high - low) / 2
            statuses.append(ParameterUncertainty(shown, value, half / Z95, PROPAGATED, "interval"))
    positions = [path for path, _ in calibrated_parameters(scenario)]
    drawn = [p for p in statuses if p.propagated]
    at = [positions[statuses.index(p)] for p in drawn]  # key paths by position
    covariance = np.diag([p.sd**2 for p in drawn]).astype(np.float64)
    for a, pa in enumerate(drawn):
        for b, pb in enumerate(drawn):
            if a != b and pa.source == pb.source == "covariance":
                covariance[a, b] = recorded.covariance[row_of[at[a]], row_of[at[b]]]
    sources = {p.source for p in drawn}
    if not drawn:
        method = "no calibrated parameter to propagate"
    elif sources == {"covariance"}:
        method = "joint normal with the covariance the calibration recorded"
    elif sources == {"interval"}:
        method = (
            "independent normals, sd = interval half-width / 1.96 (the calibration recorded "
            "intervals but no covariance)"
        )
    else:
        method = (
            "joint normal with the recorded covariance; independent normals from the "
            "intervals for parameters recorded without a covariance row"
        )
    return Propagation(
        parameters=statuses,
        paths=at,
        mean=np.array([p.value for p in drawn], dtype=np.float64),
        covariance=covariance,
        lower=np.array([bounds[path][0] for path in at], dtype=np.float64),
        upper=np.array([bounds[path][1] for path in at], dtype=np.float64),
        method=method,
    )


def _with(p: ParameterUncertainty, status: str) -> ParameterUncertainty:
    return ParameterUncertainty(p.path, p.value, math.nan, status, "-")


def simulate_draws(
    scenario: Scenario,
    propagation: Propagation,
    draws: int,
    replications: int,
    seed: int,
    measure: Callable[[pd.DataFrame, Scenario], dict[str, F64]],
) -> dict[str, F64]:
    """Each figure ``measure`` reads from the municipality-years of ``draws`` parameter sets,
    as a (draws x replications) array; every draw runs replications 0 to ``replications - 1``
    of ``seed`` (common random numbers)."""
    sets = propagation.draw(draws, seed)
    out: dict[str, list[F64]] = {}
    for values in sets:
        changes = {p: float(v) for p, v in zip(propagation.paths, values, strict=True)}
        drawn = with_values(scenario, changes, "parameter draw (validate)")
        figures = measure(municipality_years_in_memory(drawn, seed, replications), drawn)
        for name, per_rep in figures.items():
            out.setdefault(name, []).append(np.asarray(per_rep, dtype=np.float64))
    return {name: np.vstack(rows) for name, rows in out.items() if len(rows) == draws}


def parameter_variance(values: F64, spread: float) -> float:
    """The variance the parameters add to a figure, from its values over parameter draws
    (rows) and replications (columns, the same seeds in every row).

    With two or more replications, a two-way analysis of variance: the draws' mean square
    less the interaction's (the simulation noise common random numbers do not cancel), over
    the replications. With one, the variance of the draws less ``spread^2`` (the noise of one
    replication; larger than what remains under common random numbers, so it errs low). Never
    below zero; NaN with fewer than two draws or a figure not measured in every one.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 2 or np.isnan(v).any():
        return math.nan
    d, r = int(v.shape[0]), int(v.shape[1])
    row = v.mean(axis=1)
    if r == 1:
        return max(float(np.var(row, ddof=1)) - spread**2, 0.0)
    col = v.mean(axis=0)
    grand = float(v.mean())
    ms_draws = r * float(np.sum((row - grand) ** 2)) / (d - 1)
    resid = v - row[:, None] - col[None, :] + grand
    ms_resid = float(np.sum(resid**2)) / ((d - 1) * (r - 1))
    return max((ms_draws - ms_resid) / r, 0.0)
