"""Calibration: fit the parameters the studies do not give to the published figures.

The method is the simulated method of moments with common random numbers (McFadden 1989;
Pakes & Pollard 1989): the simulated moments m(theta) are the summary indicators of a run with
a fixed seed, so two nearby thetas see the same random draws and the objective is smooth enough
for a derivative-based optimiser; theta minimises

    sum_j ((m_j(theta) - published_j) / sigma_j)^2

(``scipy.optimize.least_squares``, trust-region reflective within each parameter's bounds).
``sigma_j`` combines the precision each figure was published to (a figure rounded to the
nearest point is uniform within half a point: variance ``precision^2 / 3``) and the simulation
noise of the moment at the evaluation's replications. With as many moments as parameters the
model is exactly identified and the standard errors are the delta method's,
``Var(theta) = G^-1 Omega G^-T``, with ``G`` the Jacobian of the moments at the estimate and
``Omega`` the moments' variance: how far each parameter could move while the moments stay
within what the published figures allow. A parameter whose interval covers most of its
bounds is reported as weakly identified.

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
import pandas as pd
from scipy.optimize import least_squares

from streetlevel.engine import Simulation
from streetlevel.errors import StreetlevelError
from streetlevel.loading import scenario_from_dict, scenario_to_toml, with_values
from streetlevel.records import write_text_atomic
from streetlevel.scenario import Scenario
from streetlevel.summary import replication_indicators
from streetlevel.targets import Target, load_targets

__all__ = [
    "DANISH_PARAMETERS",
    "CalibrationResult",
    "Estimate",
    "FreeParameter",
    "calibrate",
    "simulated_moments",
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
    FreeParameter("attendance.intercept", -5.0, -0.5, "national_sanction_rate"),
    FreeParameter("attendance.motivation", -3.5, -0.2, "repeat_share"),
    FreeParameter("decision.benefit_office.intercept", -5.0, 3.0, "sanction_rate_municipality_a"),
    FreeParameter(
        "municipalities[1].management_strictness", 0.0, 1.0, "sanction_rate_municipality_b"
    ),
    FreeParameter("exits.duration_decay", 0.0, 0.4, "long_term_5y_share"),
    FreeParameter("categories[2].exit_other", 0.0005, 0.02, "long_term_10y_share"),
)
"""What ``calibrate denmark-2011`` fits by default: one parameter per numeric target of the
Danish register figures (base absence rate, heterogeneity of motivation, the cash-benefit
office's decision intercept, Municipality B's norm, duration dependence of exits, and the exit
rate of the passive category)."""


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
    method: str = "simulated method of moments, common random numbers (scipy least_squares)"
    history: list[dict[str, float]] = field(default_factory=list)


def simulated_moments(
    scenario: Scenario, seed: int, replications: int
) -> dict[str, npt.NDArray[np.float64]]:
    """Run without writing anything and return each summary indicator per replication."""
    sim = Simulation(scenario, seed, list(range(replications)))
    sim.run()
    reporting = sim.yearly[sim.burn_in_years :]
    frame = pd.concat([pd.DataFrame(year) for year in reporting], ignore_index=True)
    names = np.asarray(sim.country.names, dtype=object)
    frame["municipality"] = names[frame["municipality"].to_numpy()]
    return {name: values for name, values, _ in replication_indicators(frame, scenario)}


def _sigma(target: Target, spread: float, replications: int) -> float:
    """Standard deviation of (simulated mean - published) under the targets' precision."""
    published_var = target.precision**2 / 3.0
    if target.sample_size is not None and target.value is not None:
        published_var += target.value * (1 - target.value) / target.sample_size
    return math.sqrt(published_var + spread**2 / replications)


