"""Calibration: fit the parameters the studies do not give to the published figures.

The method is the simulated method of moments with common random numbers (McFadden 1989;
Pakes & Pollard 1989). The simulated moments m(theta) are summary indicators of runs that all
use one seed; theta minimises

    sum_j ((m_j(theta) - published_j) / sigma_j)^2,

where ``sigma_j`` combines the precision each figure was published to (a figure rounded to the
nearest point is uniform within half a point: variance ``precision^2 / 3``) and the simulation
noise of the moment (measured once, from a run with more replications).

Common random numbers make nearby runs alike but not smooth in theta: once a decision flips,
later draws are consumed differently, so finite differences of a few per cent are mostly
noise. The search therefore fits the moments locally instead of differencing them: each round
simulates the current centre and a Latin hypercube of 2k + 1 points in a box around it,
regresses the moments on the parameters (one regression gives every slope, and averages the
noise), and moves to the point where the fitted moments come closest to the targets within
the box (``scipy.optimize.lsq_linear``). A move whose fit turns out worse than the best so far
(judged on the next round's regression at the new centre, which averages the noise of its
2k + 2 runs) is taken back and the box halved; the box also halves once the steps stay well
inside it. The estimate is the best centre. The
budget left at the end buys a last, larger design around the estimate, whose regression
(with every earlier simulation near the estimate) gives the Jacobian ``G`` for the standard
errors (delta method: ``Var(theta) = (G' W G)^-1`` with
``W = diag(1 / sigma^2)``): how far each parameter could move while the moments stay within
what the published figures and the simulation allow. A parameter whose 95 % interval covers
more than half its bounds is reported as weakly identified.

The calibrated scenario records, on every parameter it set, the calibration: method, targets,
date, the command that ran it, and the 95 % interval of the estimate.
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import lsq_linear

from streetlevel.constants import CALIBRATION_REPLICATIONS, DEFAULT_SEED, Z95
from streetlevel.errors import StreetlevelError
from streetlevel.output.files import write_text_atomic
from streetlevel.output.run import run_in_memory
from streetlevel.scenario.loading import scenario_from_dict, scenario_to_toml, with_values
from streetlevel.scenario.params import Param
from streetlevel.scenario.schema import Scenario
from streetlevel.validation.targets import Target, load_targets

__all__ = [
    "DANISH_PARAMETERS",
    "CalibrationResult",
    "Estimate",
    "FreeParameter",
    "calibrate",
    "parameter_of",
    "simulated_moments",
    "write_calibrated",
]


@dataclass(frozen=True)
class FreeParameter:
    """A parameter to fit: its key path (as in ``--set``), bounds, and the target it mainly
    moves (for the identification report)."""

    path: str
    lower: float
    upper: float
    moves: str


DANISH_PARAMETERS = (
    FreeParameter("attendance.intercept", -8.0, -0.5, "national_sanction_rate"),
    FreeParameter("attendance.motivation", -9.0, -0.2, "repeat_share"),
    FreeParameter("decision.caseworker.intercept", -8.0, 0.0, "sanction_rate_municipality_a"),
    FreeParameter(
        "municipalities[1].management_strictness", 0.0, 1.0, "sanction_rate_municipality_b"
    ),
    FreeParameter("exits.duration_decay", 0.0, 0.5, "long_term_5y_share"),
    FreeParameter("categories[2].exit_other", 0.0005, 0.04, "long_term_10y_share"),
    FreeParameter("exits.unknown_while_sanctioned", 1.0, 150.0, "unknown_to_work_exits_sanctioned"),
)
"""What ``calibrate denmark-2011`` fits by default: one parameter per numeric target of the
Danish register figures: the base absence rate, the heterogeneity of motivation, the
caseworker's decision intercept (which moves the country, on the Figure 1 route, but not
Municipality A, whose absences from offers go to the cash-benefit office: together with the
absence rate it sets A's level relative to the country), Municipality B's norm, the duration
dependence of exits, the exit rate of the passive category, and how much more often the
sanctioned leave to unknown. Earlier calibrations fitted the office's intercept and the weight
of the norm in the caseworker's decision and found both weakly identified (under a HAVE TO
norm the office sanctions nearly every breach it sees, and meeting absences are few); they keep
those calibrations' values."""


