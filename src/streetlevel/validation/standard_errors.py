"""Standard errors of a calibration: the Jacobian at the estimate, the delta method's
covariance of the estimates, and whether each parameter is identified.

The Jacobian ``G`` of the moments comes from a regression of the moments on the parameters
over every simulation near the estimate (the search's last design and any earlier one within
:data:`JACOBIAN_RADIUS`), so that the slopes rise above the simulation noise. The covariance
of the estimates is the delta method's, ``Var(theta) = (G' W G)^-1`` with
``W = diag(1 / sigma^2)``: how far each parameter could move while the moments stay within
what the published figures and the simulation allow. A parameter whose 95 % interval covers
more than half its bounds is reported as weakly identified; one the moments do not move at
all, as not identified.

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
]

F64 = npt.NDArray[np.float64]

JACOBIAN_RADIUS = 0.1
"""Simulations this close to the estimate (in every parameter, as a share of its range) enter
the regression that gives the Jacobian for the standard errors."""
WEAK_COVERAGE = 0.5
"""A parameter whose 95 % interval covers more than this share of its bounds is weakly
identified."""
IDENTIFICATION = {
    "none": "not identified (the moments do not move with it)",
    "weak": "weakly identified (interval covers most of its range)",
    "well": "well identified",
}
"""The verdicts, as the report prints them."""


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


def local_jacobian(points: Sequence[F64], values: Sequence[F64], best: F64) -> F64:
    """The slopes of the moments in the unit-cube parameters at ``best``: a linear regression
    on every simulated point within :data:`JACOBIAN_RADIUS` of it (moments x parameters)."""
    x = np.array(points) - best
    near = np.max(np.abs(x), axis=1) <= JACOBIAN_RADIUS
    design = np.column_stack([np.ones(int(near.sum())), x[near]])
    coef, *_ = np.linalg.lstsq(design, np.array(values)[near], rcond=None)
    return np.asarray(coef[1:].T, dtype=np.float64)


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
) -> list[Estimate]:
    """Each parameter's estimate, standard error, 95 % interval (cut at the bounds, which the
    search never leaves) and identification verdict."""
    out = []
    for i, name in enumerate(names):
        var = covariance[i, i]
        se = math.sqrt(var) if np.isfinite(var) and var >= 0 else math.inf
        low = max(theta[i] - Z95 * se, lower[i])
        high = min(theta[i] + Z95 * se, upper[i])
        covered = (high - low) / (upper[i] - lower[i])
        verdict = (
            IDENTIFICATION["none"]
            if not math.isfinite(se)
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
