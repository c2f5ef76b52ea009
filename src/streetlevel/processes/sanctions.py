"""Step 7, sanctions: re-compliance, new sanctions and their cost to the client.

A ``periodical`` sanction (the Danish rule, CHM) stops the benefit until the client complies
again; each week a sanctioned client complies with probability ``sanctions.recompliance``, so
the time to re-compliance is geometric and is drawn once, when the sanction starts. A
``deduction`` withholds ``legislation.deduction_weeks`` of benefit and leaves the client
receiving. Either way the client's absence probability drops by the ex-post effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streetlevel.processes import attendance
from streetlevel.state import NEVER, RECEIVING, SANCTIONED

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["apply"]


def apply(sim: Simulation) -> None:
    """Let sanctioned clients comply again, impose this week's sanctions, count the weeks."""
    st, s = sim.state, sim.scenario
    week = sim.week
    back = (st.status == SANCTIONED) & (st.recomply_week <= week)
    if back.any():
        b_rows, b_cols = np.nonzero(back)
        st.status[b_rows, b_cols] = RECEIVING
        if sim.recording:
            sim.record_events("recompliance", b_rows, b_cols)

    rows, cols = sim.new_sanctions
    if len(rows):
        if s.legislation.sanction_type.value == "periodical":
            counts = np.bincount(rows, minlength=st.status.shape[0])
            p = s.sanctions.recompliance.value
            st.status[rows, cols] = SANCTIONED
            if p > 0:
                wait = sim.streams.geometric(np.full(len(rows), p), counts)
                st.recomply_week[rows, cols] = week + wait
            else:
                st.recomply_week[rows, cols] = NEVER
        else:
            weeks = s.legislation.deduction_weeks.value
            st.y_withheld[rows, cols] += s.legislation.benefit.value * weeks
        st.last_sanction[rows, cols] = week
        st.sanctions_total[rows, cols] += 1
        st.y_sanctions[rows, cols] += 1
        attendance.refresh(sim, (rows, cols))
        if sim.recording:
            sim.record_events("sanction", rows, cols)
    st.y_weeks_sanctioned += st.status == SANCTIONED