def calibrate(
    scenario: Scenario,
    parameters: tuple[FreeParameter, ...] = DANISH_PARAMETERS,
    seed: int = 1,
    replications: int = 2,
    budget: int = 150,
    workers: int = 1,
    targets: list[Target] | None = None,
    command: str | None = None,
    on_evaluation: Callable[[int, int, float], None] | None = None,
) -> CalibrationResult:
    """Fit ``parameters`` to the scenario's targets; ``budget`` caps the simulations run by
    the search, and ``workers`` processes evaluate the finite differences side by side (the
    result does not depend on them: every evaluation uses the same seed). ``targets``
    default to the published figures that describe the scenario."""
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

    # The noise of each moment at the start sets its weight (and is re-measured at the end).
    first = simulated_moments(at((start - lower) / width), seed, replications)
    spread = np.array(
        [float(np.std(first[w], ddof=1)) if replications > 1 else 0.0 for w in wanted]
    )
    sigma = np.array(
        [_sigma(by_name[w], s, replications) for w, s in zip(wanted, spread, strict=True)]
    )
    cache: dict[bytes, npt.NDArray[np.float64]] = {}
    pool = ProcessPoolExecutor(workers) if workers > 1 else None

    def evaluate(points: list[npt.NDArray[np.float64]]) -> None:
        """Simulate the points not yet in the cache (side by side with workers)."""
        todo = [u for u in points if np.round(u, 12).tobytes() not in cache]
        if len(cache) + len(todo) > budget:
            raise _BudgetSpentError
        scenarios = [at(u) for u in todo]
        if pool is not None:
            results = list(
                pool.map(
                    _mean_moments, scenarios, repeat(seed), repeat(replications), repeat(wanted)
                )
            )
        else:
            results = [_mean_moments(s, seed, replications, wanted) for s in scenarios]
        for u, m in zip(todo, results, strict=True):
            cache[np.round(u, 12).tobytes()] = m
            history.append(
                {
                    "evaluation": len(cache),
                    **{p.path: float(lower[i] + width[i] * u[i]) for i, p in enumerate(parameters)},
                    **{w: float(m[j]) for j, w in enumerate(wanted)},
                }
            )
            if on_evaluation is not None:
                r = (m - published) / sigma
                on_evaluation(len(cache), budget, float(r @ r))

    def moments(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        evaluate([u])
        return cache[np.round(u, 12).tobytes()]

    def steps(u: npt.NDArray[np.float64], h: float) -> list[npt.NDArray[np.float64]]:
        """u + h e_i for each parameter, stepping inwards at a bound."""
        out = []
        for i in range(len(u)):
            v = u.copy()
            v[i] = u[i] + h if u[i] + h <= 1.0 else u[i] - h
            out.append(v)
        return out

    def jacobian(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Forward differences of 2 % of each parameter's range: large enough that common
        # random numbers give a smooth quotient, small enough to stay local.
        points = steps(u, DIFF_STEP)
        evaluate([u, *points])
        base = moments(u)
        cols = [(moments(v) - base) / (v[i] - u[i]) for i, v in enumerate(points)]
        return np.asarray(np.column_stack(cols) / sigma[:, None], dtype=np.float64)

    def residuals(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray((moments(u) - published) / sigma, dtype=np.float64)

    u0 = (start - lower) / width
    best = u0
    try:
        # A step of 2 % of each parameter's range: large enough that common random numbers
        # give a smooth difference quotient, small enough to stay local.
        fit = least_squares(
            residuals,
            u0,
            jac=jacobian,
            bounds=(0.0, 1.0),
            method="trf",
            x_scale=1.0,
            max_nfev=budget,
        )
        best = fit.x
    except _BudgetSpentError:
        best = _best_seen(cache, published, sigma, u0)
    # The Jacobian of the moments themselves at the estimate (outside the search's budget),
    # per unit of each parameter, for the standard errors.
    budget = len(cache) + len(parameters) + 1
    try:
        jac = jacobian(best) * sigma[:, None] / width[None, :]
    finally:
        if pool is not None:
            pool.shutdown()
    final = simulated_moments(at(best), seed, replications)
    spread = np.array(
        [float(np.std(final[w], ddof=1)) if replications > 1 else 0.0 for w in wanted]
    )
    sigma = np.array(
        [_sigma(by_name[w], s, replications) for w, s in zip(wanted, spread, strict=True)]
    )
    theta = lower + width * best
    cov = _delta_covariance(jac, sigma)
    estimates = []
    for i, p in enumerate(parameters):
        se = math.sqrt(cov[i, i]) if np.isfinite(cov[i, i]) and cov[i, i] >= 0 else math.inf
        low, high = theta[i] - 1.96 * se, theta[i] + 1.96 * se
        covered = (min(high, p.upper) - max(low, p.lower)) / (p.upper - p.lower)
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
        evaluations=len(cache) + 2,
        seconds=time.perf_counter() - started,
        seed=seed,
        replications=replications,
        history=history,
    )


class _BudgetSpentError(Exception):
    """The evaluation budget ran out inside the optimiser."""


def _best_seen(
    cache: dict[bytes, npt.NDArray[np.float64]],
    published: npt.NDArray[np.float64],
    sigma: npt.NDArray[np.float64],
    fallback: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    best, best_loss = fallback, math.inf
    for key, m in cache.items():
        r = (m - published) / sigma
        if float(r @ r) < best_loss:
            best, best_loss = np.frombuffer(key, dtype=np.float64).copy(), float(r @ r)
    return best


DIFF_STEP = 0.02
"""Finite-difference step, as a share of each parameter's range."""


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


def _current(scenario: Scenario, path: str) -> float:
    data: Any = scenario.model_dump(mode="json")
    for part in path.replace("]", "").replace("[", ".").split("."):
        data = data[int(part)] if part.isdigit() else data[part]
    return float(data["value"])


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
