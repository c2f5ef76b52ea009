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

from streetlevel.model.processes import attendance
from streetlevel.model.state import NEVER, RECEIVING, SANCTIONED, Subset

if TYPE_CHECKING:
    from streetlevel.model.engine import Simulation

__all__ = ["apply"]


def apply(sim: Simulation) -> None:
    """Let sanctioned clients comply again, impose this week's sanctions, count the weeks."""
    st, s = sim.state, sim.scenario
    week = sim.week
    sanctioned = sim.sanctioned  # who is sanctioned: kept up to date here, read by exits
    np.equal(st.status, SANCTIONED, out=sanctioned)
    returning = Subset.of(sanctioned & (st.recomply_week <= week))
    if len(returning):
        returning.put(st.status, RECEIVING)
        returning.put(sanctioned, False)
        if sim.recording:
            sim.record_events("recompliance", returning)

    new = sim.new_sanctions
    if len(new):
        if s.legislation.sanction_type.value == "periodical":
            p = s.sanctions.recompliance.value
            new.put(st.status, SANCTIONED)
            new.put(sanctioned, True)
            if p > 0:
                wait = sim.streams.geometric_fixed(p, new.counts)
                new.put(st.recomply_week, week + wait)
            else:
                new.put(st.recomply_week, NEVER)
        else:
            deduction = s.legislation.benefit.value * s.legislation.deduction_weeks.value
            new.put(st.y_withheld, new.take(st.y_withheld) + deduction)
        new.put(st.last_sanction, week)
        new.put(st.sanctions_total, new.take(st.sanctions_total) + 1)
        new.put(st.y_sanctions, new.take(st.y_sanctions) + 1)
        attendance.refresh(sim, new)
        if sim.recording:
            sim.record_events("sanction", new)
    st.y_weeks_sanctioned += sanctioned
