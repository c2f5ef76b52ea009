"""Funnel plots: control limits for comparing institutions, and intervals for their ratios.

Spiegelhalter (2005), "Funnel plots for comparing institutional performance", Statistics in
Medicine 24: 1185-1202. A municipality with ``n`` recipients whose client mix predicts ``E``
sanctioned recipients is "in control" when its observed count ``O`` is what chance gives around
``E``; the control limits are the quantiles of that chance distribution, drawn as a funnel that
narrows as ``E`` grows. The count of sanctioned recipients is binary per recipient, so the
null distribution is taken as Binomial(n, E / n) — closer than the Poisson of the
standardised-mortality-ratio funnel when a quarter of recipients are sanctioned, and still
slightly conservative (a sum of Bernoulli variables with unequal probabilities varies less
than a binomial with their mean). Discrete quantiles are interpolated as in Spiegelhalter's
appendix, so the limits are smooth curves.

>>> low, high = ratio_limits(np.array([1000]), np.array([100.0]), 0.95)
>>> round(float(low[0]), 3), round(float(high[0]), 3)
(0.813, 1.185)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "LEVELS",
    "WINSORISED_NORMAL",
    "WINSOR_SHARE",
    "between_variance",
    "binomial_quantile",
    "null_sd",
    "outside_column",
    "overdispersion",
    "poisson_ratio_interval",
    "random_effects_limits",
    "ratio_limits",
    "z_scores",
]

LEVELS = (0.95, 0.998)
"""Two-sided control limits: about 2 and 3 standard deviations (Spiegelhalter 2005)."""
WINSOR_SHARE = 0.10
"""Share of z-scores pulled in at each end before estimating over-dispersion, so that the
outliers being looked for do not inflate it (Spiegelhalter 2005, section 5)."""
_EDGE = float(stats.norm.ppf(1.0 - WINSOR_SHARE))
WINSORISED_NORMAL = float(
    (1.0 - 2.0 * WINSOR_SHARE) - 2.0 * _EDGE * stats.norm.pdf(_EDGE) + 2.0 * WINSOR_SHARE * _EDGE**2
)
"""The winsorised mean square of standard normal z-scores (about 0.68): dividing by it makes
the over-dispersion factor 1 under chance alone."""

Float = npt.NDArray[np.float64]


def outside_column(level: float) -> str:
    """The name of the column that flags units outside the limits at ``level``.

    >>> outside_column(0.95), outside_column(0.998)
    ('outside_95', 'outside_998')
    """
    return "outside_" + f"{level * 100:g}".replace(".", "")


def binomial_quantile(q: float, n: npt.ArrayLike, p: npt.ArrayLike) -> Float:
    """The ``q`` quantile of Binomial(n, p), interpolated between counts (a smooth limit).

    ``r`` is the smallest count with F(r) >= q; the limit is ``r - a`` with
    ``a = (F(r) - q) / (F(r) - F(r - 1))`` (Spiegelhalter 2005, appendix A.1.1).

    >>> float(binomial_quantile(0.5, 2, 0.5))
    0.5
    """
    n_arr = np.asarray(n, dtype=np.float64)
    p_arr = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    r = stats.binom.ppf(q, n_arr, p_arr)
    at_r = stats.binom.cdf(r, n_arr, p_arr)
    below = stats.binom.cdf(r - 1, n_arr, p_arr)
    step = at_r - below
    share = np.divide(at_r - q, step, out=np.zeros_like(step), where=step > 0)
    return np.asarray(np.maximum(r - share, 0.0), dtype=np.float64)


def ratio_limits(
    recipients: npt.ArrayLike, expected: npt.ArrayLike, level: float
) -> tuple[Float, Float]:
    """Lower and upper control limits of observed / expected at a two-sided ``level``.

    Args:
        recipients: recipients of each municipality (the binomial's n).
        expected: expected sanctioned recipients from the client mix (the binomial's mean).
        level: e.g. 0.95 or 0.998.
    """
    n = np.asarray(recipients, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    p = np.divide(e, n, out=np.zeros_like(e), where=n > 0)
    tail = (1.0 - level) / 2.0
    low = np.divide(binomial_quantile(tail, n, p), e, out=np.full_like(e, np.nan), where=e > 0)
    high = np.divide(
        binomial_quantile(1.0 - tail, n, p), e, out=np.full_like(e, np.nan), where=e > 0
    )
    return low, high


def poisson_ratio_interval(
    observed: npt.ArrayLike, expected: npt.ArrayLike, level: float = 0.95
) -> tuple[Float, Float]:
    """Exact (Garwood) interval for O / E, treating O as Poisson: the uncertainty of a
    municipality's own ratio (wider than the binomial control limits, as it should be for an
    interval that must hold whatever the rate).

    >>> low, high = poisson_ratio_interval([10], [10.0])
    >>> round(float(low[0]), 3), round(float(high[0]), 3)
    (0.48, 1.839)
    """
    o = np.asarray(observed, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    tail = (1.0 - level) / 2.0
    low = np.where(o > 0, stats.chi2.ppf(tail, 2.0 * o) / 2.0, 0.0)
    high = stats.chi2.ppf(1.0 - tail, 2.0 * o + 2.0) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            np.where(e > 0, low / e, np.nan).astype(np.float64),
            np.where(e > 0, high / e, np.nan).astype(np.float64),
        )


def z_scores(observed: npt.ArrayLike, recipients: npt.ArrayLike, expected: npt.ArrayLike) -> Float:
    """(O - E) / sd under Binomial(n, E / n); NaN where there is nothing to expect."""
    o = np.asarray(observed, dtype=np.float64)
    n = np.asarray(recipients, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    p = np.divide(e, n, out=np.zeros_like(e), where=n > 0)
    sd = np.sqrt(n * p * (1.0 - p))
    return np.divide(o - e, sd, out=np.full_like(sd, np.nan), where=sd > 0)


def overdispersion(z: npt.ArrayLike) -> float:
    """Over-dispersion factor: the mean of the squared z-scores after winsorising
    :data:`WINSOR_SHARE` at each end (Spiegelhalter 2005), divided by its value for standard
    normal z-scores (:data:`WINSORISED_NORMAL`) so that it is about 1 when municipalities
    differ only by chance; far above 1 means they differ by more (``sqrt(phi)`` times the
    spread chance gives).

    >>> round(overdispersion(np.random.default_rng(1).normal(size=2000)), 1)
    1.0
    """
    values = np.asarray(z, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan")
    low, high = np.quantile(values, [WINSOR_SHARE, 1.0 - WINSOR_SHARE])
    return float(np.mean(np.clip(values, low, high) ** 2) / WINSORISED_NORMAL)


def null_sd(recipients: npt.ArrayLike, expected: npt.ArrayLike) -> Float:
    """Standard deviation of observed / expected under Binomial(n, E / n)."""
    n = np.asarray(recipients, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    p = np.divide(e, n, out=np.zeros_like(e), where=n > 0)
    return np.divide(
        np.sqrt(n * p * (1.0 - p)), e, out=np.full_like(e, np.nan), where=e > 0
    ).astype(np.float64)


def between_variance(z: npt.ArrayLike, sd: npt.ArrayLike) -> float:
    """Variance between municipalities beyond chance, on the ratio scale: the additive
    random-effects estimate from winsorised z-scores (Spiegelhalter 2005, "Handling
    over-dispersion of performance indicators", Quality and Safety in Health Care 14: 347-351;
    DerSimonian-Laird form). Zero unless ``I * phi > I - 1`` (over-dispersion beyond what the
    chi-squared test allows).

    >>> between_variance([0.5, -0.5, 0.2], [0.1, 0.1, 0.1])
    0.0
    """
    zs = np.asarray(z, dtype=np.float64)
    sds = np.asarray(sd, dtype=np.float64)
    keep = ~np.isnan(zs) & (sds > 0)
    zs, sds = zs[keep], sds[keep]
    count = len(zs)
    phi = overdispersion(zs)
    if count < 2 or not count * phi > count - 1:
        return 0.0
    w = 1.0 / sds**2
    return float((count * phi - (count - 1)) / (w.sum() - (w**2).sum() / w.sum()))


def random_effects_limits(
    sd: npt.ArrayLike, tau2: npt.ArrayLike, level: float
) -> tuple[Float, Float]:
    """Control limits of the ratio around 1 that allow for the variation between
    municipalities (``tau2``) besides chance (``sd``): a normal approximation, as the
    between-municipality part dominates wherever these limits matter.

    >>> low, high = random_effects_limits(np.array([0.0]), 0.04, 0.95)
    >>> round(float(low[0]), 3), round(float(high[0]), 3)
    (0.608, 1.392)
    """
    spread = np.sqrt(np.asarray(sd, dtype=np.float64) ** 2 + np.asarray(tau2, dtype=np.float64))
    half = stats.norm.ppf(1.0 - (1.0 - level) / 2.0) * spread
    return (1.0 - half).astype(np.float64), (1.0 + half).astype(np.float64)
