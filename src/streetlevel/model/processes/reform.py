"""At the start of a year in which a dated value changes: re-categorise clients and give them
the obligations of their category (docs/model.md section 3 and 7.14).

CHM 3.2: "After January 2014, cash benefit recipients are, by definition, either ready for the
labour market, ready for education or ready for active measures. This means that it is now
impossible for the Jobcentre to define clients as 'temporarily passive'". When a category
that takes clients by their attributes comes into force (``members =
"under_30_low_education"``), every client already on benefit who has them moves into it, as
new clients do from then on; a client's other attributes (problems included) stay theirs.
Clients whose category now gets offers but who have none scheduled (the passive category of
before 2014) are given one from next week, and clients whose category no longer gets offers
lose theirs.
"""

from __future__ import annotations

from streetlevel.model.coefficients import Coefficients
from streetlevel.model.state import EXITED, NEVER, ClientState

__all__ = ["apply"]


def apply(state: ClientState, coef: Coefficients, t: int) -> None:
    """Re-categorise by attributes and reschedule offers to the categories in force, in week
    ``t`` (the last of a year, after which the new year's coefficients hold).

    Reads: ``state.status``, ``state.age_group``, ``state.low_education``, ``state.category``,
    ``state.offer_end``.
    Writes: ``state.category`` (re-categorised clients), ``state.offer_start``,
    ``state.offer_end`` (clients whose category's obligations changed).
    Draws: none (the offers are drawn by step 2 as for any ended offer).
    """
    alive = state.status != EXITED
    if coef.by_attributes >= 0:
        moving = alive & (state.age_group == 0) & state.low_education
        state.category[moving] = coef.by_attributes
    offers = coef.receives_offers[state.category]
    # An offer ending this week is scheduled again by step 2 in the week to come.
    waiting = alive & offers & (state.offer_end >= NEVER)
    state.offer_end[waiting] = t
    passive = alive & ~offers & (state.offer_end < NEVER)
    state.offer_start[passive] = NEVER
    state.offer_end[passive] = NEVER
