"""Step 9, job-placement proposals and the caseworker's decision on them (docs/model.md 7.13).

A client who found an employer willing to take them asks the caseworker to finance a job
placement. Each week every client on the caseload proposes with rate ``placements.proposal``
(candidates are a Poisson number of slots drawn at random, kept if occupied: the same process
as a weekly coin flip per client, at the cost of the few proposals only). The caseworker
overrules the proposal with the per-proposal probability

    logistic(overrule.intercept + sum_k overrule.k * x_k(caseworker))          minority client
    logistic(... + majority_difference - the attitudes about minorities)       majority client

plus ``sum_k reasons.k.weight * a_k`` for the proposal's attributes ``a_k`` (below), where
``x`` are DK's covariates of the caseworker
(:data:`streetlevel.model.attitudes.COVARIATES`): attitudes, role, routines, seniority, works
in the capital, more than 250 users. The two attitudes about immigrants and minority clients
(:data:`~streetlevel.model.attitudes.MINORITY_ATTITUDES`) weigh on minority clients' proposals
only. The coefficients are per proposal, chosen by indirect inference so that DK's
survey-level regression is recovered (:mod:`streetlevel.survey.indirect`).

**Attributes and reasons** (``placements.reasons``, optional): each proposal has three binary
attributes, drawn per proposal, that DK's multiple-choice question names as reasons for
overruling: a mismatch with the user's competences or ambitions, an employer with a bad record
(the employer is new with each proposal, so it is drawn per proposal too), and a placement
unlikely to lead to employment. Each is present with its ``prevalence`` and adds its ``weight``
to the log-odds of overruling. The caseworker's judgement depends on the attitudes and roles
through the covariates above; the lever ``reasons.difficulty_attitude`` lets the user-side
attributes (mismatch, prospects) be more common for restrictive caseworkers (log-odds per
standard deviation of the latent restrictiveness ``F``), which breaks DK's validity condition.
An overruled proposal records as its reasons the attributes it has (a bit mask, bit ``k`` for
:data:`REASONS` ``[k]``); an overrule with none records none.

**Consequences** (``placements.work_effect``, optional): an approved proposal raises the
client's exit-to-work hazard by ``work_effect`` for ``work_effect_weeks``
(:mod:`streetlevel.model.processes.exits`). ``placements.approve_all`` approves every proposal,
with the same draws: the counterfactual of the gap attributable to overruling.

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
from streetlevel.model.world import World

if TYPE_CHECKING:
    from streetlevel.scenario.schema import Placements, Scenario

__all__ = [
    "REASONS",
    "USER_SIDE",
    "Judgement",
    "PlacementModel",
    "capital_mask",
    "caseworker_covariates",
    "judgement",
    "mixture",
    "overrule_logits",
    "propose",
]

REASONS = ("mismatch", "employer", "prospects")
"""The attributes behind DK's reasons for overruling, in the order of their bits."""
USER_SIDE = ("mismatch", "prospects")
"""Attributes of the user's case, which the difficulty lever ties to the caseworker."""
COMBINATIONS = np.array(
    [[(c >> k) & 1 for k in range(len(REASONS))] for c in range(2 ** len(REASONS))],
    dtype=np.float64,
)
"""Every combination of the attributes, (8 x 3); row ``c`` has bit ``k`` of ``c``."""

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
class Judgement:
    """How a proposal's attributes weigh: their prevalence for each caseworker's proposals
    (..., 3) and their weights in the log-odds of overruling (3,)."""

    prevalence: F64
    weight: F64

    def expected(self, logit: F64) -> tuple[F64, F64]:
        """(chance a proposal is overruled, chance it is overruled and has attribute k),
        averaged over the attributes, for caseworkers with attribute-free log-odds ``logit``.

        >>> j = Judgement(np.full((1, 3), 0.5), np.zeros(3))
        >>> p, q = j.expected(np.zeros(1))
        >>> float(p[0]), q[0].tolist()
        (0.5, [0.25, 0.25, 0.25])
        """
        prev = self.prevalence[..., None, :]
        mass = np.prod(np.where(COMBINATIONS == 1, prev, 1.0 - prev), axis=-1)  # (..., 8)
        p = logistic(logit[..., None] + COMBINATIONS @ self.weight)
        joint = mass * p
        return joint.sum(axis=-1), joint @ COMBINATIONS


