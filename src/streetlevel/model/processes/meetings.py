"""Step 3, meetings: each receiving client meets the jobcentre every ``meetings.interval`` weeks.

A due meeting is held on time with a probability that falls with the caseworker's caseload
(the timeliness indicator of the national database, CHM); a meeting not held stays due and is
held late. A held meeting is an obligation to attend.
"""

from __future__ import annotations

import numpy as np

from streetlevel.model.coefficients import Coefficients
from streetlevel.model.kernels import flat_true
from streetlevel.model.scratch import Scratch
from streetlevel.model.state import RECEIVING, ClientState, Subset
from streetlevel.model.streams import Streams
from streetlevel.model.world import World

__all__ = ["hold"]


def hold(
    state: ClientState,
    world: World,
    scratch: Scratch,
    coef: Coefficients,
    streams: Streams,
    t: int,
) -> None:
    """Step 3: hold due meetings; mark the held ones in ``scratch.obligated``.

    Reads: ``state.status``, ``state.next_meeting``, ``state.caseworker``,
    ``state.meeting_late``, ``world.p_timely``, ``world.slot_municipality``.
    Writes: ``scratch.receiving``, ``scratch.obligated``, ``state.meeting_late``,
    ``state.next_meeting``, ``world.tally`` (meetings on time and late).
    Draws: a uniform per due meeting (main streams).
    """
    scratch.obligated[:] = False
    # Status does not change again until sanctions are applied: attendance reuses this mask.
    np.equal(state.status, RECEIVING, out=scratch.receiving)
    due = state.next_meeting <= t
    due &= scratch.receiving
    sub = Subset.of(due)
    if len(sub) == 0:
        return
    at_cw = sub.rows * world.n_caseworkers + sub.take(state.caseworker)
    p_timely = world.p_timely.reshape(-1)[at_cw]
    held = streams.uniform(sub.counts) < p_timely
    was_late = sub.take(state.meeting_late)
    sub.put(state.meeting_late, ~held)
    at = flat_true(held)
    meet = sub.pick(at)
    meet.put(scratch.obligated, True)
    meet.put(state.next_meeting, t + coef.meetings_interval)
    on_time = ~was_late[at]
    cells = world.tally.cells(meet.rows, world.slot_municipality[meet.cols])
    world.tally.add_at("meetings_timely", cells, on_time)
    world.tally.add_at("meetings_late", cells, ~on_time)
