"""Step 9, job-placement proposals and the caseworker's decision on them (MODEL.md 7.2).

A client who found an employer willing to take them asks the caseworker to finance a job
placement. Each week every client on the caseload proposes with rate ``placements.proposal``
(candidates are a Poisson number of slots drawn at random, kept if occupied: the same process
as a weekly coin flip per client, at the cost of the few proposals only). The caseworker
overrules the proposal with the per-proposal probability

    logistic(overrule.intercept + sum_k overrule.k * x_k(caseworker))          minority client
    logistic(... + majority_difference - the attitudes about minorities)       majority client

where ``x`` are DK's covariates of the caseworker
(:data:`streetlevel.model.attitudes.COVARIATES`): attitudes, role, routines, seniority, works
in the capital, more than 250 users. The two attitudes about immigrants and minority clients
(:data:`~streetlevel.model.attitudes.MINORITY_ATTITUDES`) weigh on minority clients' proposals
only. The coefficients are per proposal, chosen by indirect inference so that DK's
survey-level regression is recovered (:mod:`streetlevel.survey.indirect`).

Draws come from a child stream of their own, so scenarios with and without ``[placements]``
share every other draw. A proposal is a ``placement`` event whose outcome is ``approved`` or
``overruled``; the client stays on the caseload either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.model.attitudes import COVARIATES, MINORITY_ATTITUDES, covariate_matrix
from streetlevel.model.codes import OUTCOMES
from streetlevel.model.coefficients import logistic
from streetlevel.model.state import EXITED, Subset
from streetlevel.model.streams import Stream

if TYPE_CHECKING:
    from streetlevel.model.caseworkers import Workforce
    from streetlevel.model.country import Country
    from streetlevel.model.engine import Simulation
    from streetlevel.model.streams import Streams
    from streetlevel.scenario.schema import Placements, Scenario

__all__ = [
    "PlacementModel",
    "capital_mask",
    "caseworker_covariates",
    "overrule_logits",
    "propose",
]

F64 = npt.NDArray[np.float64]


def capital_mask(scenario: Scenario, country: Country) -> npt.NDArray[np.bool_]:
    """Which municipalities are the capital (a listed municipality with ``capital = true``)."""
    capitals = {m.name for m in scenario.municipalities if m.capital and m.capital.value}
    return np.array([name in capitals for name in country.names], dtype=bool)


def caseworker_covariates(scenario: Scenario, country: Country, workforce: Workforce) -> F64:
    """DK's covariates of every caseworker, (replications x caseworkers x covariates)."""
    oslo = capital_mask(scenario, country)[workforce.municipality]
    oslo = np.broadcast_to(oslo, workforce.caseload.shape)
    return covariate_matrix(workforce.attitudes, oslo, workforce.caseload)


def overrule_logits(placements: Placements, covariates: F64) -> tuple[F64, F64]:
    """Per-proposal log-odds of overruling a minority and a majority client's proposal."""
    o = placements.overrule
    coef = np.array([getattr(o, name).value for name in COVARIATES], dtype=np.float64)
    minority = o.intercept.value + covariates @ coef
    about = np.array([name in MINORITY_ATTITUDES for name in COVARIATES])
    shift = placements.majority_difference.value
    majority = minority + shift - covariates[..., about] @ coef[about]
    return minority, majority


@dataclass(frozen=True)
class PlacementModel:
    """What step 9 needs, computed once per batch: rates, per-caseworker log-odds, streams."""

    rate: float
    logit_minority: F64
    logit_majority: F64
    streams: Streams

    @classmethod
    def build(cls, sim: Simulation) -> PlacementModel | None:
        p = sim.scenario.placements
        if p is None:
            return None
        x = caseworker_covariates(sim.scenario, sim.country, sim.workforce)
        minority, majority = overrule_logits(p, x)
        return cls(p.proposal.value, minority, majority, sim.streams.child(Stream.PLACEMENT))


def propose(sim: Simulation) -> None:
    """This week's proposals and the caseworkers' decisions on them."""
    model = sim.placement_model
    if model is None:
        return
    st = sim.state
    reps, slots = st.status.shape
    flat_parts = []
    for r, gen in enumerate(model.streams.generators):
        candidates = gen.integers(0, slots, gen.poisson(model.rate * slots))
        flat_parts.append(r * slots + np.unique(candidates))
    flat = np.concatenate(flat_parts)
    occupied = st.status.reshape(-1)[flat] != EXITED
    mask = np.zeros(reps * slots, dtype=bool)
    mask[flat[occupied]] = True
    sub = Subset.of(mask.reshape(reps, slots))
    if len(sub) == 0:
        return
    cw = sub.take(st.caseworker)
    logit = np.where(
        sub.take(st.minority),
        model.logit_minority[sub.rows, cw],
        model.logit_majority[sub.rows, cw],
    )
    overruled = model.streams.uniform(sub.counts) < logistic(logit)
    if sim.recording:
        sim.record_events(
            "placement",
            sub,
            outcome=np.where(overruled, OUTCOMES.index("overruled"), OUTCOMES.index("approved")),
        )
