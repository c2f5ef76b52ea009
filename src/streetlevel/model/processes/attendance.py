"""Steps 3-4, obligations and attendance.

A receiving client has an obligation in a week when an offer is active (the activation
project's attendance register) or a meeting is held (the jobcentre). The absence probability
is cached per client, because its inputs change only at entry, at a sanction and at the end of
a year:

``p = logistic(fixed_i + perceived_risk * risk_m) x (1 - repeat_reduction if sanctioned before)``

where ``fixed_i`` holds the category and attribute terms, ``risk_m`` is the municipality's
sanctions per absence last year (the ex-ante threat effect) and the last factor is the ex-post
effect of an earlier sanction (Verlaat & Bijleveld 2021).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.model.coefficients import logistic
from streetlevel.model.state import Subset

if TYPE_CHECKING:
    from streetlevel.model.engine import Simulation

__all__ = ["attend", "base_logit", "probability", "refresh"]


def base_logit(
    sim: Simulation,
    category: npt.NDArray[np.integer],
    age_group: npt.NDArray[np.integer],
    male: npt.NDArray[np.bool_],
    low_education: npt.NDArray[np.bool_],
    problems: npt.NDArray[np.bool_],
    motivation: npt.NDArray[np.float32],
) -> npt.NDArray[np.float64]:
    """The fixed part of the absence log-odds, from category and attributes (set at entry)."""
    a = sim.scenario.attendance
    return np.asarray(
        a.intercept.value
        + sim.coef.absence[category]
        + a.problems.value * problems
        + a.age_under_30.value * (age_group == 0)
        + a.age_50_plus.value * (age_group == 2)
        + a.male.value * male
        + a.low_education.value * low_education
        + a.motivation.value * motivation
    )


def probability(
    sim: Simulation,
    sub: Subset | None,
    logit: npt.NDArray[np.float32],
    sanctioned_before: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.float64]:
    """The weekly absence probability of ``sub`` (``None``: every slot), from its cached
    ``logit`` and whether it was sanctioned before (``None``: none was, as for new clients)."""
    a = sim.scenario.attendance
    if sub is None:
        risk = sim.perceived_risk[:, sim.slot_municipality]
    else:
        muni = sim.slot_municipality[sub.cols]
        risk = sim.perceived_risk.reshape(-1)[sub.rows * sim.perceived_risk.shape[1] + muni]
    p = logistic(logit + a.perceived_risk.value * risk)
    if sanctioned_before is not None:
        p *= np.where(sanctioned_before, 1.0 - a.repeat_reduction.value, 1.0)
    return p


def refresh(sim: Simulation, sub: Subset | None = None) -> None:
    """Recompute the cached weekly absence probability of ``sub`` (default: everyone)."""
    st = sim.state
    if sub is None:
        st.p_absence[:] = probability(sim, None, st.absence_logit, st.sanctions_total > 0)
    else:
        logit, before = sub.take(st.absence_logit), sub.take(st.sanctions_total) > 0
        sub.put(st.p_absence, probability(sim, sub, logit, before))


def attend(sim: Simulation) -> None:
    """Mark this week's absences in ``sim.absent``."""
    st = sim.state
    week = sim.week
    np.less_equal(st.offer_start, week, out=sim.offer_active)
    sim.offer_active &= st.offer_end > week
    sim.offer_active &= sim.receiving  # set by meetings.hold this week
    st.y_weeks_offer += sim.offer_active
    # In place, to spare a full-size temporary: sim.obligated holds the held meetings (from
    # meetings.hold), then all obligations, then, after the draw, this week's absences.
    absent = sim.obligated
    absent |= sim.offer_active
    sim.streams.uniform_into(sim.uniform)
    absent &= sim.uniform < st.p_absence
    sim.absent = Subset.of(absent)
