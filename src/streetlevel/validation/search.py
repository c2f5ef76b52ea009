"""The search of a calibration: the local-regression loop of the simulated method of moments.

Common random numbers make nearby runs alike but not smooth in theta: once a decision flips,
later draws are consumed differently, so finite differences of a few per cent are mostly
noise. The search therefore fits the moments locally instead of differencing them: each round
simulates the current centre and a Latin hypercube of 2k + 1 points in a box around it,
regresses the moments on the parameters (one regression gives every slope, and averages the
noise), and moves to the point where the fitted moments come closest to the targets within
the box (``scipy.optimize.lsq_linear``). A move whose fit turns out worse than the best so far
(judged on the next round's regression at the new centre, which averages the noise of its
2k + 2 runs) is taken back and the box halved; the box also halves once the steps stay well
inside it. The estimate is the best centre. The budget left at the end buys a last, larger
design around the estimate, from which (with every earlier simulation near it)
:mod:`streetlevel.validation.standard_errors` takes the Jacobian.

Parameters are searched on the unit cube: ``u = (theta - lower) / (upper - lower)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.errors import StreetlevelError
from streetlevel.output.executor import Executor
from streetlevel.output.run import run_in_memory
from streetlevel.scenario.loading import with_values
from streetlevel.scenario.schema import Scenario

if TYPE_CHECKING:
    # For annotations only (targets imports scipy.stats), as search imports SciPy's optimiser
    # itself: the search's tasks (_mean_moments) run in worker processes that import this
    # module and need neither (half a second per worker; docs/performance.md).
    from streetlevel.validation.targets import Target

__all__ = [
    "FINAL_RADIUS",
    "INITIAL_RADIUS",
    "MIN_RADIUS",
    "NOISE_REPLICATIONS",
    "Problem",
    "Search",
    "check_budget",
    "final_size",
    "least_budget",
    "moving_budget",
    "round_size",
    "search",
    "sigma_of",
    "simulated_moments",
]

F64 = npt.NDArray[np.float64]

NOISE_REPLICATIONS = 6
"""Replications of the runs that measure the moments' simulation noise (start and end)."""
INITIAL_RADIUS = 0.08
"""Half-width of the first search box, as a share of each parameter's range."""
MIN_RADIUS = 0.02
"""The box shrinks to this half-width and no further: below it the simulation noise of the
moments would swamp the differences the regression measures."""
FINAL_RADIUS = 0.05
"""Half-width of the last design around the estimate."""


@dataclass(frozen=True)
class Problem:
    """What is fitted: the scenario, its free parameters (their key paths as written, and by
    position for :func:`~streetlevel.scenario.loading.with_values`), where the search starts,
    their bounds, and the target each mainly moves, in the parameters' order."""

    scenario: Scenario
    names: list[str]
    paths: list[str]
    start: F64
    """The scenario's values, within the bounds."""
    lower: F64
    upper: F64
    targets: list[Target]
    seed: int
    replications: int

    @property
    def width(self) -> F64:
        return np.asarray(self.upper - self.lower, dtype=np.float64)

    @property
    def wanted(self) -> list[str]:
        """The moments, by target name."""
        return [t.name for t in self.targets]

    @property
    def published(self) -> F64:
        return np.array([t.published for t in self.targets])

    def theta(self, u: F64) -> F64:
        """The parameters at a point of the unit cube (clipped to it)."""
        return np.asarray(self.lower + self.width * np.clip(u, 0.0, 1.0), dtype=np.float64)

    def unit(self, theta: F64) -> F64:
        return np.asarray((theta - self.lower) / self.width, dtype=np.float64)

    def at(self, u: F64) -> Scenario:
        """The scenario with the parameters at ``u``."""
        values = {p: float(v) for p, v in zip(self.paths, self.theta(u), strict=True)}
        return with_values(self.scenario, values, "calibration")

    def moments(self, u: F64, replications: int) -> dict[str, F64]:
        """Each moment per replication at ``u``, with the problem's seed."""
        return simulated_moments(self.at(u), self.seed, replications)

    def sigma(self, sims: dict[str, F64], replications: int) -> F64:
        """Each moment's sigma: the published figure's precision and the simulation noise of
        a mean over ``replications``, measured by the spread of ``sims``."""
        spread = [float(np.std(sims[w], ddof=1)) for w in self.wanted]
        return np.array(
            [sigma_of(t, sd, replications) for t, sd in zip(self.targets, spread, strict=True)]
        )


@dataclass
class Search:
    """The points simulated (on the unit cube), their mean moments, and the best centre."""

    best: F64
    points: list[F64] = field(default_factory=list)
    values: list[F64] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    rounds: int = 0
    """Rounds of the search run (the last design around the estimate not counted)."""


def simulated_moments(scenario: Scenario, seed: int, replications: int) -> dict[str, F64]:
    """Run without writing anything and return each summary indicator per replication."""
    return {
        k: np.asarray(v, dtype=np.float64)
        for k, v in run_in_memory(scenario, seed, replications).items()
    }


def sigma_of(target: Target, spread: float, replications: int) -> float:
    """Standard deviation of (simulated mean - published) under the target's precision: a
    figure rounded to the nearest point is uniform within half a point (variance
    ``precision^2 / 3``), a share from a sample adds its sampling variance, and the mean of
    ``replications`` simulations adds ``spread^2 / replications``."""
    published_var = target.precision**2 / 3.0
    if target.sample_size is not None and target.value is not None:
        published_var += target.value * (1 - target.value) / target.sample_size
    return math.sqrt(published_var + spread**2 / replications)