@dataclass(frozen=True)
class Estimate:
    """A fitted parameter with its standard error and 95 % interval."""

    path: str
    start: float
    value: float
    se: float
    low: float
    high: float
    lower: float
    upper: float
    identified: str


@dataclass
class CalibrationResult:
    """The estimates, the fit at the estimate, and how the search went."""

    scenario: Scenario
    estimates: list[Estimate]
    moments: list[dict[str, Any]]
    evaluations: int
    seconds: float
    seed: int
    replications: int
    method: str = "simulated method of moments, common random numbers (local regression search)"
    history: list[dict[str, float]] = field(default_factory=list)


def simulated_moments(
    scenario: Scenario, seed: int, replications: int
) -> dict[str, npt.NDArray[np.float64]]:
    """Run without writing anything and return each summary indicator per replication."""
    return {
        k: np.asarray(v, dtype=np.float64)
        for k, v in run_in_memory(scenario, seed, replications).items()
    }


def _sigma(target: Target, spread: float, replications: int) -> float:
    """Standard deviation of (simulated mean - published) under the targets' precision."""
    published_var = target.precision**2 / 3.0
    if target.sample_size is not None and target.value is not None:
        published_var += target.value * (1 - target.value) / target.sample_size
    return math.sqrt(published_var + spread**2 / replications)


