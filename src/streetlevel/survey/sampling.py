"""DK's sampling funnel: who was invited, who answered, who was eligible ([DK], "Data and
analysis").

DK sent 4,050 invitations to NAV e-mail addresses; 91 were inactive and 1,354 did not work
with job placement or qualification (screened out), leaving a net sample of 2,607; 1,044
answered (40 %), 993 did not (38 %) and 569 declined (22 %); 477 of the 1,044 had a minority
user in job placement in the past six months and form the sample analysed.
:func:`simulate_funnel` draws the same funnel over a scenario's caseworkers:

1. inactive addresses and screening are binomial with DK's shares (inputs: the model has no
   NAV employees who are not caseworkers);
2. the net sample is drawn from the simulated caseworkers (without replacement, pooling
   independent countries if one is too small);
3. each answers with probability ``logistic(alpha + gamma F)``, ``F`` the latent
   restrictiveness and ``gamma = placements.survey.response_restrictiveness`` (a lever, 0 by
   default); ``alpha`` is set so that the expected response over the caseworkers is DK's
   1,044 / 2,607 whatever ``gamma`` is, so the lever moves who answers, not how many;
4. non-respondents decline (DK's "denials") with DK's share of 569 / (569 + 993);
5. a respondent is eligible with at least one minority client's proposal in the window: the
   share eligible (DK: 477 / 1,044 = 46 %) is *fitted*, by ``placements.proposal``
   (:func:`streetlevel.survey.indirect.solve_proposal_rate`).

Eligible respondents answer DK's questions as in :func:`~streetlevel.survey.simulate.decide`.

>>> from streetlevel.scenario.loading import load_scenario
>>> funnel = simulate_funnel(load_scenario("norway-2010"), seed=1)
>>> funnel.counts["invitations"], funnel.counts["net_sample"] > 2000
(4050, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from streetlevel.model.attitudes import published_survey
from streetlevel.model.country import build_country
from streetlevel.model.streams import Stream, Streams
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.simulate import (
    Population,
    _frame,
    decide,
    draw_population,
    pool_populations,
)

__all__ = ["FUNNEL_STAGES", "Funnel", "response_intercept", "simulate_funnel"]

FUNNEL_STAGES = (
    "invitations",
    "inactive",
    "screened_out",
    "net_sample",
    "interviews",
    "non_response",
    "denials",
    "eligible",
)
"""The counts of DK's table, in its order (``eligible``: the 477 analysed)."""
ALPHA_BRACKET = (-30.0, 30.0)


@dataclass(frozen=True)
class Funnel:
    """One simulated funnel: its counts and the eligible respondents' survey table."""

    counts: dict[str, int]
    frame: pd.DataFrame

    def rows(self) -> list[dict[str, str | int]]:
        """Each stage's count beside DK's."""
        published = published_survey().sampling
        return [
            {"stage": k, "simulated": self.counts[k], "published": getattr(published, k)}
            for k in FUNNEL_STAGES
        ]


def response_intercept(factor: np.ndarray, gamma: float, rate: float) -> float:
    """``alpha`` with ``mean(logistic(alpha + gamma F)) = rate`` over the caseworkers."""
    return float(brentq(lambda a: float(expit(a + gamma * factor).mean()) - rate, *ALPHA_BRACKET))


def simulate_funnel(
    scenario: Scenario, *, seed: int, replication: int = 0, invitations: int | None = None
) -> Funnel:
    """DK's funnel over the scenario's caseworkers (``invitations`` default: DK's 4,050)."""
    dk = published_survey().sampling
    invited = dk.invitations if invitations is None else invitations
    gen = Streams(seed, [replication]).child(Stream.SAMPLING).generators[0]
    inactive = int(gen.binomial(invited, dk.inactive / dk.invitations))
    active = invited - inactive
    screened = int(gen.binomial(active, dk.screened_out / (dk.invitations - dk.inactive)))
    net = active - screened
    country = build_country(scenario)
    pools: list[Population] = []
    while sum(len(p.proposals) for p in pools) < net:
        pools.append(
            draw_population(scenario, seed, replication, len(pools), country, eligible_only=False)
        )
    population = pool_populations(pools)
    sampled = np.sort(gen.choice(len(population.proposals), size=net, replace=False))
    assert scenario.placements is not None
    lever = scenario.placements.survey
    gamma = 0.0 if lever is None else lever.response_restrictiveness.value
    alpha = response_intercept(population.factor, gamma, dk.interviews / dk.net_sample)
    answers = gen.random(net) < expit(alpha + gamma * population.factor[sampled])
    declined = gen.random(net) < dk.denials / (dk.denials + dk.non_response)
    respondents = sampled[answers]
    eligible = respondents[population.proposals[respondents] > 0]
    overruled, named = decide(population, eligible, gen)
    frame = _frame(
        population.covariates[eligible],
        {k: v[eligible] for k, v in population.answers.items()},
        overruled,
        None if population.judge is None else named,
    )
    counts = {
        "invitations": invited,
        "inactive": inactive,
        "screened_out": screened,
        "net_sample": net,
        "interviews": int(answers.sum()),
        "non_response": int((~answers & ~declined).sum()),
        "denials": int((~answers & declined).sum()),
        "eligible": len(eligible),
    }
    return Funnel(counts, frame)
