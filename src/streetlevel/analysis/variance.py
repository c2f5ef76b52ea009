"""Variance decompositions: the R² of a weighted least-squares regression shared among groups
of regressors (Shapley and sequential), and the share of a variance that lies between groups
(the intraclass correlation). The arithmetic of :mod:`streetlevel.analysis.explain`, on any
data.
"""

from __future__ import annotations

import warnings
from itertools import combinations
from math import factorial

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["CONTINUITY", "logit_rate", "r_squared", "sequential", "shapley", "stable_share"]

Float = npt.NDArray[np.float64]
CONTINUITY = 0.5
"""Half a client: a rate is clipped to [0.5/n, 1 - 0.5/n] before its logit (the usual
continuity correction), so a municipality with no one sanctioned has a finite logit."""


def logit_rate(rate: npt.ArrayLike, n: npt.ArrayLike) -> Float:
    """The logit of ``rate``, clipped first to ``[0.5/n, 1 - 0.5/n]``.

    >>> logit_rate([0.0, 0.5, 1.0], [10, 10, 10]).round(3).tolist()
    [-2.944, 0.0, 2.944]
    """
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    low = CONTINUITY / n
    p = np.clip(np.asarray(rate, dtype=np.float64), low, 1.0 - low)
    return np.asarray(np.log(p / (1.0 - p)), dtype=np.float64)


def r_squared(y: Float, regressors: pd.DataFrame, weight: Float) -> float:
    """The R² of a weighted least-squares regression of ``y`` on ``regressors`` and a
    constant (0 with no regressors)."""
    if regressors.shape[1] == 0:
        return 0.0
    import statsmodels.api as sm

    x = sm.add_constant(regressors.to_numpy(dtype=np.float64), has_constant="add")
    with warnings.catch_warnings():
        # Collinear regressors (a factor in two groups, a route that fixes an interaction)
        # leave the coefficients undetermined but not the fit: the R² is still exact.
        warnings.simplefilter("ignore", category=sm.tools.sm_exceptions.SingularMatrixWarning)
        return float(sm.WLS(y, x, weights=weight).fit().rsquared)


def _subset_r2(
    y: Float, groups: dict[str, pd.DataFrame], weight: Float
) -> dict[frozenset[str], float]:
    names = list(groups)
    out: dict[frozenset[str], float] = {}
    for size in range(len(names) + 1):
        for subset in combinations(names, size):
            parts = [groups[g] for g in subset]
            x = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=range(len(y)))
            out[frozenset(subset)] = r_squared(y, x, weight)
    return out


def shapley(y: Float, groups: dict[str, pd.DataFrame], weight: Float) -> dict[str, float]:
    """Each group's Shapley share of the R²: its gain over every subset of the others,
    weighted as the share of the orders in which it enters after exactly that subset. Exact
    (all subsets: 8 regressions for 3 groups); the shares sum to the full model's R².

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=400), rng.normal(size=400)
    >>> s = shapley(a + b, {"a": pd.DataFrame({"a": a}), "b": pd.DataFrame({"b": b})},
    ...             np.ones(400))
    >>> round(s["a"] + s["b"], 9)
    1.0
    """
    names = list(groups)
    k = len(names)
    r2 = _subset_r2(y, groups, weight)
    out = {}
    for g in names:
        others = [h for h in names if h != g]
        value = 0.0
        for size in range(k):
            share = factorial(size) * factorial(k - size - 1) / factorial(k)
            for subset in combinations(others, size):
                before = frozenset(subset)
                value += share * (r2[before | {g}] - r2[before])
        out[g] = value
    return out


def sequential(y: Float, groups: dict[str, pd.DataFrame], weight: Float) -> dict[str, float]:
    """Each group's R² gain when the groups enter in the order given."""
    out, entered, before = {}, [], 0.0
    for g, x in groups.items():
        entered.append(x)
        now = r_squared(y, pd.concat(entered, axis=1), weight)
        out[g], before = now - before, now
    return out


def stable_share(values: npt.ArrayLike, group: npt.ArrayLike) -> tuple[float, float, float]:
    """The share of the variance of ``values`` that is between groups (the intraclass
    correlation of a one-way random-effects ANOVA: ``s2_b / (s2_b + s2_w)`` with
    ``s2_b = (MSB - MSW) / n0``, at least 0), and the two standard deviations
    ``(share, sd_between, sd_within)``.

    >>> share, between, within = stable_share([1, 1, 3, 3], ["a", "a", "b", "b"])
    >>> share, between, within
    (1.0, 1.4142135623730951, 0.0)
    """
    frame = pd.DataFrame({"v": np.asarray(values, dtype=np.float64), "g": np.asarray(group)})
    frame = frame[np.isfinite(frame["v"])]
    stats = frame.groupby("g")["v"].agg(["count", "mean"])
    n_total, k = len(frame), len(stats)
    if k < 2 or n_total <= k:
        return float("nan"), float("nan"), float("nan")
    grand = frame["v"].mean()
    ssb = float((stats["count"] * (stats["mean"] - grand) ** 2).sum())
    ssw = float(((frame["v"] - frame["g"].map(stats["mean"])) ** 2).sum())
    msb, msw = ssb / (k - 1), ssw / (n_total - k)
    n0 = (n_total - float((stats["count"] ** 2).sum()) / n_total) / (k - 1)
    between = max(0.0, (msb - msw) / n0)
    total = between + msw
    share = between / total if total > 0 else float("nan")
    return share, float(np.sqrt(between)), float(np.sqrt(msw))