def calibrate(
    scenario: Scenario,
    parameters: tuple[FreeParameter, ...] = DANISH_PARAMETERS,
    seed: int = DEFAULT_SEED,
    replications: int = CALIBRATION_REPLICATIONS,
    budget: int = 200,
    workers: int = 1,
    targets: list[Target] | None = None,
    command: str | None = None,
    on_evaluation: Callable[[int, int, float], None] | None = None,
) -> CalibrationResult:
    """Fit ``parameters`` to the scenario's targets; ``budget`` caps the simulations of the
    search, and ``workers`` processes run each round's simulations side by side (the result
    does not depend on them: every simulation uses the same seed). ``targets`` default to the
    published figures that describe the scenario."""
    started = time.perf_counter()
    name = scenario.scenario.name
    if targets is None:
        targets = load_targets(name) or load_targets("denmark-2011")
    by_name = {t.name: t for t in targets}
    wanted = [p.moves for p in parameters]
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise StreetlevelError(f"calibrate {name}: no published figure for {', '.join(missing)}")
    start = np.array([_current(scenario, p.path) for p in parameters])
    lower = np.array([p.lower for p in parameters])
    upper = np.array([p.upper for p in parameters])
    start = np.clip(start, lower, upper)
    width = upper - lower
    published = np.array([by_name[w].published for w in wanted])
    history: list[dict[str, float]] = []

    def at(u: npt.NDArray[np.float64]) -> Scenario:
        theta = lower + width * np.clip(u, 0.0, 1.0)
        values = {p.path: float(v) for p, v in zip(parameters, theta, strict=True)}
        return with_values(scenario, values, "calibration")

    # The simulation noise of each moment, from one run with more replications, sets its
    # weight (with the published figure's precision) for the whole search.
    noise_reps = max(replications, NOISE_REPLICATIONS)
    first = simulated_moments(at((start - lower) / width), seed, noise_reps)
    spread = np.array([float(np.std(first[w], ddof=1)) for w in wanted])
    sigma = np.array(
        [_sigma(by_name[w], sd, replications) for w, sd in zip(wanted, spread, strict=True)]
    )
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    rng = np.random.default_rng(seed)
    points: list[npt.NDArray[np.float64]] = []
    values: list[npt.NDArray[np.float64]] = []

    def evaluate(batch: list[npt.NDArray[np.float64]]) -> None:
        """Simulate a batch of points (side by side with workers), all with the same seed."""
        scenarios = [at(u) for u in batch]
        if pool is not None:
            results = list(
                pool.map(
                    _mean_moments, scenarios, repeat(seed), repeat(replications), repeat(wanted)
                )
            )
        else:
            results = [_mean_moments(sc, seed, replications, wanted) for sc in scenarios]
        for u, m in zip(batch, results, strict=True):
            points.append(u)
            values.append(m)
            history.append(
                {
                    "evaluation": len(points),
                    **{p.path: float(lower[i] + width[i] * u[i]) for i, p in enumerate(parameters)},
                    **{w: float(m[j]) for j, w in enumerate(wanted)},
                }
            )
            if on_evaluation is not None:
                r = (m - published) / sigma
                on_evaluation(len(points), budget, float(r @ r))

    k = len(parameters)
    per_round = max(2 * k + 2, 4)
    center = (start - lower) / width
    radius = INITIAL_RADIUS
    final_n = 2 * per_round
    if budget < per_round + final_n:
        raise StreetlevelError(
            f"calibrate: a budget of {budget} simulations is too small for {k} parameters "
            f"(at least {per_round + final_n}: one search round of {per_round} and the final "
            f"design of {final_n})"
        )

    def loss(m: npt.NDArray[np.float64]) -> float:
        r = (m - published) / sigma
        return float(r @ r)

    best, best_loss = center, math.inf
    try:
        while len(points) + per_round + final_n <= budget:
            # The centre and a Latin hypercube around it: every parameter moves at once, so
            # one regression gives all the slopes, and the noise of each run averages out.
            lo, hi = np.maximum(center - radius, 0.0), np.minimum(center + radius, 1.0)
            evaluate([center, *_latin_hypercube(rng, per_round - 1, lo, hi)])
            x = np.array(points[-per_round:]) - center
            design = np.column_stack([np.ones(per_round), x])
            coef, *_ = np.linalg.lstsq(design, np.array(values[-per_round:]), rcond=None)
            level, jac_u = coef[0], coef[1:].T
            # The fit at the centre is judged on the regression's level there, which averages
            # the round's noise: a single run's luck must not decide the search.
            at_center = loss(level)
            if at_center >= best_loss:
                # The last step made the fit worse: go back to the best point, look closer.
                center, radius = best, max(radius / 2, MIN_RADIUS)
                continue
            best, best_loss = center, at_center
            # The step that brings the fitted moments closest to the targets, inside the box.
            step = lsq_linear(
                jac_u / sigma[:, None],
                (published - level) / sigma,
                bounds=(lo - center, hi - center),
            ).x
            center = center + step
            # Shrink the box once the step stays well inside it: the search is local now.
            if np.max(np.abs(step)) < radius / 2:
                radius = max(radius / 2, MIN_RADIUS)
        # The Jacobian at the estimate: a last design around it, regressed together with every
        # earlier simulation near it, so that the slopes rise above the noise.
        lo, hi = np.maximum(best - FINAL_RADIUS, 0.0), np.minimum(best + FINAL_RADIUS, 1.0)
        evaluate(list(_latin_hypercube(rng, final_n, lo, hi)))
        x = np.array(points) - best
        near = np.max(np.abs(x), axis=1) <= JACOBIAN_RADIUS
        design = np.column_stack([np.ones(int(near.sum())), x[near]])
        coef, *_ = np.linalg.lstsq(design, np.array(values)[near], rcond=None)
        jac_u = coef[1:].T
    finally:
        if pool is not None:
            pool.shutdown()
    jac = jac_u / width[None, :]  # per unit of each parameter
    final = simulated_moments(at(best), seed, noise_reps)
    spread = np.array([float(np.std(final[w], ddof=1)) for w in wanted])
    sigma = np.array(
        [_sigma(by_name[w], sd, noise_reps) for w, sd in zip(wanted, spread, strict=True)]
    )
    theta = lower + width * best
    cov = _delta_covariance(jac, sigma)
    estimates = []
    for i, p in enumerate(parameters):
        se = math.sqrt(cov[i, i]) if np.isfinite(cov[i, i]) and cov[i, i] >= 0 else math.inf
        # The interval is cut at the bounds, which the search never leaves.
        low, high = max(theta[i] - Z95 * se, p.lower), min(theta[i] + Z95 * se, p.upper)
        covered = (high - low) / (p.upper - p.lower)
        identified = (
            "not identified (the moments do not move with it)"
            if not math.isfinite(se)
            else "weakly identified (interval covers most of its range)"
            if covered > 0.5
            else "well identified"
        )
        estimates.append(
            Estimate(
                p.path,
                float(start[i]),
                float(theta[i]),
                se,
                float(low),
                float(high),
                p.lower,
                p.upper,
                identified,
            )
        )
    fitted = {w: float(np.mean(final[w])) for w in wanted}
    rows = [
        {
            "target": w,
            "published": float(published[j]),
            "simulated": fitted[w],
            "sigma": float(sigma[j]),
        }
        for j, w in enumerate(wanted)
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    command = command or " ".join(shlex.quote(a) for a in ["streetlevel", *sys.argv[1:]])
    calibrated = _record(scenario, estimates, wanted, stamp, command)
    return CalibrationResult(
        scenario=calibrated,
        estimates=estimates,
        moments=rows,
        evaluations=len(points) + 2,
        seconds=time.perf_counter() - started,
        seed=seed,
        replications=replications,
        history=history,
    )


NOISE_REPLICATIONS = 6
"""Replications of the runs that measure the moments' simulation noise (start and end)."""
INITIAL_RADIUS = 0.08
"""Half-width of the first search box, as a share of each parameter's range."""
MIN_RADIUS = 0.02
"""The box shrinks to this half-width and no further: below it the simulation noise of the
moments would swamp the differences the regression measures."""
FINAL_RADIUS = 0.05
"""Half-width of the last design around the estimate."""
JACOBIAN_RADIUS = 0.1
"""Simulations this close to the estimate (in every parameter, as a share of its range) enter
the regression that gives the Jacobian for the standard errors."""


def _latin_hypercube(
    rng: np.random.Generator, n: int, lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """n points in the box [lo, hi], one in each of n equal slices of every axis."""
    k = len(lo)
    slices = np.column_stack([rng.permutation(n) for _ in range(k)])
    u = (slices + rng.random((n, k))) / n
    return np.asarray(lo + u * (hi - lo), dtype=np.float64)


def _mean_moments(
    scenario: Scenario, seed: int, replications: int, wanted: list[str]
) -> npt.NDArray[np.float64]:
    sims = simulated_moments(scenario, seed, replications)
    return np.array([float(np.mean(sims[w])) for w in wanted])


def _delta_covariance(
    jac: npt.NDArray[np.float64], sigma: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(G' W G)^-1 with W = diag(1 / sigma^2): the delta method for an exactly or
    over-identified fit with the optimal weights."""
    weighted = jac / sigma[:, None]
    info = weighted.T @ weighted
    try:
        return np.asarray(np.linalg.inv(info), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.full(info.shape, np.inf)


def parameter_of(scenario: Scenario, path: str) -> Param:
    """The parameter at a key path (``categories[2].exit_other``)."""
    node: Any = scenario
    for part in path.replace("]", "").replace("[", ".").split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    if not isinstance(node, Param):
        raise StreetlevelError(f"{path}: not a parameter")
    return node


def _current(scenario: Scenario, path: str) -> float:
    value = parameter_of(scenario, path).value
    assert isinstance(value, int | float)
    return float(value)


def _record(
    scenario: Scenario, estimates: list[Estimate], targets: list[str], date: str, command: str
) -> Scenario:
    """The scenario with the estimates set and each parameter's calibration recorded."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    for e in estimates:
        node: Any = data
        parts = e.path.replace("]", "").replace("[", ".").split(".")
        for part in parts:
            node = node[int(part)] if part.isdigit() else node[part]
        node["value"] = round(e.value, 6)
        node["source"] = "calibrated: simulated method of moments to the published figures"
        interval = [e.low, e.high] if math.isfinite(e.se) else None
        node["calibration"] = {
            "method": "simulated method of moments (common random numbers)",
            "targets": targets,
            "date": date,
            "command": command,
            **({"interval": [round(v, 6) for v in interval]} if interval else {}),
        }
    return scenario_from_dict(data, "calibration")


def write_calibrated(result: CalibrationResult, path: Path) -> None:
    """Write the calibrated scenario as TOML (atomically)."""
    write_text_atomic(scenario_to_toml(result.scenario), Path(path))
