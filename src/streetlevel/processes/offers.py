"""Step 2, offers: active offers end, and clients without one wait for the next.

Offer lengths and the waits between offers are geometric (memoryless), drawn once when an
offer ends rather than as a coin flip every week: the same process, with far fewer random
numbers. The wait's mean is set so that the share of weeks with an offer equals the
category's activation degree (see :class:`~streetlevel.coefficients.Coefficients`). In era 2011
the passive category never gets an offer (its next offer is scheduled for ``NEVER``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["schedule"]


def schedule(sim: Simulation) -> None:
    """Schedule the next offer of every client whose offer ended last week."""
    st, coef = sim.state, sim.coef
    ended = st.offer_end <= sim.week
    if not ended.any():
        return
    rows, cols = np.nonzero(ended)
    counts = ended.sum(axis=1)
    cat = st.category[rows, cols]
    wait = sim.streams.geometric(coef.offer_start[cat], counts) - 1
    length = sim.streams.geometric(np.full(len(rows), coef.offer_end), counts)
    st.offer_start[rows, cols] = sim.week + wait
    st.offer_end[rows, cols] = sim.week + wait + length
