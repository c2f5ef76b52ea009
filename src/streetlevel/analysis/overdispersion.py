"""Over-dispersion: how much more units differ than chance allows, as a multiplicative factor
``phi`` and an additive between-unit variance ``tau2`` (Spiegelhalter 2005, "Handling
over-dispersion of performance indicators", Quality and Safety in Health Care 14: 347-351).

Both come from z-scores whose extremes are pulled in first, so that the outliers being looked
for do not inflate them: ``phi`` is the mean squared z-score, ``tau2`` the DerSimonian-Laird
estimate ``(I phi - (I - 1)) / (sum w - sum w^2 / sum w)`` with ``w = 1 / s^2`` (zero unless
``I phi > I - 1``). The z-scores depend on the kind of data and the method, as in FunnelPlotR
(NHS-R community), the field's reference implementation:

- **shmi** (FunnelPlotR's default for standardised ratios, the NHS Summary Hospital-level
  Mortality Indicator's): ``z = sqrt(E) log(O / E)`` on the log scale, ``s = 1 / sqrt(E)``,
  the lowest and highest 10 % of z-scores *truncated* (left out);
- **cqc** (Spiegelhalter's own, the Care Quality Commission's): ``z = (sqrt(O / E) - 1) / s``
  on the square-root scale, ``s = 1 / (2 sqrt(E))``, *winsorised* at 10 % each end;
- **proportions** (a denominator ``n``): ``z = (O - E) / sqrt(n p (1 - p))``, ``p = E / n``,
  on the ratio scale with ``s = sqrt(n p (1 - p)) / E``, winsorised.

>>> z, s = z_scores("cqc", np.array([100.0, 150.0]), np.array([108.0, 112.0]))
>>> np.round(z, 3).tolist()
[-0.785, 3.329]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from streetlevel.analysis.funnel import WINSOR_SHARE

__all__ = [
    "METHODS",
    "Dispersion",
    "between_variance",
    "estimate",
    "mean_square",
    "trimmed",
    "z_scores",
]

Method = Literal["shmi", "cqc", "proportion"]
METHODS: tuple[Method, ...] = ("shmi", "cqc", "proportion")
"""How z-scores are formed (see the module's docstring)."""
Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Dispersion:
    """The over-dispersion estimates of one set of units."""

    method: Method
    phi: float
    """Mean squared trimmed z-score: about 1 (a little less, for the trimming) by chance."""
    tau2: float
    """Variance between units beyond chance, on the method's scale (log, square root or
    ratio)."""
    used: int
    """Units whose z-scores entered the estimates."""


def z_scores(
    method: Method,
    observed: npt.ArrayLike,
    expected: npt.ArrayLike,
    denominator: npt.ArrayLike | None = None,
) -> tuple[Float, Float]:
    """Each unit's z-score and its standard error ``s`` on the method's scale (NaN where
    nothing is expected)."""
    o = np.asarray(observed, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "shmi":
            s = np.where(e > 0, 1.0 / np.sqrt(e), np.nan)
            z = np.sqrt(e) * np.log(o / e)
        elif method == "cqc":
            s = np.where(e > 0, 1.0 / (2.0 * np.sqrt(e)), np.nan)
            z = (np.sqrt(o / e) - 1.0) / s
        else:
            if denominator is None:
                raise ValueError("proportions need a denominator")
            n = np.asarray(denominator, dtype=np.float64)
            p = np.where(n > 0, e / n, np.nan)
            sd = np.sqrt(n * p * (1.0 - p))
            z = np.where(sd > 0, (o - e) / sd, np.nan)
            s = np.where(e > 0, sd / e, np.nan)
    return np.asarray(z, dtype=np.float64), np.asarray(s, dtype=np.float64)


def trimmed(method: Method, z: npt.ArrayLike, share: float = WINSOR_SHARE) -> Float:
    """The z-scores as the estimates use them: truncated (``shmi``: the extremes NaN, by
    FunnelPlotR's ranking into ``1 / share`` groups) or winsorised (the extremes pulled in to
    the ``share`` and ``1 - share`` quantiles, R's default type 7 as :func:`numpy.quantile`)."""
    values = np.asarray(z, dtype=np.float64)
    out = np.full_like(values, np.nan)
    keep = ~np.isnan(values)
    present = values[keep]
    if len(present) == 0:
        return out
    if method == "shmi":
        groups = round(1.0 / share)
        rank = pd.Series(present).rank(method="average").to_numpy()
        group = np.floor(rank * groups / (len(present) + 1))
        inside = (group > 0) & (group < groups - 1)
        out[np.flatnonzero(keep)[inside]] = present[inside]
        return out
    low, high = np.quantile(present, [share, 1.0 - share])
    out[keep] = np.clip(present, low, high)
    return out


def mean_square(z: npt.ArrayLike) -> float:
    """The mean of the squared finite z-scores (``phi``)."""
    values = np.asarray(z, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.mean(values**2)) if len(values) else float("nan")


def between_variance(phi: float, s: npt.ArrayLike) -> float:
    """The additive between-unit variance ``tau2`` from ``phi`` and the units' standard
    errors (FunnelPlotR's ``tau_func``, DerSimonian-Laird form).

    >>> between_variance(0.5, [0.1, 0.1, 0.1])
    0.0
    """
    se = np.asarray(s, dtype=np.float64)
    se = se[np.isfinite(se) & (se > 0)]
    count = len(se)
    if count < 2 or not count * phi >= count - 1:
        return 0.0
    w = 1.0 / se**2
    return float(max(0.0, (count * phi - (count - 1)) / (w.sum() - (w**2).sum() / w.sum())))


def estimate(
    method: Method,
    observed: npt.ArrayLike,
    expected: npt.ArrayLike,
    denominator: npt.ArrayLike | None = None,
    share: float = WINSOR_SHARE,
) -> Dispersion:
    """``phi`` and ``tau2`` of a set of units (see the module's docstring).

    >>> d = estimate("cqc", [100, 150, 180, 80, 120, 225], [108, 112, 165, 95, 100, 220])
    >>> d.used, d.phi > 1, d.tau2 > 0
    (6, True, True)
    """
    z, s = z_scores(method, observed, expected, denominator)
    kept = trimmed(method, z, share)
    used = np.isfinite(kept)
    phi = mean_square(kept[used])
    return Dispersion(method, phi, between_variance(phi, s[used]), int(used.sum()))