def judgement(placements: Placements, factor: F64) -> Judgement | None:
    """The attributes' prevalences for the caseworkers of latent restrictiveness ``factor``
    and their weights; ``None`` without ``placements.reasons``."""
    r = placements.reasons
    if r is None:
        return None
    items = [getattr(r, name) for name in REASONS]
    base = np.array([it.prevalence.value for it in items])
    shift = np.array([name in USER_SIDE for name in REASONS]) * r.difficulty_attitude.value
    with np.errstate(divide="ignore"):
        logit = np.log(base) - np.log1p(-base)
    prevalence = logistic(logit + factor[..., None] * shift)
    return Judgement(prevalence, np.array([it.weight.value for it in items]))


def mixture(logit: F64, judge: Judgement | None) -> F64:
    """Chance that a proposal is overruled, the attributes averaged out."""
    if judge is None:
        return logistic(logit)
    return judge.expected(logit)[0]


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
    judge: Judgement | None = None
    """The attributes' prevalences per caseworker and their weights; ``None``: none."""
    approve_all: bool = False
    effect_weeks: int = 0
    """Weeks an approved placement raises the exit-to-work hazard (0: no effect)."""

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
        weeks = 0 if p.work_effect_weeks is None else p.work_effect_weeks.value
        return cls(
            p.proposal.value,
            minority,
            majority,
            judgement(p, workforce.attitudes.factor),
            p.approve_all is not None and p.approve_all.value,
            weeks,
        )


def propose(
    state: ClientState,
    world: World,
    model: PlacementModel | None,
    streams: Streams,
    log: RowLog | None,
    t: int,
) -> None:
    """Step 9: this week's proposals and the caseworkers' decisions on them.

    Reads: ``state.status``, ``state.caseworker``, ``state.minority``.
    Writes: ``state.placement_until`` of approved proposals (when placements have an effect);
    ``world.tally`` (proposals and approvals of minority and majority clients); ``placement``
    events to ``log`` (with the client's ``minority`` flag and the overrule's
    ``reasons`` mask, which the Parquet tables leave out and in-memory sinks may keep).
    Draws: the proposals, three uniforms per proposal for its attributes (with
    ``placements.reasons``) and one for the decision, from ``streams``: the placement streams
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
    minority = sub.take(state.minority)
    logit = np.where(
        minority,
        model.logit_minority[sub.rows, cw],
        model.logit_majority[sub.rows, cw],
    )
    reasons = np.zeros(len(sub), dtype=np.int16)
    if model.judge is not None:
        u = streams.uniform(sub.counts * len(REASONS)).reshape(-1, len(REASONS))
        attributes = u < model.judge.prevalence[sub.rows, cw]
        logit = logit + attributes @ model.judge.weight
        reasons = (attributes * (1 << np.arange(len(REASONS)))).sum(axis=1).astype(np.int16)
    overruled = streams.uniform(sub.counts) < logistic(logit)
    if model.approve_all:
        overruled[:] = False  # the same draws, every proposal approved
    reasons = np.where(overruled, reasons, 0).astype(np.int16)
    if model.effect_weeks:
        sub.select(~overruled).put(state.placement_until, t + model.effect_weeks)
    tally = world.tally
    if tally.by_minority:
        cells = tally.cells(sub.rows, world.slot_municipality[sub.cols])
        approved = ~overruled
        tally.add_at("placements_minority", cells, minority)
        tally.add_at("placements_approved_minority", cells, minority & approved)
        tally.add_at("placements_majority", cells, ~minority)
        tally.add_at("placements_approved_majority", cells, ~minority & approved)
    if log is not None:
        log.events(
            "placement",
            sub,
            state,
            outcome=np.where(overruled, OUTCOMES.index("overruled"), OUTCOMES.index("approved")),
            minority=minority,
            reasons=reasons,
        )
