"""DK's identification problem as an experiment: the observational survey against the vignette
design.

DK ask different caseworkers about different cases: "The validity of our analysis therefore
hinges upon the condition that there is no systematic connection between caseworker attitudes
and the characteristics of the users that may affect the decision", and "ideally, the best way
to study discretion and different treatment of comparable cases would be to ask different
officials to decide on one identical case". A simulator can do both:

- **observational** (DK's design): :func:`~streetlevel.survey.simulate.simulate_survey`, "overruled
  at least once" regressed on the covariates. Its B are survey-level; the benchmark is the B
  the same per-proposal model gives when the proposals' attributes do not depend on the
  caseworker (the binding function of :mod:`streetlevel.survey.indirect` with the difficulty
  lever at 0). The difference is the bias of DK's design.
- **vignette**: every sampled caseworker decides the same set of proposals, one with each
  combination of the three attributes (:data:`~streetlevel.model.processes.placements.REASONS`,
  8 vignettes), and each decision is regressed on the covariates and the attributes. Attributes
  are set by design, so they cannot go with attitudes, and the per-proposal coefficients are
  recovered whatever the lever.

The lever is ``placements.reasons.difficulty_attitude``: the user-side attributes (mismatch,
poor prospects) are more common, by that many log-odds per standard deviation of
restrictiveness, among the proposals of restrictive caseworkers.

>>> from streetlevel.scenario.loading import load_scenario
>>> rows = compare_designs(load_scenario("norway-2010"), n=2000, seed=1, frame_size=5000)
>>> rows[0]["name"], sorted(rows[0])[:3]
('stricter_immigration', ['bias', 'name', 'observational'])
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import statsmodels.api as sm

from streetlevel.model.attitudes import COVARIATES
from streetlevel.model.country import build_country
from streetlevel.model.processes.placements import COMBINATIONS, REASONS
from streetlevel.model.streams import Stream, Streams
from streetlevel.scenario.loading import with_values
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.fit import SurveyError, fit_survey
from streetlevel.survey.indirect import binding_function, draw_frame
from streetlevel.survey.simulate import (
    Population,
    draw_population,
    pool_populations,
    simulate_survey,
)
from streetlevel.survey.uncertainty import scenario_theta

__all__ = ["VignetteFit", "compare_designs", "vignette_survey"]

NAMES = (*COVARIATES, "constant")
DEFAULT_FRAME = 50_000
"""Eligible caseworkers on which the unbiased survey-level B are computed."""


class VignetteFit(dict[str, Any]):
    """Per-proposal coefficients recovered by the vignette design: ``b`` and ``se`` by name
    (DK's covariates, the attributes and the constant)."""


def vignette_survey(scenario: Scenario, *, n: int, seed: int, replication: int = 0) -> VignetteFit:
    """``n`` eligible caseworkers each decide the same 8 proposals (every attribute
    combination, minority clients); the decisions' logistic regression."""
    if scenario.placements is None or scenario.placements.reasons is None:
        raise SurveyError(
            f"{scenario.scenario.name}: the vignette design needs [placements.reasons] "
            "(the proposals' attributes) to vary"
        )
    country = build_country(scenario)
    pools: list[Population] = []
    while sum(len(p.proposals) for p in pools) < n:
        pools.append(draw_population(scenario, seed, replication, len(pools), country))
    population = pool_populations(pools)
    gen = Streams(seed, [replication]).child(Stream.VIGNETTE).generators[0]
    chosen = np.sort(gen.choice(len(population.proposals), size=n, replace=False))
    assert population.judge is not None
    v = len(COMBINATIONS)
    logit = population.logit[chosen][:, None] + (COMBINATIONS @ population.judge.weight)[None, :]
    decided = gen.random((n, v)) < 1.0 / (1.0 + np.exp(-logit))
    x = np.column_stack(
        [np.repeat(population.covariates[chosen], v, axis=0), np.tile(COMBINATIONS, (n, 1)),
         np.ones(n * v)]
    )  # fmt: skip
    names = [*COVARIATES, *REASONS, "constant"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sm.Logit(decided.ravel().astype(float), x).fit(disp=0, maxiter=100)
    return VignetteFit(
        b=dict(zip(names, map(float, result.params), strict=True)),
        se=dict(zip(names, map(float, result.bse), strict=True)),
    )


def compare_designs(
    scenario: Scenario, *, n: int, seed: int, frame_size: int = DEFAULT_FRAME
) -> list[dict[str, float | str]]:
    """Per covariate: the true per-proposal effect, the vignette design's estimate (and SE),
    the observational survey's B (and SE), the B it would have without the correlation of
    attributes and attitudes, and the difference (the bias of DK's design)."""
    theta = dict(zip(NAMES, scenario_theta(scenario).tolist(), strict=True))
    vignette = vignette_survey(scenario, n=n, seed=seed)
    observed = fit_survey(simulate_survey(scenario, n=n, seed=seed), "observational survey")
    independent = with_values(
        scenario, {"placements.reasons.difficulty_attitude": 0.0}, "no correlation"
    )
    frame = draw_frame(independent, frame_size, seed)
    start = np.array([observed.b[k] for k in NAMES])
    unbiased = dict(
        zip(NAMES, binding_function(scenario_theta(scenario), frame, start), strict=True)
    )
    return [
        {
            "name": k,
            "true": theta[k],
            "vignette": vignette["b"][k],
            "vignette_se": vignette["se"][k],
            "observational": observed.b[k],
            "observational_se": observed.se[k],
            "without_correlation": float(unbiased[k]),
            "bias": observed.b[k] - float(unbiased[k]),
        }
        for k in NAMES
    ]
