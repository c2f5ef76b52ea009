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

from streetlevel.model.codes import DECIDERS, OBLIGATIONS, OUTCOMES, ROUTES
from streetlevel.model.coefficients import logistic

if TYPE_CHECKING:
    from streetlevel.model.engine import Simulation

__all__ = ["DRAWS_PER_ABSENCE", "decide"]

DRAWS_PER_ABSENCE = 3  # legitimate reason, documentation, decision


def decide(sim: Simulation) -> None:
    """Decide on this week's absences; leave the sanctions to impose in ``sim.new_sanctions``."""
    absent = sim.absent
    if len(absent) == 0:
        sim.new_sanctions = absent
        return
    st, s = sim.state, sim.scenario
    u = sim.streams.uniform(absent.counts * DRAWS_PER_ABSENCE).reshape(-1, DRAWS_PER_ABSENCE)
    problems = absent.take(st.problems)
    lr = s.legitimate_reason
    # Probabilities that take few values are computed once per value and looked up: NumPy's
    # exp gives each element the same result wherever it stands in an array (checked), so
    # these are the numbers computed per absence, at a fifth of the time.
    p_legitimate = logistic(lr.intercept.value + lr.problems.value * np.array([False, True]))
    legitimate = u[:, 0] < p_legitimate[problems.view(np.int8)]
    documented = legitimate & (u[:, 1] < lr.documented.value)
    rows = absent.rows
    muni = sim.slot_municipality[absent.cols]
    from_offer = absent.take(sim.offer_active)
    to_office = from_offer & sim.country.benefit_office_route[muni]
    accepted = np.where(to_office, documented, legitimate)

    # Flat gathers from the (replications x municipalities / caseworkers) arrays: half the time
    # of (row, column) indexing at 40,000 absences a week (profiled). The tally's cells are
    # the flat (replication, municipality) indices.
    cells = sim.tally.cells(rows, muni)
    strict = sim.strictness.reshape(-1)[cells.key]
    cw = absent.take(st.caseworker)
    at_cw = rows * sim.workforce.n_caseworkers + cw
    first = absent.take(st.breaches_total) == 0
    b, c = s.decision.caseworker, s.decision.benefit_office
    assessment = float(s.legislation.individual_assessment.value)
    p_caseworker = logistic(
        b.intercept.value
        + b.management_strictness.value * strict
        + b.caseworker_strictness.value * sim.workforce.strictness.reshape(-1)[at_cw]
        + b.problems.value * problems * (1.0 - strict) * assessment
        + b.overloaded.value * sim.workforce.overloaded.reshape(-1)[at_cw]
        + b.first_breach.value * first
    )
    p_office = logistic(c.intercept.value + c.management_strictness.value * sim.strictness)
    p_office = p_office.reshape(-1)[cells.key]
    sanction = ~accepted & (u[:, 2] < np.where(to_office, p_office, p_caseworker))

    breach = ~accepted
    absent.put(st.y_absences, absent.take(st.y_absences) + 1)
    absent.put(st.breaches_total, absent.take(st.breaches_total) + breach)
    sim.tally.add_at("absences", cells)
    sim.tally.add_at("breaches", cells, breach)
    sim.new_sanctions = absent.select(sanction)

    if sim.recording:
        # One row per absence, carrying the decision made on it (route, decider, outcome).
        # Codes as the table's int16 from the start, and the municipality and caseworker as
        # gathered above: no copies or gathers again for a tenth of a million rows a week.
        sim.record_events(
            "absence",
            absent,
            municipality=muni,
            caseworker=cw,
            obligation=np.where(
                from_offer, _code(OBLIGATIONS, "offer"), _code(OBLIGATIONS, "meeting")
            ),
            legitimate=legitimate,
            documented=documented,
            # The municipality's organisation; a meeting absence is decided by the caseworker
            # on either route.
            route=np.where(
                sim.country.benefit_office_route[muni],
                _code(ROUTES, "benefit_office"),
                _code(ROUTES, "caseworker"),
            ),
            decider=np.where(
                to_office, _code(DECIDERS, "benefit_office"), _code(DECIDERS, "caseworker")
            ),
            outcome=np.where(
                sanction,
                _code(OUTCOMES, "sanction"),
                np.where(
                    accepted, _code(OUTCOMES, "reason_accepted"), _code(OUTCOMES, "no_sanction")
                ),
            ),
        )


def _code(labels: tuple[str, ...], name: str) -> np.int16:
    """A label's code, in the events table's type."""
    return np.int16(labels.index(name))
