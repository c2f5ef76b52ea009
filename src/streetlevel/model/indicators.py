"""Municipality-year indicators, as a national database such as jobindsats publishes them.

Computed from the year's :class:`~streetlevel.model.tally.Tally` into one row per (replication,
municipality): the sanction rate (see :func:`sanction_rate`), overall and by category, the repeat
share, timeliness, the activation degree, exits by destination, long-term recipients, and the
municipality's place in its region's ranking.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from streetlevel.model.tally import BY_MINORITY, COUNTS
from streetlevel.model.world import World

__all__ = [
    "LONG_TERM_YEARS",
    "municipality_year",
    "rank_within_regions",
    "ratio",
    "sanction_rate",
]

LONG_TERM_YEARS = (5, 10)
"""Long-term recipients are counted as on benefit more than 5 and 10 years (docs/targets.md)."""


def ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """num / den, NaN where den is 0 (an indicator with no one to measure it on)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def sanction_rate(
    sanctioned: npt.ArrayLike, weeks_in_year: npt.ArrayLike, weeks_per_year: int
) -> npt.NDArray[np.float64]:
    """Recipients sanctioned at least once in the year per full-year recipient.

    The denominator is full-year equivalents (weeks on benefit / weeks in a year), as the
    Danish national database counts recipients ("fuldtidspersoner"). It is the reading under
    which CHM's two national figures agree: 11 % of about 130,000 full-year recipients is
    about 15,000 people sanctioned (docs/targets.md); per person ever on benefit in the year the
    same 15,000 would be under 8 %.

    >>> sanction_rate([11], [5200], 52).tolist()
    [0.11]
    """
    return ratio(sanctioned, np.asarray(weeks_in_year, dtype=np.float64) / weeks_per_year)


def rank_within_regions(
    rate: npt.NDArray[np.float64], region: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Rank municipalities within their region by sanction rate, highest first.

    Returns the rank (1 = the highest rate: "placed well") and, for each municipality, the mean
    rate of those ranked above it (its own rate for the first, who has no one above).

    >>> rank, above = rank_within_regions(np.array([[0.1, 0.3, 0.2]]), np.array([0, 0, 0]))
    >>> rank.tolist(), above.round(2).tolist()
    ([[3, 1, 2]], [[0.25, 0.3, 0.3]])
    """
    rank = np.zeros(rate.shape, dtype=np.int64)
    above = np.array(rate, dtype=np.float64)
    filled = np.nan_to_num(rate, nan=-np.inf)
    for g in np.unique(region):
        members = np.flatnonzero(region == g)
        order = np.argsort(-filled[:, members], axis=1, kind="stable")
        sorted_rates = np.take_along_axis(rate[:, members], order, axis=1)
        sorted_rates = np.nan_to_num(sorted_rates)
        csum = np.cumsum(sorted_rates, axis=1)
        n = len(members)
        mean_above = np.empty_like(sorted_rates)
        mean_above[:, 0] = sorted_rates[:, 0]
        if n > 1:
            mean_above[:, 1:] = csum[:, :-1] / np.arange(1, n)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(1, n + 1)[None, :].repeat(len(rate), 0), 1)
        rank[:, members] = ranks
        back = np.empty_like(mean_above)
        np.put_along_axis(back, order, mean_above, 1)
        above[:, members] = back
    return rank, above


def municipality_year(
    world: World, calendar_year: int, weeks_per_year: int
) -> dict[str, npt.NDArray[Any]]:
    """The year's indicators as flat columns over (replication, municipality), from the
    world's tally and municipal state at the end of ``calendar_year``."""
    t = world.tally
    c = t.counts
    reps, ms = t.shape
    wpy = weeks_per_year
    rate = sanction_rate(c["sanctioned"], c["weeks_in_year"], wpy)
    rank, _ = rank_within_regions(rate, world.region)
    cols: dict[str, npt.NDArray[Any]] = {
        "replication": np.repeat(world.replication.astype(np.int32), ms),
        "year": np.full(reps * ms, calendar_year, dtype=np.int16),
        "municipality": np.tile(np.arange(ms), reps),
        "region": np.tile(world.region, reps),
        "absence_route": np.tile(world.benefit_office_route.astype(np.int16), reps),
        "management_strictness": world.strictness.ravel().copy(),
        "office_culture": np.tile(world.office_culture, reps),
        "caseworker_strictness": world.caseworker_strictness_mean.ravel().copy(),
        "perceived_risk": world.perceived_risk.ravel().astype(np.float64),
        "caseworkers": np.tile(world.caseworkers, reps).astype(np.int32),
    }
    for name in COUNTS:
        cols[name] = c[name].ravel()
    for name in BY_MINORITY if t.by_minority else ():
        cols[name] = c[name].ravel()
    cols["recipient_years"] = c["weeks_in_year"].ravel() / wpy
    cols["sanction_rate"] = rate.ravel()
    cols["repeat_share"] = ratio(c["repeat_sanctioned"], c["sanctioned"]).ravel()
    by_category = t.category_counts()
    k_rates = sanction_rate(by_category["sanctioned"], by_category["weeks_in_year"], wpy)
    for k in range(t.categories):
        cols[f"recipients_category_{k + 1}"] = by_category["recipients"][..., k].ravel()
        cols[f"recipient_years_category_{k + 1}"] = (
            by_category["weeks_in_year"][..., k].ravel() / wpy
        )
        cols[f"sanctioned_category_{k + 1}"] = by_category["sanctioned"][..., k].ravel()
        cols[f"sanction_rate_category_{k + 1}"] = k_rates[..., k].ravel()
    for name, values in t.profile_counts().items():
        cols[name] = values.ravel()
    cols["timeliness"] = ratio(
        c["meetings_timely"], c["meetings_timely"] + c["meetings_late"]
    ).ravel()
    cols["activation_degree"] = ratio(c["weeks_offer"], c["weeks_in_year"]).ravel()
    for dest in ("work", "other", "unknown"):
        cols[f"exit_{dest}_rate"] = ratio(c[f"exits_{dest}"], c["recipients"]).ravel()
    for years in LONG_TERM_YEARS:
        cols[f"long_term_{years}y_share"] = ratio(c[f"long_term_{years}y"], c["stock_end"]).ravel()
    cols["rank"] = rank.ravel()
    return cols
