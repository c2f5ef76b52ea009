"""The two intervals a figure has across replications (their names:
:mod:`streetlevel.output.catalogue`).

- The spread of replications: the 2.5th and 97.5th percentiles of the replications' figures,
  where one replication's figure falls, which is what a published figure is compared with.
  More replications pin its ends down; they do not narrow it.
- The 95 % CI of the mean: mean ± t(0.975, n − 1)·sd/√n, how well the replications pin the
  mean down; it narrows as they grow.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "CI_LEVEL",
    "INTERVAL",
    "SPREAD_COVERAGE",
    "interval",
    "mean_ci",
    "spread_coverage",
    "t_quantile",
]

INTERVAL = (2.5, 97.5)
"""Percentiles of the spread of replications
(:data:`~streetlevel.output.catalogue.SPREAD_PERCENTILES`)."""
CI_LEVEL = 0.975
"""The upper quantile of Student's t in the two-sided 95 % CI of the mean."""
SPREAD_COVERAGE = 0.9
"""The least share of new replications the spread of replications should hold before the
summary says it holds fewer (:func:`spread_coverage`): 19 replications."""


def interval(per_replication: npt.ArrayLike) -> tuple[float, float, float]:
    """Mean and spread of replications (2.5th and 97.5th percentiles) of a figure.

    >>> interval([0.1, 0.2, 0.3])
    (0.2, 0.105, 0.295)
    """
    values = np.asarray(per_replication, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (float("nan"),) * 3
    low, high = np.percentile(values, INTERVAL)
    return (round(float(values.mean()), 12), round(float(low), 12), round(float(high), 12))


def t_quantile(dof: int) -> float:
    """Student's t quantile of a two-sided 95 % interval (:data:`CI_LEVEL`) on ``dof``
    degrees of freedom: the CI of the mean here, ``validate``'s prediction interval too.

    >>> round(t_quantile(2), 4)
    4.3027
    """
    # scipy.special, not scipy.stats: the t quantile alone, without the 0.4 s import of
    # every distribution, which each `run` and `summary` would pay.
    from scipy.special import stdtrit

    return float(stdtrit(dof, CI_LEVEL))


def mean_ci(per_replication: npt.ArrayLike) -> tuple[float, float]:
    """The 95 % CI of a figure's mean over the replications: mean ± t(0.975, n − 1)·sd/√n
    (NaN with fewer than two measured replications).

    >>> [round(x, 4) for x in mean_ci([0.1, 0.2, 0.3])]
    [-0.0484, 0.4484]
    """
    values = np.asarray(per_replication, dtype=np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    half = t_quantile(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
    mean = float(values.mean())
    return round(mean - half, 12), round(mean + half, 12)


def spread_coverage(replications: int) -> float:
    """About how often a new replication's figure falls inside the spread of ``replications``
    replications: ``(n − 1) / (n + 1)``, the chance that it lies between their smallest and
    largest, which bound the 2.5th and 97.5th percentiles of fewer than 40 values; 95 %
    needs about 40, :data:`SPREAD_COVERAGE` (90 %) 19.

    >>> spread_coverage(3), spread_coverage(19)
    (0.5, 0.9)
    """
    return (replications - 1) / (replications + 1) if replications > 0 else 0.0
