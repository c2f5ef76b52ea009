"""Units further from the expected than chance allows: the generic funnel, for any per-unit
observed and expected counts (``streetlevel funnel``), and the comparison inside every
benchmark.

Each unit has an observed count ``O`` and an expected one ``E`` (an indirectly standardised
ratio ``O / E``), and perhaps a denominator ``n`` (then ``O`` of ``n`` is a proportion, and
``E / n`` the proportion expected). Its ratio is judged against control limits at 95 % and
99.8 % (Spiegelhalter 2005): the quantiles of Binomial(n, E / n) with a denominator
(:func:`~streetlevel.analysis.funnel.ratio_limits`), of Poisson(E) without one (the exact limits
FunnelPlotR draws, :func:`poisson_limits`). Units that differ by more than chance gives are
allowed for in a second set of limits, by a multiplicative factor ``phi`` or an additive
between-unit variance ``tau2`` (:mod:`~streetlevel.analysis.overdispersion`); which one is
chosen is shown and can be overridden.

>>> result = funnel(["a", "b", "c"], [10, 30, 12], [12.0, 15.0, 11.0], overdispersion="none")
>>> result.units["outside_95"].tolist()
[False, True, False]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from streetlevel.analysis.funnel import LEVELS, outside_column, ratio_limits
from streetlevel.analysis.overdispersion import Dispersion, Method, estimate, z_scores
from streetlevel.errors import StreetlevelError

__all__ = [
    "ADJUSTMENTS",
    "Adjustment",
    "Funnel",
    "control_limits",
    "funnel",
    "poisson_limits",
]

Adjustment = Literal["none", "multiplicative", "additive"]
ADJUSTMENTS: tuple[Adjustment, ...] = ("none", "multiplicative", "additive")
"""How over-dispersion is allowed for in the second set of limits."""
Float = npt.NDArray[np.float64]
JSON_COLUMNS = (
    *("unit", "observed", "expected", "ratio", "outside_95", "outside_998"),
    *("outside_95_overdispersed", "outside_998_overdispersed"),
)


def poisson_limits(expected: npt.ArrayLike, level: float) -> tuple[Float, Float]:
    """Exact Poisson control limits of O / E at a two-sided ``level``, as FunnelPlotR draws
    them: ``chi2(tail; 2E) / 2E`` and ``chi2(1 - tail; 2(E + 1)) / 2E``.

    >>> low, high = poisson_limits([20.0], 0.95)
    >>> round(float(low[0]), 7), round(float(high[0]), 6)
    (0.610826, 1.544419)
    """
    e = np.asarray(expected, dtype=np.float64)
    tail = (1.0 - level) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(e > 0, stats.chi2.ppf(tail, 2.0 * e) / 2.0 / e, np.nan)
        high = np.where(e > 0, stats.chi2.ppf(1.0 - tail, 2.0 * (e + 1.0)) / 2.0 / e, np.nan)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def control_limits(
    expected: npt.ArrayLike,
    level: float,
    denominator: npt.ArrayLike | None = None,
    *,
    dispersion: Dispersion | None = None,
    adjustment: Adjustment = "none",
) -> tuple[Float, Float]:
    """Control limits of O / E at ``level``: by chance alone (``adjustment="none"``), or
    allowing for over-dispersion on the scale of ``dispersion.method`` (log for ``shmi``,
    square root for ``cqc``, the ratio for proportions). Limits that would not widen (``phi``
    at most 1, ``tau2`` zero) are the chance limits, as FunnelPlotR draws them."""
    e = np.asarray(expected, dtype=np.float64)
    if denominator is None:
        chance = poisson_limits(e, level)
    else:
        chance = ratio_limits(denominator, e, level)
    if adjustment == "none" or dispersion is None:
        return chance
    widen = dispersion.phi > 1.0 if adjustment == "multiplicative" else dispersion.tau2 > 0.0
    if not widen:
        return chance
    _, s = z_scores(dispersion.method, e, e, denominator)
    if adjustment == "multiplicative":
        spread = np.sqrt(dispersion.phi) * s
    else:
        spread = np.sqrt(s**2 + dispersion.tau2)
    half = stats.norm.ppf(1.0 - (1.0 - level) / 2.0) * spread
    if dispersion.method == "shmi":
        low, high = np.exp(-half), np.exp(half)
    elif dispersion.method == "cqc":
        # Limits of sqrt(O / E) around 1, squared back to the ratio's scale.
        low, high = np.maximum(1.0 - half, 0.0) ** 2, (1.0 + half) ** 2
    else:
        low, high = np.maximum(1.0 - half, 0.0), 1.0 + half
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


@dataclass(frozen=True)
class Funnel:
    """Units against their control limits, and the over-dispersion allowed for."""

    units: pd.DataFrame
    """unit, observed, expected, denominator (with one), ratio, z, the limits at each of
    :data:`LEVELS` (``limit_95_low``, ...), ``outside_95``, ``outside_998``, the limits allowing
    for over-dispersion (``limit_95_low_overdispersed``, ...) and ``outside_95_overdispersed``,
    ``outside_998_overdispersed``."""
    dispersion: Dispersion
    adjustment: Adjustment
    """The adjustment of the second set of limits."""
    chosen: bool
    """Whether the adjustment was chosen from the data (not asked for)."""
    proportion: bool
    """Whether the units have denominators (binomial limits) or not (Poisson)."""

    def to_dict(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        units = [
            {k: _plain(v) for k, v in row.items()}
            for row in self.units[list(JSON_COLUMNS)].to_dict(orient="records")
        ]
        return {
            "units": units,
            "overdispersion": {
                "phi": _plain(self.dispersion.phi),
                "tau2": _plain(self.dispersion.tau2),
                "method": self.dispersion.method,
                "adjustment": self.adjustment,
                "chosen_from_data": self.chosen,
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def funnel(
    unit: npt.ArrayLike,
    observed: npt.ArrayLike,
    expected: npt.ArrayLike,
    denominator: npt.ArrayLike | None = None,
    *,
    method: Method | None = None,
    overdispersion: Adjustment | None = None,
) -> Funnel:
    """Judge each unit's O / E against control limits by chance and allowing for
    over-dispersion.

    Args:
        unit: the units' names.
        observed, expected: counts per unit (``expected > 0``).
        denominator: per unit, for proportions (binomial limits); None for ratios (Poisson).
        method: how over-dispersion is estimated for ratios: ``shmi`` (FunnelPlotR's default)
            or ``cqc`` (Spiegelhalter's); proportions always use their own z-scores.
        overdispersion: the adjustment of the second limits (default: ``additive`` when the
            units are over-dispersed, i.e. ``tau2 > 0``, else ``none``).
    """
    o = np.asarray(observed, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    n = None if denominator is None else np.asarray(denominator, dtype=np.float64)
    chosen_method: Method = "proportion" if n is not None else (method or "shmi")
    if n is not None and method not in (None, "proportion"):
        raise StreetlevelError(
            f"--method {method}: the ratio methods (shmi, cqc) apply to units without a "
            "denominator; proportions use their binomial z-scores"
        )
    dispersion = estimate(chosen_method, o, e, n)
    chosen = overdispersion is None
    adjustment: Adjustment = (
        ("additive" if dispersion.tau2 > 0 else "none") if overdispersion is None
        else overdispersion
    )  # fmt: skip
    out = pd.DataFrame({"unit": np.asarray(unit), "observed": o, "expected": e})
    if n is not None:
        out["denominator"] = n
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = np.where(e > 0, o / e, np.nan)
    out["z"] = z_scores(chosen_method, o, e, n)[0]
    ratio = out["ratio"].to_numpy()
    for level in LEVELS:
        column = outside_column(level)
        tag = column.removeprefix("outside_")
        low, high = control_limits(e, level, n)
        out[f"limit_{tag}_low"], out[f"limit_{tag}_high"] = low, high
        out[column] = (ratio < low) | (ratio > high)
    for level in LEVELS:
        column = outside_column(level)
        tag = column.removeprefix("outside_")
        low, high = control_limits(e, level, n, dispersion=dispersion, adjustment=adjustment)
        out[f"limit_{tag}_low_overdispersed"] = low
        out[f"limit_{tag}_high_overdispersed"] = high
        out[f"{column}_overdispersed"] = (ratio < low) | (ratio > high)
    return Funnel(out, dispersion, adjustment, chosen, n is not None)
