"""Steps 5-6, legitimate reasons, routing and the sanction decision (docs/model.md 7.8).

Route ``caseworker`` (CHM Figure 1): the caseworker sees the absence and the client's
circumstances, accepts a legitimate reason even when undocumented, and otherwise decides with
``logistic(b0 + b_strict ms + b_att cs + b_problems problems (1 - ms) + b_load overloaded
+ b_first first_breach)``, where ``cs`` is the caseworker's latent strictness, their own part
plus their office's culture (:mod:`streetlevel.model.culture`, which also sets ``b_att`` by
the highest-priority rule); the problems term is the legal individual assessment, which a
"HAVE TO" norm (ms = 1) overrides.

Route ``benefit_office`` (CHM Figure 2): the activation project's register goes straight to the
cash-benefit office, whose clerk sees documented reasons only and sanctions with
``logistic(c0 + c_strict ms)``; undocumented legitimate reasons go unseen.

Absences from jobcentre meetings are seen by the caseworker on either route, since the
caseworker holds the meeting.
"""

from __future__ import annotations

import numpy as np

from streetlevel.model.codes import DECIDERS, OBLIGATIONS, OUTCOMES, ROUTES
from streetlevel.model.coefficients import Coefficients, logistic
from streetlevel.model.scratch import Scratch
from streetlevel.model.sink import RowLog
from streetlevel.model.state import ClientState
from streetlevel.model.streams import Streams
from streetlevel.model.world import World

__all__ = ["DRAWS_PER_ABSENCE", "decide"]

DRAWS_PER_ABSENCE = 3  # legitimate reason, documentation, decision


def decide(
    state: ClientState,
    world: World,
    scratch: Scratch,
    coef: Coefficients,
    streams: Streams,
    log: RowLog | None,
) -> None:
    """Steps 5-6: decide on this week's absences; leave the sanctions to impose in
    ``scratch.new_sanctions``.

    Reads: ``scratch.absent``, ``scratch.offer_active``, ``state.problems``, ``state.category``,
    ``state.caseworker``, ``state.breaches_total``, ``world.strictness``,
    ``world.caseworker_strictness``, ``world.office_culture``, ``world.overloaded``,
    ``world.benefit_office_route``, ``world.slot_municipality``.
    Writes: ``scratch.new_sanctions``, ``state.y_absences``, ``state.breaches_total``,
    ``world.tally`` (absences, breaches); ``absence`` events to ``log``.
    Draws: three uniforms per absence (main streams).
    """
    absent = scratch.absent
    if len(absent) == 0:
        scratch.new_sanctions = absent
        return
    u = streams.uniform(absent.counts * DRAWS_PER_ABSENCE).reshape(-1, DRAWS_PER_ABSENCE)
    problems = absent.take(state.problems)
    # Probabilities that take few values are computed once per value and looked up: NumPy's
    # exp gives each element the same result wherever it stands in an array (checked), so
    # these are the numbers computed per absence, at a fifth of the time.
    p_legitimate = logistic(
        coef.legitimate_reason_intercept + coef.legitimate_reason_problems * np.array([False, True])
    )
    legitimate = u[:, 0] < p_legitimate[problems.view(np.int8)]
    documented = legitimate & (u[:, 1] < coef.legitimate_reason_documented)
    rows = absent.rows
    muni = world.slot_municipality[absent.cols]
    from_offer = absent.take(scratch.offer_active)
    # The register goes to the office only from activation projects that keep one, and only
    # where the law has made the office an organisation of its own.
    register = coef.attendance_register[absent.take(state.category)]
    to_office = (
        from_offer & world.benefit_office_route[muni] & register & coef.separate_benefit_office
    )
    accepted = np.where(to_office, documented, legitimate)

    # Flat gathers from the (replications x municipalities / caseworkers) arrays: half the time
    # of (row, column) indexing at 40,000 absences a week (profiled). The tally's cells are
    # the flat (replication, municipality) indices.
    tally = world.tally
    cells = tally.cells(rows, muni)
    strict = world.strictness.reshape(-1)[cells.key]
    cw = absent.take(state.caseworker)
    at_cw = rows * world.n_caseworkers + cw
    first = absent.take(state.breaches_total) == 0
    # The caseworker's own strictness plus their office's culture (fixed for the country).
    cw_strict = world.caseworker_strictness.reshape(-1)[at_cw] + world.office_culture[muni]
    overloaded = world.overloaded.reshape(-1)[at_cw]
    assessment = float(coef.legislation_individual_assessment)
    p_caseworker = logistic(
        coef.decision_caseworker_intercept
        + coef.decision_caseworker_management_strictness * strict
        + coef.decision_caseworker_caseworker_strictness * cw_strict
        + coef.decision_caseworker_problems * problems * (1.0 - strict) * assessment
        + coef.decision_caseworker_overloaded * overloaded
        + coef.decision_caseworker_first_breach * first
    )
    p_office = logistic(
        coef.decision_benefit_office_intercept
        + coef.decision_benefit_office_management_strictness * world.strictness
    )
    p_office = p_office.reshape(-1)[cells.key]
    sanction = ~accepted & (u[:, 2] < np.where(to_office, p_office, p_caseworker))

    breach = ~accepted
    absent.put(state.y_absences, absent.take(state.y_absences) + 1)
    absent.put(state.breaches_total, absent.take(state.breaches_total) + breach)
    tally.add_at("absences", cells)
    tally.add_at("breaches", cells, breach)
    scratch.new_sanctions = absent.select(sanction)

    if log is not None:
        # One row per absence, carrying the decision made on it (route, decider, outcome).
        # Codes as the table's int16 from the start, and the municipality and caseworker as
        # gathered above: no copies or gathers again for a tenth of a million rows a week.
        log.events(
            "absence",
            absent,
            state,
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
                world.benefit_office_route[muni],
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
