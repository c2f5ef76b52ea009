"""The codes the processes write and the tables label: event kinds, routes, outcomes, ...

A process records a code (an index into one of these tuples); the Parquet tables store the
label, as a dictionary column (:mod:`streetlevel.output.parquet`).
"""

from __future__ import annotations

__all__ = [
    "AGE_GROUPS",
    "DECIDERS",
    "DESTINATIONS",
    "EVENTS",
    "OBLIGATIONS",
    "OUTCOMES",
    "ROUTES",
]

EVENTS = ("absence", "sanction", "recompliance", "exit", "placement")
"""Event kinds; an absence row also carries the decision made on it (route, decider,
outcome), and a placement row (a job-placement proposal, docs/model.md 7.13) the caseworker's
decision (outcome ``approved`` or ``overruled``)."""
OBLIGATIONS = ("offer", "meeting")
ROUTES = ("caseworker", "benefit_office")
"""The municipality's absence route: CHM Figure 1 (``caseworker``) or Figure 2."""
DECIDERS = ("caseworker", "benefit_office")
OUTCOMES = ("sanction", "no_sanction", "reason_accepted", "approved", "overruled")
DESTINATIONS = ("work", "other", "unknown")
AGE_GROUPS = ("under 30", "30-49", "50+")
