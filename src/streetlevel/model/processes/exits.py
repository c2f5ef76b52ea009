"""Step 8, exits: to work, to other support or education, and to unknown (docs/model.md 7.10).

Weekly hazards per category, falling by ``exits.duration_decay`` per year on benefit for the
first ``exits.duration_decay_years`` years, constant after. A client's years on benefit are
counted when the cached hazard is refreshed (at entry and at each year end), so the step
comes at the first year end after an anniversary of the spell. After a
sanction the exit-to-work hazard is multiplied by ``1 + post_effect x fade``, where ``fade``
falls linearly from 1 in the week of the sanction to 0 after ``post_effect_weeks`` (Svarer
2011). While sanctioned, the hazard of leaving to *unknown* is multiplied by
``unknown_while_sanctioned`` (the hardship CHM's caseworkers wonder about; NAO 2016).
After an approved job placement (docs/model.md 7.13) the exit-to-work hazard is multiplied by
``1 + placements.work_effect`` until ``state.placement_until``.

Each week uses the same uniform as attendance: a client exits when it is at or above
``1 - hazard`` and is absent when it is below the absence probability. The two events are then
exclusive within a week, which is immaterial at weekly rates of a few percent (it would only
matter if the absence probability and the exit hazard summed to more than one).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streetlevel.model.codes import DESTINATIONS
from streetlevel.model.coefficients import Coefficients, decay_factor
from streetlevel.model.processes import client_years
from streetlevel.model.scratch import Scratch
from streetlevel.model.sink import RowLog
from streetlevel.model.state import EXITED, SANCTIONED, ClientState, Subset
from streetlevel.model.streams import Streams
from streetlevel.model.world import World

__all__ = ["hazards", "leave", "refresh", "threshold"]


def _years_on(
    coef: Coefficients, t: int, entry: npt.NDArray[np.integer] | int, now: bool
) -> npt.NDArray[np.int64]:
    """Whole years on benefit since ``entry``, counted ``now`` (at a refresh in week ``t``) or
    as the last refresh counted them: at the last year end, or at entry for clients who
    entered since (or at week 0)."""
    wpy = coef.weeks_per_year
    counted = t if now else np.maximum(entry, max(t // wpy * wpy - 1, 0))
    return np.asarray((counted - entry) // wpy, dtype=np.int64)


def threshold(
    coef: Coefficients,
    t: int,
    category: npt.NDArray[np.integer],
    entry: npt.NDArray[np.integer] | int,
) -> npt.NDArray[np.float64]:
    """1 - the weekly exit hazard with no recent sanction, in week ``t``, for clients of
    ``category`` on benefit since ``entry``, counted now."""
    total: npt.NDArray[np.float64] = coef.exit_rates.sum(axis=1)[category]
    years = _years_on(coef, t, entry, now=True)
    return 1.0 - total * decay_factor(
        coef.exits_duration_decay, coef.exits_duration_decay_years, years
    )


def refresh(state: ClientState, coef: Coefficients, t: int, sub: Subset | None = None) -> None:
    """Recompute the cached exit threshold (no recent sanction) of ``sub`` (default: all).

    Reads: ``state.category``, ``state.entry_week``. Writes: ``state.exit_threshold``.
    """
    if sub is None:
        state.exit_threshold[:] = threshold(coef, t, state.category, state.entry_week)
    else:
        category, entry = sub.take(state.category), sub.take(state.entry_week)
        sub.put(state.exit_threshold, threshold(coef, t, category, entry))


def hazards(state: ClientState, coef: Coefficients, t: int, sub: Subset) -> npt.NDArray[np.float64]:
    """This week's hazards (clients x [work, other, unknown]), sanction effects included."""
    h = _rates(coef, t, sub.take(state.category), sub.take(state.entry_week))
    since = t - sub.take(state.last_sanction).astype(np.int64)
    fade = np.clip(1.0 - since / coef.exits_post_effect_weeks, 0.0, 1.0)
    h[:, 0] *= 1.0 + coef.exits_post_effect * fade
    if coef.placement_work_effect:
        # An approved job placement (docs/model.md 7.13) raises the exit-to-work hazard while
        # it lasts.
        placed = sub.take(state.placement_until) > t
        h[:, 0] *= np.where(placed, 1.0 + coef.placement_work_effect, 1.0)
    unknown = coef.exits_unknown_while_sanctioned
    h[:, 2] *= np.where(sub.take(state.status) == SANCTIONED, unknown, 1.0)
    return np.asarray(np.clip(h, 0.0, 1.0), dtype=np.float64)


