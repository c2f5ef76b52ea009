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

from streetlevel.coefficients import logistic
from streetlevel.state import RECEIVING

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["Index", "attend", "refresh", "set_base_logit"]

Index = tuple[object, object]
"""Either (rows, cols) of a subset of clients, or ``ALL``."""
ALL: Index = (slice(None), slice(None))


def set_base_logit(sim: Simulation, idx: Index) -> None:
    """The fixed part of the absence log-odds, from category and attributes."""
    st, a = sim.state, sim.scenario.attendance
    cat = st.category[idx]
    age = st.age_group[idx]
    st.absence_logit[idx] = (
        a.intercept.value
        + sim.coef.absence[cat]
        + a.problems.value * st.problems[idx]
        + a.age_under_30.value * (age == 0)
        + a.age_50_plus.value * (age == 2)
        + a.male.value * st.male[idx]
        + a.low_education.value * st.low_education[idx]
        + a.motivation.value * st.motivation[idx]
    )


def refresh(sim: Simulation, idx: Index = ALL) -> None:
    """Recompute the cached weekly absence probability of the clients at ``idx``."""
    st, a = sim.state, sim.scenario.attendance
    reps = np.arange(st.status.shape[0])[:, None] if idx is ALL else idx[0]
    muni = sim.slot_municipality[None, :] if idx is ALL else sim.slot_municipality[idx[1]]  # type: ignore[index]
    risk = sim.perceived_risk[reps, muni]
    p = logistic(st.absence_logit[idx] + a.perceived_risk.value * risk)
    p *= np.where(st.sanctions_total[idx] > 0, 1.0 - a.repeat_reduction.value, 1.0)
    st.p_absence[idx] = p


def attend(sim: Simulation) -> None:
    """Mark this week's absences in ``sim.absent`` (as rows, cols)."""
    st = sim.state
    week = sim.week
    np.less_equal(st.offer_start, week, out=sim.offer_active)
    sim.offer_active &= st.offer_end > week
    sim.offer_active &= st.status == RECEIVING
    st.y_weeks_offer += sim.offer_active
    obligated = sim.obligated  # meetings.hold has set the held meetings
    obligated |= sim.offer_active
    sim.streams.uniform_into(sim.uniform)
    absent = obligated & (sim.uniform < st.p_absence)
    sim.absent = np.nonzero(absent)
