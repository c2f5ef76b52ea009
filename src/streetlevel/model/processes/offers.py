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

from streetlevel.model.coefficients import Coefficients
from streetlevel.model.state import ClientState, Subset
from streetlevel.model.streams import Streams

__all__ = ["schedule"]


def schedule(state: ClientState, coef: Coefficients, streams: Streams, t: int) -> None:
    """Step 2: schedule the next offer of every client whose offer ended last week.

    Reads: ``state.offer_end``, ``state.category``.
    Writes: ``state.offer_start``, ``state.offer_end``.
    Draws: a wait and a length per ended offer (main streams).
    """
    sub = Subset.of(state.offer_end <= t)
    if len(sub) == 0:
        return
    wait = streams.geometric_of(coef.offer_start, sub.take(state.category), sub.counts) - 1
    length = streams.geometric_fixed(coef.offer_end, sub.counts)
    sub.put(state.offer_start, t + wait)
    sub.put(state.offer_end, t + wait + length)