def _rates(
    coef: Coefficients, t: int, category: npt.NDArray[np.integer], entry: npt.NDArray[np.integer]
) -> npt.NDArray[np.float64]:
    """The hazards with no sanction effects, before clipping."""
    # The same years as the cached threshold, so a sanction changes nothing but its effects.
    # Years on benefit count no further than the decay does (never negative here: the last
    # refresh came at or after entry). One index per client into each destination's row of
    # the rates by years: a third of the time of a row gather from the (categories x 3) rates
    # and a broadcast product, and the same numbers.
    last = coef.exits_duration_decay_years
    years = np.minimum(_years_on(coef, t, entry, now=False), last)
    at = np.asarray(category, dtype=np.intp) * (last + 1) + years
    table = coef.exit_rates_by_years
    rates = np.empty((len(at), len(table)))
    for j, row in enumerate(table):
        rates[:, j] = row[at]
    return rates


def _candidates(state: ClientState, scratch: Scratch, coef: Coefficients, t: int) -> Subset:
    """Mark in ``scratch.leaving`` the clients whose cached threshold this week's uniform
    reaches; return the sanctioned and recently sanctioned clients it may reach, whose hazards
    are their own and changing."""
    u, leaving = scratch.uniform, scratch.leaving
    recent_after = t - coef.exits_post_effect_weeks
    # Their hazards are computed only where this week's uniform could reach them: below
    # 1 - (the largest hazard any of them can have) none leaves (profiled: a tenth of the
    # work). Compared in float32, as NumPy compares a float32 array with a Python float.
    reach = np.float32(1.0 - coef.exit_hazard_bound)
    np.greater_equal(u, state.exit_threshold, out=leaving)
    special = state.last_sanction > recent_after
    special |= scratch.sanctioned  # set by sanctions.apply this week
    if coef.placement_work_effect:
        special |= state.placement_until > t  # an approved placement's raised hazard
    leaving &= ~special
    special &= u >= reach
    return Subset.of(special)


def leave(
    state: ClientState,
    world: World,
    scratch: Scratch,
    coef: Coefficients,
    streams: Streams,
    log: RowLog | None,
    t: int,
) -> None:
    """Step 8: exit clients, close their client-years and free their slots for next week's
    inflow.

    Reads: ``scratch.uniform``, ``scratch.sanctioned``, ``state.exit_threshold``,
    ``state.last_sanction``, ``state.placement_until``, ``state.status``, ``state.category``,
    ``state.entry_week`` and what closing a client-year reads (:func:`client_years.close`).
    Writes: ``scratch.leaving``, ``scratch.exited``, ``state.status`` (exited),
    ``state.placement_until`` (reset), ``world.tally``; ``exit`` events and client-years to ``log``.
    Draws: a destination uniform per leaver (main streams).
    """
    u = scratch.uniform
    leaving = scratch.leaving
    sp = _candidates(state, scratch, coef, t)
    if len(sp):
        h_sp = hazards(state, coef, t, sp)
        sp_leave = sp.take(u) >= 1.0 - np.minimum(h_sp.sum(axis=1), 1.0)
        sp.put(leaving, sp_leave)
    gone = Subset.of(leaving)
    scratch.exited = gone
    if len(gone) == 0:
        return
    # Most leave at their cached threshold, with no sanction effects: their hazards are the
    # rates alone (the effects multiply by exactly 1), and the few others' are those just
    # computed (a tenth of the exits' time).
    category = gone.take(state.category)
    h = np.clip(_rates(coef, t, category, gone.take(state.entry_week)), 0.0, 1.0)
    if len(sp) and sp_leave.any():
        h[np.searchsorted(gone.flat, sp.flat[sp_leave])] = h_sp[sp_leave]
    # The running sums of the three hazards, as np.cumsum and np.sum add them, without their
    # per-row loops over an axis of three (a tenth of the exits' time).
    work, work_other = h[:, 0], h[:, 0] + h[:, 1]
    total = work_other + h[:, 2]
    v = streams.uniform(gone.counts) * total
    below = (v >= work).astype(np.int64) + (v >= work_other) + (v >= total)
    destination = np.minimum(below, len(DESTINATIONS) - 1)
    client_years.close(state, world, coef, log, t, gone, destination, category)
    if log is not None:
        log.events("exit", gone, state, destination=destination)
    gone.put(state.status, EXITED)
    if coef.placement_work_effect:
        gone.put(state.placement_until, 0)  # the slot's next client has had no placement
