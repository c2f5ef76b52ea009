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

import numpy as np
import numpy.typing as npt

from streetlevel.model.coefficients import Coefficients, logistic
from streetlevel.model.scratch import Scratch
from streetlevel.model.state import ClientState, Subset
from streetlevel.model.streams import Streams
from streetlevel.model.world import World

__all__ = ["attend", "base_logit", "probability", "rebase", "refresh"]


def base_logit(
    coef: Coefficients,
    category: npt.NDArray[np.integer],
    age_group: npt.NDArray[np.integer],
    male: npt.NDArray[np.bool_],
    low_education: npt.NDArray[np.bool_],
    problems: npt.NDArray[np.bool_],
    motivation: npt.NDArray[np.float32],
) -> npt.NDArray[np.float64]:
    """The fixed part of the absence log-odds, from category and attributes (set at entry)."""
    return np.asarray(
        coef.attendance_intercept
        + coef.absence[category]
        + coef.attendance_problems * problems
        + coef.attendance_age_under_30 * (age_group == 0)
        + coef.attendance_age_50_plus * (age_group == 2)
        + coef.attendance_male * male
        + coef.attendance_low_education * low_education
        + coef.attendance_motivation * motivation
    )


def probability(
    world: World,
    coef: Coefficients,
    sub: Subset | None,
    logit: npt.NDArray[np.float32],
    sanctioned_before: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.float64]:
    """The weekly absence probability of ``sub`` (``None``: every slot), from its cached
    ``logit`` and whether it was sanctioned before (``None``: none was, as for new clients).

    Reads: ``world.perceived_risk``, ``world.slot_municipality``.
    """
    perceived = world.perceived_risk
    if sub is None:
        risk = perceived[:, world.slot_municipality]
    else:
        muni = world.slot_municipality[sub.cols]
        risk = perceived.reshape(-1)[sub.rows * perceived.shape[1] + muni]
    p = logistic(logit + coef.attendance_perceived_risk * risk)
    if sanctioned_before is not None:
        p *= np.where(sanctioned_before, 1.0 - coef.attendance_repeat_reduction, 1.0)
    return p


def refresh(
    state: ClientState, world: World, coef: Coefficients, sub: Subset | None = None
) -> None:
    """Recompute the cached weekly absence probability of ``sub`` (default: everyone).

    Reads: ``state.absence_logit``, ``state.sanctions_total``, ``world.perceived_risk``.
    Writes: ``state.p_absence``.
    """
    if sub is None:
        before = state.sanctions_total > 0
        state.p_absence[:] = probability(world, coef, None, state.absence_logit, before)
    else:
        logit, before = sub.take(state.absence_logit), sub.take(state.sanctions_total) > 0
        sub.put(state.p_absence, probability(world, coef, sub, logit, before))


def rebase(state: ClientState, coef: Coefficients) -> None:
    """Recompute every client's fixed part of the absence log-odds from new coefficients (at
    the start of a year in which a dated value changes; :func:`refresh` follows).

    Reads: the clients' attributes (``state.category`` ... ``state.motivation``).
    Writes: ``state.absence_logit``.
    """
    logit = base_logit(
        coef,
        state.category,
        state.age_group,
        state.male,
        state.low_education,
        state.problems,
        state.motivation,
    )
    state.absence_logit[:] = logit


def attend(state: ClientState, scratch: Scratch, streams: Streams, t: int) -> None:
    """Step 4: mark this week's absences.

    Reads: ``state.offer_start``, ``state.offer_end``, ``state.p_absence``,
    ``scratch.receiving``, ``scratch.obligated`` (the held meetings).
    Writes: ``scratch.offer_active``, ``scratch.obligated`` (overwritten with the absences),
    ``scratch.uniform``, ``scratch.absent``, ``state.y_weeks_offer``.
    Draws: the week's uniform per client (main streams).
    """
    offer_active = scratch.offer_active
    np.less_equal(state.offer_start, t, out=offer_active)
    offer_active &= state.offer_end > t
    offer_active &= scratch.receiving  # set by meetings.hold this week
    state.y_weeks_offer += offer_active
    # In place, to spare a full-size temporary: scratch.obligated holds the held meetings
    # (from meetings.hold), then all obligations, then, after the draw, this week's absences.
    absent = scratch.obligated
    absent |= offer_active
    streams.uniform_into(scratch.uniform)
    absent &= scratch.uniform < state.p_absence
    scratch.absent = Subset.of(absent)
