"""Step 2, offers: active offers end, and clients without one wait for the next.

Offer lengths and the waits between offers are geometric (memoryless), drawn once when an
offer ends rather than as a coin flip every week: the same process, with far fewer random
numbers. The wait's mean is set so that, over a long spell, the share of weeks with an
offer equals the category's activation degree (see
:class:`~streetlevel.model.coefficients.Coefficients`). The indicator of a year is lower: new
clients start with a wait, and weeks under a sanction count as weeks without an offer. In era 2011
the passive category never gets an offer (its next offer is scheduled for ``NEVER``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streetlevel.model.state import Subset

if TYPE_CHECKING:
    from streetlevel.model.engine import Simulation

__all__ = ["schedule"]


def schedule(sim: Simulation) -> None:
    """Schedule the next offer of every client whose offer ended last week."""
    st, coef = sim.state, sim.coef
    sub = Subset.of(st.offer_end <= sim.week)
    if len(sub) == 0:
        return
    wait = sim.streams.geometric_of(coef.offer_start, sub.take(st.category), sub.counts) - 1
    length = sim.streams.geometric_fixed(coef.offer_end, sub.counts)
    sub.put(st.offer_start, sim.week + wait)
    sub.put(st.offer_end, sim.week + wait + length)
