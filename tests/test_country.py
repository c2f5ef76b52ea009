"""The country: regions, CHM's Municipality A and B, synthetic municipalities, caseworkers."""

from __future__ import annotations

import numpy as np
import pytest

from streetlevel.model.country import build_country
from streetlevel.scenario.loading import load_scenario, with_values
from tests.conftest import simulation, small


def test_denmark_has_98_municipalities_in_5_regions() -> None:
    country = build_country(load_scenario("denmark-2011"))
    assert country.n_municipalities == 98
    counts = np.bincount(country.region)
    assert counts.tolist() == [29, 17, 22, 19, 11]  # the presets' regions


def test_municipality_a_and_b_have_their_table_1_figures() -> None:
    country = build_country(load_scenario("denmark-2011"))
    a, b = country.names.index("Municipality A"), country.names.index("Municipality B")
    assert country.population[a] == 40_400 and country.rural[a]
    assert country.population[b] == 52_500 and not country.rural[b]
    assert country.recipients_per_100[a] == 1.7 and country.recipients_per_100[b] == 1.2
    assert country.benefit_office_route[a] and country.benefit_office_route[b]
    assert country.management_strictness[a] == 1.0


def test_synthetic_municipalities_follow_their_distributions() -> None:
    scenario = load_scenario("denmark-2011")
    country = build_country(scenario)
    synthetic = [i for i, n in enumerate(country.names) if not n.startswith("Municipality ")]
    assert len(synthetic) == 96
    s = scenario.synthetic
    assert s is not None
    # Means of 96 draws, within 4 standard errors of the distribution's mean.
    pop = country.population[synthetic]
    sd_pop = s.population_mean.value * np.sqrt(np.exp(s.population_log_sd.value**2) - 1)
    assert abs(pop.mean() - s.population_mean.value) < 4 * sd_pop / np.sqrt(96)
    per100 = country.recipients_per_100[synthetic]
    assert abs(per100.mean() - 2.3) < 4 * s.recipients_per_100_sd.value / np.sqrt(96)
    # About 124,000 recipients in all (CHM Table 1): 98 x 55,000 x 2.3 %.
    assert 100_000 < country.recipients.sum() < 160_000


def test_the_country_depends_on_the_scenario_seed_only() -> None:
    scenario = load_scenario("denmark-2011")
    one, two = build_country(scenario), build_country(scenario)
    assert np.array_equal(one.population, two.population)
    other = build_country(with_values(scenario, {"synthetic.seed": 7}))
    assert not np.array_equal(one.population, other.population)


def test_caseworkers_and_caseloads() -> None:
    sim = simulation(small("denmark-2011", scale=0.1), replications=2)
    wf, country = sim.workforce, sim.country
    # About 1,700 caseworkers (caseworkers.clients_per_caseworker), at any client scale.
    assert 1_400 < wf.n_caseworkers < 2_100
    # Caseloads add up to the municipality's real recipients.
    per_m = np.zeros((2, country.n_municipalities))
    for r in range(2):
        np.add.at(per_m[r], wf.municipality, wf.caseload[r])
    assert np.allclose(per_m, country.recipients[None, :])
    # Every client's caseworker works in the client's municipality.
    cw = sim.state.caseworker
    assert np.array_equal(wf.municipality[cw], np.broadcast_to(sim.slot_municipality, cw.shape))


def test_no_synthetic_municipality_has_more_recipients_than_citizens() -> None:
    """A log-normal spread of recipients many times its mean draws, or is scaled to the
    national average, beyond 100 per 100 citizens for some municipalities (most of the mass
    near 0, the tail far out). They are held at 100 and the others scaled to the average."""
    base = load_scenario("denmark-2011")
    wide = with_values(base, {"synthetic.recipients_per_100_sd": 200.0})
    country = build_country(wide)
    assert country.recipients_per_100.max() == 100.0  # the tail reached the cap, which holds
    assert np.all(country.recipients <= country.population)
    # The national average is still the scenario's (up to populations rounded to whole people,
    # 1 in 50,000 or so each).
    per_100 = 100 * country.recipients.sum() / country.population.sum()
    assert wide.synthetic is not None
    assert per_100 == pytest.approx(wide.synthetic.recipients_per_100_mean.value, rel=1e-4)
    # The presets' own spreads never reach the cap.
    assert build_country(base).recipients_per_100.max() < 100.0
