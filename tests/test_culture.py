"""Office culture, the highest-priority rule, and pressure that works both ways (issue 18)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.special import ndtri

from streetlevel.errors import ScenarioError
from streetlevel.experiments.spec import load_experiment
from streetlevel.model.coefficients import Coefficients
from streetlevel.model.country import build_country
from streetlevel.model.culture import office_culture, strictness_weight
from streetlevel.model.processes.year_end import pressure_step
from streetlevel.scenario.loading import load_scenario, with_values
from streetlevel.scenario.schema import Scenario
from tests.conftest import simulation, small


def test_the_highest_priority_rule_gives_the_published_share_of_caseworkers() -> None:
    """Under the rule, the share of the simulated caseworkers who would sanction more often
    than not when deciding alone (no norm, repeat breach, no problems, not overloaded) is the
    published 13 %, within the sampling error of the caseworkers drawn."""
    s = small("denmark-2011")
    sim = simulation(s, replications=4)
    coef, world = sim.coef, sim.world
    latent = world.caseworker_strictness + world.office_culture[sim.workforce.municipality]
    alone = coef.decision_caseworker_intercept + coef.decision_caseworker_caseworker_strictness * (
        latent
    )
    share = float((alone > 0).mean())
    published = s.caseworkers.highest_priority_share
    assert published is not None
    n = latent.size
    # Caseworkers of one office share its culture: the effective sample is the offices, not
    # the caseworkers, so the tolerance uses the number of municipalities (98).
    se = np.sqrt(published.value * (1 - published.value) / world.office_culture.size)
    assert abs(share - published.value) < 4 * se, (share, n)


def test_the_rule_ties_the_weight_of_strictness_to_the_intercept() -> None:
    s = load_scenario("denmark-2011")
    weight = strictness_weight(s)
    share = s.caseworkers.highest_priority_share
    assert share is not None
    assert weight == pytest.approx(
        -s.decision.caseworker.intercept.value / ndtri(1 - share.value), rel=1e-12
    )
    # A more lenient baseline (lower intercept) needs a heavier weight to keep 13 % strict.
    lower = with_values(s, {"decision.caseworker.intercept": -6.0}, "test")
    assert strictness_weight(lower) > weight
    assert Coefficients.from_scenario(s).decision_caseworker_caseworker_strictness == weight


def test_the_rule_refuses_a_baseline_that_sanctions_most_breaches() -> None:
    s = with_values(load_scenario("denmark-2011"), {"decision.caseworker.intercept": 0.5}, "test")
    with pytest.raises(ScenarioError, match="highest-priority rule"):
        strictness_weight(s)


def test_a_scenario_gives_the_weight_or_the_share_not_both() -> None:
    data = load_scenario("norway-2010").model_dump(exclude_none=True)
    data["caseworkers"]["highest_priority_share"] = {"value": 0.13, "unit": "share", "source": "x"}
    with pytest.raises(ValidationError, match="not both or neither"):
        Scenario.model_validate(data)
    del data["caseworkers"]["highest_priority_share"]
    del data["decision"]["caseworker"]["caseworker_strictness"]
    with pytest.raises(ValidationError, match="not both or neither"):
        Scenario.model_validate(data)


def test_office_culture_is_organisation_the_same_in_every_replication_and_scenario() -> None:
    national = load_scenario("denmark-2011")
    country = build_country(national)
    culture = office_culture(national, country).at(country.management_strictness)
    # Culture is a property of the country: two runs with different seeds see the same one.
    assert np.array_equal(simulation(small(), seed=1).world.office_culture, culture)
    assert np.array_equal(simulation(small(), seed=2).world.office_culture, culture)
    # A listed municipality keeps its culture when simulated on its own.
    alone = load_scenario("municipality-a")
    a_alone = office_culture(alone, build_country(alone)).at([1.0])
    assert culture[country.names.index("Municipality A")] == pytest.approx(a_alone[0])
    # Across the country it is standard normal scaled by sd * sqrt(culture_share), and
    # stricter managements have stricter cultures (culture_management > 0).
    rho = national.caseworkers.culture_share
    assert rho is not None
    z = culture / np.sqrt(rho.value)
    assert abs(z.mean()) < 4 / np.sqrt(len(z)) and 0.6 < z.std() < 1.4
    assert np.corrcoef(culture, country.management_strictness)[0, 1] > 0


def test_without_a_culture_share_strictness_is_the_caseworker_alone() -> None:
    s = small("denmark-2011", caseworkers__culture_share=0.0)
    sim = simulation(s)
    assert np.all(sim.world.office_culture == 0.0)
    assert sim.world.caseworker_strictness.std() == pytest.approx(1.0, abs=0.05)


def test_pressure_tightens_below_others_and_relaxes_without_pressure() -> None:
    sim = simulation(small("denmark-2011", pressure__relaxation=0.2, pressure__signal=0.0))
    world, coef = sim.world, sim.coef
    rate = np.full(world.strictness.shape, 0.1)
    # Everyone equal and at its starting norm: nothing moves.
    assert np.allclose(pressure_step(rate, world, coef), 0.0)
    # Above its starting norm with no one ranked above: management relaxes, by a fifth of
    # the distance a year.
    world.strictness += 0.3
    step = pressure_step(rate, world, coef)
    assert np.all(step < 0) and np.allclose(step, -0.2 * 0.3)
    # Ranked below others in its region: management tightens.
    world.strictness -= 0.3
    rate[:, 0] = 0.0
    assert np.all(pressure_step(rate, world, coef)[:, 0] > 0)


def test_a_national_signal_moves_every_management() -> None:
    sim = simulation(small("denmark-2011", pressure__signal=0.05))
    rate = np.full(sim.world.strictness.shape, 0.1)
    assert np.allclose(pressure_step(rate, sim.world, sim.coef), 0.05)
    sim = simulation(small("denmark-2011", pressure__signal=-0.05))
    assert np.allclose(pressure_step(rate, sim.world, sim.coef), -0.05)


def test_the_shipped_pressure_experiment_varies_both_uncertainties() -> None:
    path = Path(str(resources.files("streetlevel") / "experiments" / "pressure-response.toml"))
    experiment = load_experiment(path)
    assert experiment.base.scenario.name == "denmark-2006-2014"
    factors = {f.name: f for f in experiment.spec.uncertainties}
    assert factors["relaxation"].key == "pressure.relaxation"
    # The presets' values are among the levels varied, so the sweep brackets them.
    relaxation = experiment.base.pressure.relaxation
    assert relaxation is not None and relaxation.value in (factors["relaxation"].values or [])
