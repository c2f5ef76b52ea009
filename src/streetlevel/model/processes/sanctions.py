"""Step 7, sanctions: re-compliance, new sanctions and their cost to the client.

A ``periodical`` sanction (the Danish rule, CHM) stops the benefit until the client complies
again; each week a sanctioned client complies with probability ``sanctions.recompliance``, so
the time to re-compliance is geometric and is drawn once, when the sanction starts. A
``deduction`` withholds ``legislation.deduction_weeks`` of benefit and leaves the client
receiving. Either way the client's absence probability drops by the ex-post effect.
"""

from __future__ import annotations

import numpy as np

from streetlevel.model.coefficients import Coefficients
from streetlevel.model.processes import attendance
from streetlevel.model.scratch import Scratch
from streetlevel.model.sink import RowLog
from streetlevel.model.state import NEVER, RECEIVING, SANCTIONED, ClientState, Subset
from streetlevel.model.streams import Streams
from streetlevel.model.world import World

__all__ = ["apply"]


def apply(
    state: ClientState,
    world: World,
    scratch: Scratch,
    coef: Coefficients,
    streams: Streams,
    log: RowLog | None,
    t: int,
) -> None:
    """Step 7: let sanctioned clients comply again, impose this week's sanctions, count the
    weeks.

    Reads: ``scratch.new_sanctions``, ``state.status``, ``state.recomply_week``,
    ``state.absence_logit``, ``state.sanctions_total``, ``world.perceived_risk``,
    ``world.slot_municipality``.
    Writes: ``scratch.sanctioned``, ``state.status``, ``state.recomply_week``,
    ``state.last_sanction``, ``state.sanctions_total``, ``state.y_sanctions``,
    ``state.y_withheld``, ``state.y_weeks_sanctioned``, ``state.p_absence`` (of the newly
    sanctioned); ``recompliance`` and ``sanction`` events to ``log``.
    Draws: a re-compliance wait per periodical sanction (main streams).
    """
    sanctioned = scratch.sanctioned  # who is sanctioned: kept up to date here, read by exits
    np.equal(state.status, SANCTIONED, out=sanctioned)
    returning = Subset.of(sanctioned & (state.recomply_week <= t))
    if len(returning):
        returning.put(state.status, RECEIVING)
        returning.put(sanctioned, False)
        if log is not None:
            log.events("recompliance", returning, state)

    new = scratch.new_sanctions
    if len(new):
        if coef.legislation_periodical:
            p = coef.sanctions_recompliance
            new.put(state.status, SANCTIONED)
            new.put(sanctioned, True)
            if p > 0:
                wait = streams.geometric_fixed(p, new.counts)
                new.put(state.recomply_week, t + wait)
            else:
                new.put(state.recomply_week, NEVER)
        else:
            deduction = coef.legislation_benefit * coef.legislation_deduction_weeks
            new.put(state.y_withheld, new.take(state.y_withheld) + deduction)
        new.put(state.last_sanction, t)
        new.put(state.sanctions_total, new.take(state.sanctions_total) + 1)
        new.put(state.y_sanctions, new.take(state.y_sanctions) + 1)
        attendance.refresh(state, world, coef, new)
        if log is not None:
            log.events("sanction", new, state)
    state.y_weeks_sanctioned += sanctioned
