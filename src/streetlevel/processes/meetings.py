"""Step 3, meetings: each receiving client meets the jobcentre every ``meetings.interval`` weeks.

A due meeting is held on time with a probability that falls with the caseworker's caseload
(the timeliness indicator of the national database, CHM); a meeting not held stays due and is
held late. A held meeting is an obligation to attend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streetlevel.state import RECEIVING

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["hold"]


def hold(sim: Simulation) -> None:
    """Hold due meetings; mark the held ones in ``sim.obligated``."""
    st = sim.state
    sim.obligated[:] = False
    due = (st.next_meeting <= sim.week) & (st.status == RECEIVING)
    rows, cols = np.nonzero(due)
    if len(rows) == 0:
        return
    counts = due.sum(axis=1)
    p_timely = sim.workforce.p_timely[rows, st.caseworker[rows, cols]]
    held = sim.streams.uniform(counts) < p_timely
    was_late = st.meeting_late[rows, cols]
    h_rows, h_cols = rows[held], cols[held]
    sim.obligated[h_rows, h_cols] = True
    st.next_meeting[h_rows, h_cols] = sim.week + sim.scenario.meetings.interval.value
    st.meeting_late[rows, cols] = ~held
    muni = sim.slot_municipality[h_cols]
    on_time = ~was_late[held]
    sim.tally.add("meetings_timely", h_rows[on_time], muni[on_time])
    sim.tally.add("meetings_late", h_rows[~on_time], muni[~on_time])
