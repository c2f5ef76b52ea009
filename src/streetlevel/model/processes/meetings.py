"""Step 3, meetings: each receiving client meets the jobcentre every ``meetings.interval`` weeks.

A due meeting is held on time with a probability that falls with the caseworker's caseload
(the timeliness indicator of the national database, CHM); a meeting not held stays due and is
held late. A held meeting is an obligation to attend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streetlevel.model.kernels import flat_true
from streetlevel.model.state import RECEIVING, Subset

if TYPE_CHECKING:
    from streetlevel.model.engine import Simulation

__all__ = ["hold"]


def hold(sim: Simulation) -> None:
    """Hold due meetings; mark the held ones in ``sim.obligated``."""
    st = sim.state
    sim.obligated[:] = False
    # Status does not change again until sanctions are applied: attendance reuses this mask.
    np.equal(st.status, RECEIVING, out=sim.receiving)
    due = st.next_meeting <= sim.week
    due &= sim.receiving
    sub = Subset.of(due)
    if len(sub) == 0:
        return
    at_cw = sub.rows * sim.workforce.n_caseworkers + sub.take(st.caseworker)
    p_timely = sim.workforce.p_timely.reshape(-1)[at_cw]
    held = sim.streams.uniform(sub.counts) < p_timely
    was_late = sub.take(st.meeting_late)
    sub.put(st.meeting_late, ~held)
    at = flat_true(held)
    meet = sub.pick(at)
    meet.put(sim.obligated, True)
    meet.put(st.next_meeting, sim.week + sim.scenario.meetings.interval.value)
    on_time = ~was_late[at]
    cells = sim.tally.cells(meet.rows, sim.slot_municipality[meet.cols])
    sim.tally.add_at("meetings_timely", cells, on_time)
    sim.tally.add_at("meetings_late", cells, ~on_time)
