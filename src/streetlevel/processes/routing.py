"""Steps 5-6, legitimate reasons, routing and the sanction decision (MODEL.md 7.1).

Route ``caseworker`` (CHM Figure 1): the caseworker sees the absence and the client's
circumstances, accepts a legitimate reason even when undocumented, and otherwise decides with
``logistic(b0 + b_strict ms + b_att cs + b_problems problems (1 - ms) + b_load overloaded
+ b_first first_breach)``; the problems term is the legal individual assessment, which a
"HAVE TO" norm (ms = 1) overrides.

Route ``benefit_office`` (CHM Figure 2): the activation project's register goes straight to the
cash-benefit office, whose clerk sees documented reasons only and sanctions with
``logistic(c0 + c_strict ms)``; undocumented legitimate reasons go unseen.

Absences from jobcentre meetings are seen by the caseworker on either route, since the
caseworker holds the meeting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streetlevel.coefficients import logistic
from streetlevel.records import DECIDERS, OBLIGATIONS, OUTCOMES

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["DRAWS_PER_ABSENCE", "decide"]

DRAWS_PER_ABSENCE = 3  # legitimate reason, documentation, decision


def decide(sim: Simulation) -> None:
    """Decide on this week's absences; leave the sanctions to impose in ``sim.new_sanctions``."""
    rows, cols = sim.absent
    if len(rows) == 0:
        sim.new_sanctions = sim.absent
        return
    st, s = sim.state, sim.scenario
    counts = np.bincount(rows, minlength=st.status.shape[0])
    u = sim.streams.uniform(counts * DRAWS_PER_ABSENCE).reshape(-1, DRAWS_PER_ABSENCE)
    problems = st.problems[rows, cols]
    lr = s.legitimate_reason
    legitimate = u[:, 0] < logistic(lr.intercept.value + lr.problems.value * problems)
    documented = legitimate & (u[:, 1] < lr.documented.value)
    muni = sim.slot_municipality[cols]
    from_offer = sim.offer_active[rows, cols]
    to_office = from_offer & sim.country.benefit_office_route[muni]
    accepted = np.where(to_office, documented, legitimate)

    strict = sim.strictness[rows, muni]
    cw = st.caseworker[rows, cols]
    first = st.breaches_total[rows, cols] == 0
    b, c = s.decision.caseworker, s.decision.benefit_office
    assessment = float(s.legislation.individual_assessment.value)
    p_caseworker = logistic(
        b.intercept.value
        + b.management_strictness.value * strict
        + b.caseworker_strictness.value * sim.workforce.strictness[rows, cw]
        + b.problems.value * problems * (1.0 - strict) * assessment
        + b.overloaded.value * sim.workforce.overloaded[rows, cw]
        + b.first_breach.value * first
    )
    p_office = logistic(c.intercept.value + c.management_strictness.value * strict)
    sanction = ~accepted & (u[:, 2] < np.where(to_office, p_office, p_caseworker))

    breach = ~accepted
    st.y_absences[rows, cols] += 1
    st.breaches_total[rows[breach], cols[breach]] += 1
    sim.tally.add("absences", rows, muni)
    sim.tally.add("breaches", rows[breach], muni[breach])
    sim.new_sanctions = (rows[sanction], cols[sanction])

    if sim.recording:
        obligation = np.where(from_offer, OBLIGATIONS.index("offer"), OBLIGATIONS.index("meeting"))
        sim.record_events(
            "absence",
            rows,
            cols,
            obligation=obligation,
            legitimate=legitimate,
            documented=documented,
        )
        outcome = np.where(
            sanction,
            OUTCOMES.index("sanction"),
            np.where(accepted, OUTCOMES.index("reason_accepted"), OUTCOMES.index("no_sanction")),
        )
        decider = np.where(
            to_office, DECIDERS.index("benefit_office"), DECIDERS.index("caseworker")
        )
        sim.record_events(
            "decision", rows, cols, obligation=obligation, decider=decider, outcome=outcome
        )