def round_size(k: int) -> int:
    """Simulations per round of the search for ``k`` parameters: the centre and 2k + 1."""
    return max(2 * k + 2, 4)


def final_size(k: int) -> int:
    """Simulations of the last design, around the estimate."""
    return 2 * round_size(k)


def least_budget(k: int) -> int:
    """The least budget for ``k`` parameters: one round of the search and the final design,
    6 (k + 1) simulations (``streetlevel calibrate --budget`` says so).

    One round cannot move the estimate: a step is kept only once the next round, at the new
    centre, has judged it, so a search that moves needs :func:`moving_budget`.

    >>> least_budget(1), least_budget(7)
    (12, 48)
    """
    return round_size(k) + final_size(k)


def moving_budget(k: int) -> int:
    """The least budget with which the search can take and judge one step: two rounds and
    the final design.

    >>> moving_budget(7)
    64
    """
    return least_budget(k) + round_size(k)


def check_budget(k: int, budget: int) -> None:
    """Refuse a budget too small for one round of the search and the final design.

    Raises:
        StreetlevelError: naming the least budget for ``k`` parameters.
    """
    per_round, final_n = round_size(k), final_size(k)
    if budget < least_budget(k):
        raise StreetlevelError(
            f"calibrate: a budget of {budget} simulations is too small for {k} parameters "
            f"(at least {per_round + final_n}: one search round of {per_round} and the final "
            f"design of {final_n})"
        )


def search(
    problem: Problem,
    sigma: F64,
    budget: int,
    pool: Executor,
    on_evaluation: Callable[[int, int, float], None] | None = None,
) -> Search:
    """Search from ``problem.start`` within ``budget`` simulations, ``pool`` running each
    round's simulations side by side (the result does not depend on it: every simulation
    uses the same seed, and the designs are drawn from that seed here)."""
    from scipy.optimize import lsq_linear

    k = len(problem.names)
    check_budget(k, budget)
    per_round, final_n = round_size(k), final_size(k)
    published, wanted = problem.published, problem.wanted
    lower, width = problem.lower, problem.width
    rng = np.random.default_rng(problem.seed)
    found = Search(best=problem.unit(problem.start))

    def evaluate(batch: list[F64]) -> None:
        """Simulate a batch of points side by side, all with the same seed."""
        n = len(batch)
        means = pool.map(
            _mean_moments,
            [problem.at(u) for u in batch],
            [problem.seed] * n,
            [problem.replications] * n,
            [wanted] * n,
        )
        for u, m in zip(batch, means, strict=True):
            found.points.append(u)
            found.values.append(m)
            found.history.append(
                {
                    "evaluation": len(found.points),
                    **{
                        name: float(lower[i] + width[i] * u[i])
                        for i, name in enumerate(problem.names)
                    },
                    **{w: float(m[j]) for j, w in enumerate(wanted)},
                }
            )
            if on_evaluation is not None:
                r = (m - published) / sigma
                on_evaluation(len(found.points), budget, float(r @ r))

    def loss(m: F64) -> float:
        r = (m - published) / sigma
        return float(r @ r)

    center = found.best
    radius = INITIAL_RADIUS
    best_loss = math.inf
    while len(found.points) + per_round + final_n <= budget:
        # The centre and a Latin hypercube around it: every parameter moves at once, so one
        # regression gives all the slopes, and the noise of each run averages out.
        lo, hi = np.maximum(center - radius, 0.0), np.minimum(center + radius, 1.0)
        evaluate([center, *latin_hypercube(rng, per_round - 1, lo, hi)])
        found.rounds += 1
        x = np.array(found.points[-per_round:]) - center
        design = np.column_stack([np.ones(per_round), x])
        coef, *_ = np.linalg.lstsq(design, np.array(found.values[-per_round:]), rcond=None)
        level, jac_u = coef[0], coef[1:].T
        # The fit at the centre is judged on the regression's level there, which averages the
        # round's noise: a single run's luck must not decide the search.
        at_center = loss(level)
        if at_center >= best_loss:
            # The last step made the fit worse: go back to the best point, look closer.
            center, radius = found.best, max(radius / 2, MIN_RADIUS)
            continue
        found.best, best_loss = center, at_center
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
    # The last design around the estimate, for the Jacobian of the standard errors.
    lo = np.maximum(found.best - FINAL_RADIUS, 0.0)
    hi = np.minimum(found.best + FINAL_RADIUS, 1.0)
    evaluate(list(latin_hypercube(rng, final_n, lo, hi)))
    return found


def latin_hypercube(rng: np.random.Generator, n: int, lo: F64, hi: F64) -> F64:
    """n points in the box [lo, hi], one in each of n equal slices of every axis."""
    k = len(lo)
    slices = np.column_stack([rng.permutation(n) for _ in range(k)])
    u = (slices + rng.random((n, k))) / n
    return np.asarray(lo + u * (hi - lo), dtype=np.float64)


def _mean_moments(scenario: Scenario, seed: int, replications: int, wanted: list[str]) -> F64:
    """A task of the search: the mean of each wanted moment over the replications."""
    sims = simulated_moments(scenario, seed, replications)
    return np.array([float(np.mean(sims[w])) for w in wanted])
