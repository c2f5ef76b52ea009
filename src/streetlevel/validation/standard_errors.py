"""Standard errors of a calibration: the Jacobian at the estimate, the delta method's
covariance of the estimates, and whether each parameter is identified.

The Jacobian ``G`` of the moments comes from a regression of the moments on the parameters
over every simulation near the estimate (the search's last design and any earlier one within
:data:`JACOBIAN_RADIUS`), so that the slopes rise above the simulation noise. The covariance
of the estimates is the delta method's, ``Var(theta) = (G' W G)^-1`` with
``W = diag(1 / sigma^2)``: how far each parameter could move while the moments stay within
what the published figures and the simulation allow. A parameter whose 95 % CI covers
more than half its bounds is reported as weakly identified; one the moments do not move
beyond the simulation noise (no slope of it in that regression differs from zero at the 5 %
level, Bonferroni-corrected over the moments: :func:`moves_beyond_noise`), or whose standard
error is undefined, as not identified by the moments. The delta method's interval of such a
parameter measures noise, not the data: a regression on noise has slopes too.

>>> import numpy as np
>>> jac = np.array([[2.0, 0.0], [0.0, 0.5]])  # two moments, each moved by one parameter
>>> delta_covariance(jac, sigma=np.array([0.1, 0.1])).round(4).tolist()
[[0.0025, 0.0], [0.0, 0.04]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.constants import Z95

__all__ = [
    "IDENTIFICATION",
    "JACOBIAN_RADIUS",
    "WEAK_COVERAGE",
    "Estimate",
    "delta_covariance",
    "estimates",
    "local_jacobian",
    "moves_beyond_noise",
]

F64 = npt.NDArray[np.float64]

JACOBIAN_RADIUS = 0.1
"""Simulations this close to the estimate (in every parameter, as a share of its range) enter
the regression that gives the Jacobian for the standard errors."""
WEAK_COVERAGE = 0.5
"""A parameter whose 95 % CI covers more than this share of its bounds is weakly
identified."""
IDENTIFICATION = {
    "none": "not identified by the moments",
    "weak": "weakly identified",
    "well": "well identified",
}
"""The verdicts, as the report prints them."""
MEANING = {
    IDENTIFICATION["none"]: "the moments do not move with it beyond the simulation noise, or "
    "its standard error is undefined: its estimate is where the search stopped, not a fit",
    IDENTIFICATION["weak"]: f"its 95 % CI covers more than {WEAK_COVERAGE:.0%} of its bounds",
    IDENTIFICATION["well"]: "the moments pin it down within its bounds",
}
"""What each verdict means, as the report explains it below the table."""
SIGNIFICANCE = 0.05
"""Level of the test that a parameter moves some moment (two-sided, Bonferroni-corrected
over the moments)."""


@dataclass(frozen=True)
class Estimate:
    """A fitted parameter with its standard error and 95 % CI."""

    path: str
    start: float
    value: float
    se: float
    low: float
    high: float
    lower: float
    upper: float
    identified: str


def local_jacobian(points: Sequence[F64], values: Sequence[F64], best: F64) -> F64:
    """The slopes of the moments in the unit-cube parameters at ``best``: a linear regression
    on every simulated point within :data:`JACOBIAN_RADIUS` of it (moments x parameters)."""
    return _local_fit(points, values, best)[0]


def moves_beyond_noise(
    points: Sequence[F64], values: Sequence[F64], best: F64
) -> npt.NDArray[np.bool_]:
    """Whether each parameter moves some moment beyond the simulation noise: in the
    regression of :func:`local_jacobian`, one of its slopes differs from zero (a t test at
    :data:`SIGNIFICANCE`, Bonferroni-corrected over the moments). Without residual degrees
    of freedom nothing can be judged, and every parameter counts as moving.

    >>> rng = np.random.default_rng(1)
    >>> u = 0.45 + 0.1 * rng.random((30, 2))  # within JACOBIAN_RADIUS of the centre
    >>> m = np.column_stack([3 * u[:, 0] + rng.normal(0, 0.01, 30), rng.normal(0, 0.01, 30)])
    >>> moves_beyond_noise(list(u), list(m), np.full(2, 0.5)).tolist()  # the 2nd moves nothing
    [True, False]
    """
    from scipy.stats import t as student_t

    jac, se, dof = _local_fit(points, values, best)
    if dof <= 0:
        return np.ones(jac.shape[1], dtype=bool)
    critical = student_t.ppf(1 - SIGNIFICANCE / (2 * jac.shape[0]), dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(jac) / se
    return np.asarray(np.any(t > critical, axis=0), dtype=bool)


def _local_fit(points: Sequence[F64], values: Sequence[F64], best: F64) -> tuple[F64, F64, int]:
    """The regression of :func:`local_jacobian`: the slopes, their standard errors (moments
    x parameters) and the residual degrees of freedom."""
    x = np.array(points) - best
    near = np.max(np.abs(x), axis=1) <= JACOBIAN_RADIUS
    design = np.column_stack([np.ones(int(near.sum())), x[near]])
    y = np.array(values)[near]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = design.shape[0] - design.shape[1]
    residual = y - design @ coef
    scale = np.sum(residual**2, axis=0) / max(dof, 1)  # each moment's residual variance
    inverse = np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.outer(scale, np.diag(inverse)[1:]))
    return np.asarray(coef[1:].T, dtype=np.float64), np.asarray(se, dtype=np.float64), dof


def delta_covariance(jac: F64, sigma: F64) -> F64:
    """(G' W G)^-1 with W = diag(1 / sigma^2): the delta method for an exactly or
    over-identified fit with the optimal weights; infinite where ``G' W G`` is singular."""
    weighted = jac / sigma[:, None]
    info = weighted.T @ weighted
    try:
        inverse = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full(info.shape, np.inf)
    # Symmetric exactly, as a covariance is (the inverse is so only up to rounding); the
    # diagonal, and so every standard error, is unchanged.
    return np.asarray((inverse + inverse.T) / 2, dtype=np.float64)


def estimates(
    names: Sequence[str],
    start: F64,
    theta: F64,
    covariance: F64,
    lower: F64,
    upper: F64,
    moves: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
) -> list[Estimate]:
    """Each parameter's estimate, standard error, 95 % CI (cut at the bounds, which the
    search never leaves) and identification verdict; ``moves`` says which parameters move a
    moment beyond the noise (:func:`moves_beyond_noise`; default: all)."""
    out = []
    for i, name in enumerate(names):
        var = covariance[i, i]
        se = math.sqrt(var) if np.isfinite(var) and var >= 0 else math.inf
        low = max(theta[i] - Z95 * se, lower[i])
        high = min(theta[i] + Z95 * se, upper[i])
        covered = (high - low) / (upper[i] - lower[i])
        verdict = (
            IDENTIFICATION["none"]
            if not math.isfinite(se) or (moves is not None and not moves[i])
            else IDENTIFICATION["weak"]
            if covered > WEAK_COVERAGE
            else IDENTIFICATION["well"]
        )
        out.append(
            Estimate(
                name,
                float(start[i]),
                float(theta[i]),
                se,
                float(low),
                float(high),
                float(lower[i]),
                float(upper[i]),
                verdict,
            )
        )
    return out
