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
from streetlevel.model.caseworkers import Workforce
from streetlevel.model.codes import OUTCOMES
from streetlevel.model.coefficients import logistic
from streetlevel.model.country import Country
from streetlevel.model.sink import RowLog
from streetlevel.model.state import EXITED, ClientState, Subset
from streetlevel.model.streams import Streams

if TYPE_CHECKING:
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
    """Step 9's coefficients: the weekly proposal rate and each caseworker's log-odds of
    overruling a minority and a majority client's proposal, (replications x caseworkers).

    Built before the first week from the scenario and the workforce (and again at the start
    of a year in which a dated value changes), so the weekly loop reads no scenario.
    """

    rate: float
    logit_minority: F64
    logit_majority: F64

    @classmethod
    def build(
        cls, scenario: Scenario, country: Country, workforce: Workforce
    ) -> PlacementModel | None:
        """The model of ``scenario``'s ``[placements]``; ``None`` without them."""
        p = scenario.placements
        if p is None:
            return None
        x = caseworker_covariates(scenario, country, workforce)
        minority, majority = overrule_logits(p, x)
        return cls(p.proposal.value, minority, majority)


def propose(
    state: ClientState, model: PlacementModel | None, streams: Streams, log: RowLog | None
) -> None:
    """Step 9: this week's proposals and the caseworkers' decisions on them.

    Reads: ``state.status``, ``state.caseworker``, ``state.minority``.
    Writes: ``placement`` events to ``log``; nothing else.
    Draws: the proposals and a uniform per proposal, from ``streams``: the placement streams
    (:attr:`~streetlevel.model.streams.Stream.PLACEMENT`).
    """
    if model is None:
        return
    reps, slots = state.status.shape
    flat_parts = []
    for r, gen in enumerate(streams.generators):
        candidates = gen.integers(0, slots, gen.poisson(model.rate * slots))
        flat_parts.append(r * slots + np.unique(candidates))
    flat = np.concatenate(flat_parts)
    occupied = state.status.reshape(-1)[flat] != EXITED
    mask = np.zeros(reps * slots, dtype=bool)
    mask[flat[occupied]] = True
    sub = Subset.of(mask.reshape(reps, slots))
    if len(sub) == 0:
        return
    cw = sub.take(state.caseworker)
    logit = np.where(
        sub.take(state.minority),
        model.logit_minority[sub.rows, cw],
        model.logit_majority[sub.rows, cw],
    )
    overruled = streams.uniform(sub.counts) < logistic(logit)
    if log is not None:
        log.events(
            "placement",
            sub,
            state,
            outcome=np.where(overruled, OUTCOMES.index("overruled"), OUTCOMES.index("approved")),
        )
