"""Calibration: fit the parameters the studies do not give to the published figures.

:func:`calibrate_scenario` is what ``streetlevel calibrate`` runs: a scenario with job
placements (``norway-2010``) is calibrated by indirect inference on DK's survey
(:mod:`streetlevel.survey.indirect`); any other by :func:`calibrate`, the simulated method of
moments with common random numbers (McFadden 1989; Pakes & Pollard 1989), over the free
parameters of a calibration set-up (:mod:`~streetlevel.validation.calibration_setup`: which
parameters, their bounds, units and sources, as data). The simulated moments m(theta) are
summary indicators of runs that all use one seed; theta minimises

    sum_j ((m_j(theta) - published_j) / sigma_j)^2,

where ``sigma_j`` combines the precision each figure was published to (a figure rounded to the
nearest point is uniform within half a point: variance ``precision^2 / 3``) and the simulation
noise of the moment (measured once, from a run with more replications).

A calibration is three steps, one module each: the search
(:mod:`~streetlevel.validation.search`, a local-regression loop within the simulation
budget), the standard errors (:mod:`~streetlevel.validation.standard_errors`: the Jacobian at
the estimate, the delta method's covariance of the estimates and whether each parameter is
identified), and the report (:mod:`~streetlevel.validation.calibration_report`: the result,
its tables and JSON, and the calibrated scenario, whose every fitted parameter records the
calibration: method, targets, date, the command that ran it, the 95 % CI of the estimate
and its row of the covariance matrix). The simulations of a search run side by side on an
executor (:mod:`streetlevel.output.executor`); the result does not depend on how many.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from streetlevel.constants import CALIBRATION_REPLICATIONS, DEFAULT_SEED
from streetlevel.errors import StreetlevelError
from streetlevel.output.executor import executor
from streetlevel.scenario.schema import Scenario
from streetlevel.validation.calibration_report import (
    CalibrationResult,
    SurveyCalibrationResult,
    record_calibration,
    write_calibrated,
)
from streetlevel.validation.calibration_setup import (
    CalibrationSetup,
    FreeParameter,
    check_against,
    load_setup,
    parameter_of,
    setup_for,
)
from streetlevel.validation.search import (
    NOISE_REPLICATIONS,
    Problem,
    check_budget,
    moving_budget,
    search,
    simulated_moments,
)
from streetlevel.validation.standard_errors import (
    IDENTIFICATION,
    Estimate,
    delta_covariance,
    local_jacobian,
    moves_beyond_noise,
)
from streetlevel.validation.standard_errors import estimates as estimates_of
from streetlevel.validation.targets import Target, load_targets

__all__ = [
    "CalibrationResult",
    "CalibrationSetup",
    "Estimate",
    "FreeParameter",
    "SurveyCalibrationResult",
    "calibrate",
    "calibrate_scenario",
    "load_setup",
    "parameter_of",
    "simulated_moments",
    "write_calibrated",
]

OnEvaluation = Callable[[int, int, float], None]
"""Called after each simulation of a search with (simulations done, budget, loss)."""


def calibrate_scenario(
    scenario: Scenario,
    *,
    setup: str | Path | CalibrationSetup | None = None,
    seed: int = DEFAULT_SEED,
    replications: int = CALIBRATION_REPLICATIONS,
    budget: int = 200,
    workers: int = 1,
    scheduler: str | None = None,
    command: str | None = None,
    on_evaluation: OnEvaluation | None = None,
) -> CalibrationResult | SurveyCalibrationResult:
    """Calibrate ``scenario`` by the method that suits it: indirect inference on DK's survey
    for a scenario with job placements, else the simulated method of moments over ``setup``
    (a shipped set-up's name, a set-up file, or by default the set-up that serves the
    scenario's country). ``budget``, ``replications``, ``workers`` and ``scheduler`` (a Dask
    scheduler's address) concern the simulated method of moments only."""
    command = command or " ".join(shlex.quote(a) for a in ["streetlevel", *sys.argv[1:]])
    if scenario.placements is not None:
        from streetlevel.survey.indirect import calibrate_survey

        survey = calibrate_survey(scenario, seed=seed)
        return SurveyCalibrationResult(survey, survey.apply(scenario, command))
    if isinstance(setup, CalibrationSetup):
        chosen = setup
    else:
        chosen = setup_for(scenario) if setup is None else load_setup(setup)
    return calibrate(
        scenario,
        chosen,
        seed=seed,
        replications=replications,
        budget=budget,
        workers=workers,
        scheduler=scheduler,
        command=command,
        on_evaluation=on_evaluation,
    )


def calibrate(
    scenario: Scenario,
    parameters: CalibrationSetup | Sequence[FreeParameter] | None = None,
    seed: int = DEFAULT_SEED,
    replications: int = CALIBRATION_REPLICATIONS,
    budget: int = 200,
    workers: int = 1,
    targets: list[Target] | None = None,
    command: str | None = None,
    on_evaluation: OnEvaluation | None = None,
    scheduler: str | None = None,
) -> CalibrationResult:
    """Fit ``parameters`` (a set-up, or free parameters; by default the set-up that serves the
    scenario) to the scenario's targets by the simulated method of moments.

    ``budget`` caps the simulations of the search, and ``workers`` processes (or the Dask
    cluster at ``scheduler``) run each round's simulations side by side: the result does not
    depend on them, since every simulation uses the same seed. ``targets`` default to the
    published figures that describe the scenario (or, for a set-up, the preset it names).
    """
    started = time.perf_counter()
    name = scenario.scenario.name
    setup = setup_for(scenario) if parameters is None else parameters
    if isinstance(setup, CalibrationSetup):
        free = list(setup.parameters)
        paths = check_against(free, scenario, setup.origin)
        if targets is None:
            targets = load_targets(name) or load_targets(setup.targets)
    else:
        free = list(setup)
        paths = check_against(free, scenario)
        if targets is None:
            targets = load_targets(name)
    check_budget(len(free), budget)
    by_name = {t.name: t for t in targets}
    missing = [p.moves for p in free if p.moves not in by_name]
    if missing:
        raise StreetlevelError(f"calibrate {name}: no published figure for {', '.join(missing)}")
    lower = np.array([p.lower for p in free])
    upper = np.array([p.upper for p in free])
    start = np.clip(np.array([_current(scenario, p.path) for p in free]), lower, upper)
    problem = Problem(
        scenario=scenario,
        names=[p.path for p in free],
        paths=paths,
        start=start,
        lower=lower,
        upper=upper,
        targets=[by_name[p.moves] for p in free],
        seed=seed,
        replications=replications,
    )
    # The simulation noise of each moment, from one run with more replications, sets its
    # weight (with the published figure's precision) for the whole search.
    noise_reps = max(replications, NOISE_REPLICATIONS)
    sigma = problem.sigma(problem.moments(problem.unit(start), noise_reps), replications)
    with executor(workers, scheduler) as pool:
        found = search(problem, sigma, budget, pool, on_evaluation)
    # Standard errors at the estimate: the Jacobian per unit of each parameter, and the
    # moments' sigma measured again there.
    jac = local_jacobian(found.points, found.values, found.best) / problem.width[None, :]
    final = problem.moments(found.best, noise_reps)
    sigma = problem.sigma(final, noise_reps)
    moved = not np.array_equal(found.best, problem.unit(start))
    # Unmoved, the estimate is the start exactly (not its round trip through the unit cube).
    theta = problem.lower + problem.width * found.best if moved else start
    covariance = delta_covariance(jac, sigma)
    moves = moves_beyond_noise(found.points, found.values, found.best)
    estimates = estimates_of(problem.names, start, theta, covariance, lower, upper, moves)
    published = problem.published
    rows = [
        {
            "target": w,
            "published": float(published[j]),
            "simulated": float(np.mean(final[w])),
            "sigma": float(sigma[j]),
        }
        for j, w in enumerate(problem.wanted)
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    command = command or " ".join(shlex.quote(a) for a in ["streetlevel", *sys.argv[1:]])
    calibrated = record_calibration(scenario, estimates, covariance, problem.wanted, stamp, command)
    return CalibrationResult(
        scenario=calibrated,
        estimates=estimates,
        covariance=covariance.tolist(),
        moments=rows,
        evaluations=len(found.points) + 2,
        seconds=time.perf_counter() - started,
        seed=seed,
        replications=replications,
        setup=setup.name if isinstance(setup, CalibrationSetup) else None,
        history=found.history,
        warnings=_warnings(
            estimates,
            found.rounds,
            budget,
            moved=moved,
        ),
    )


def _warnings(estimates: list[Estimate], rounds: int, budget: int, *, moved: bool) -> list[str]:
    """What a reader must know before trusting the estimates, said plainly."""
    out = []
    if not moved:
        why = (
            "the budget paid for one round of the search, and a step is kept only once the "
            "next round has judged it"
            if rounds <= 1
            else f"no step it tried in {rounds} rounds improved the fit"
        )
        out.append(
            f"the search did not move: every estimate is its starting value ({why}). The "
            "intervals describe the starting values, not a fit; give a larger --budget (at "
            f"least {moving_budget(len(estimates))} to try and judge one step; {budget} was given)."
        )
    flat = [e.path for e in estimates if e.identified == IDENTIFICATION["none"]]
    if flat:
        out.append(
            f"not identified by the moments: {', '.join(flat)}. The published figures do not "
            "move with them beyond the simulation noise here, so their estimates are where "
            "the search stopped, not a fit; fix them from a study, or calibrate with more "
            "--replications or a larger --budget."
        )
    return out


def _current(scenario: Scenario, path: str) -> float:
    value = parameter_of(scenario, path).value
    assert isinstance(value, int | float)
    return float(value)
