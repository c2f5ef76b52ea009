"""The country: municipalities, their regions and organisation, fixed for a whole run.

Municipalities listed in the scenario (CHM's Municipality A and B) are taken as given; the rest
of each region is drawn from the ``[synthetic]`` distributions with the scenario's own seed, so
the same scenario file always describes the same country, whatever the run's seed. The draws
are then scaled so that the country's averages are the published ones (CHM Table 1: population
per municipality and recipients per 100 citizens), which 96 draws would otherwise miss by a few
per cent.

>>> from streetlevel.scenario.loading import load_scenario
>>> country = build_country(load_scenario("denmark-2011"))
>>> len(country.names), len(country.region_names)
(98, 5)
>>> round(float(country.population.mean())), round(float(country.national_per_100), 2)
(55000, 2.3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.model.streams import Stream
from streetlevel.scenario.schema import Municipality, Scenario, Synthetic

__all__ = ["Country", "build_country"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Country:
    """Municipality-level attributes as arrays over municipalities (index ``m``)."""

    names: list[str]
    region_names: list[str]
    region: IntArray
    population: IntArray
    recipients_per_100: FloatArray
    rural: BoolArray
    benefit_office_route: BoolArray
    management_strictness: FloatArray
    pressure_response: FloatArray
    clients_per_caseworker: FloatArray
    recipients: FloatArray
    """Real recipients in stock: population x recipients per 100 / 100."""
    category_tilt: FloatArray
    """(M, categories): how much more (or less) common each category is in the municipality
    than nationally (1: the national mix; listed municipalities have it)."""
    slots: IntArray
    """Simulated clients per municipality (recipients x client scale, at least one)."""

    @property
    def national_per_100(self) -> float:
        """Recipients per 100 citizens in the whole country."""
        return float(100.0 * self.recipients.sum() / self.population.sum())

    @property
    def n_municipalities(self) -> int:
        return len(self.names)

    @property
    def n_slots(self) -> int:
        return int(self.slots.sum())

    def slot_municipality(self) -> npt.NDArray[np.int16]:
        """The municipality of each client slot (slots are grouped by municipality)."""
        return np.repeat(np.arange(self.n_municipalities, dtype=np.int16), self.slots)


def build_country(scenario: Scenario) -> Country:
    """Expand the scenario's regions, listed and synthetic municipalities into arrays."""
    rows: list[dict[str, object]] = []
    synthetic = scenario.synthetic
    rng = np.random.default_rng(synthetic.seed.value) if synthetic is not None else None
    default_cpc = float(scenario.caseworkers.clients_per_caseworker.value)
    for r, region in enumerate(scenario.regions):
        listed = [m for m in scenario.municipalities if m.region == region.name]
        rows.extend(_listed(m, r, default_cpc) for m in listed)
        missing = region.municipalities.value - len(listed)
        if missing > 0:
            assert synthetic is not None and rng is not None  # checked by Scenario validation
            rows.extend(_synthetic(synthetic, rng, r, region.name, missing, default_cpc))
    population = np.array([row["population"] for row in rows], dtype=np.float64)
    per_100 = np.array([row["recipients_per_100"] for row in rows], dtype=np.float64)
    drawn = np.array([row["name"] not in {m.name for m in scenario.municipalities} for row in rows])
    if synthetic is not None and drawn.any():
        population, per_100 = _match_averages(synthetic, population, per_100, drawn)
    people = np.rint(population).astype(np.int64)
    recipients = people * per_100 / 100.0
    slots = np.maximum(1, np.rint(recipients * scenario.scale.client_scale.value)).astype(np.int64)
    return Country(
        names=[str(row["name"]) for row in rows],
        region_names=[r.name for r in scenario.regions],
        region=np.array([row["region"] for row in rows], dtype=np.int64),
        population=people,
        recipients_per_100=per_100,
        rural=np.array([row["rural"] for row in rows], dtype=bool),
        benefit_office_route=np.array([row["benefit_office"] for row in rows], dtype=bool),
        management_strictness=np.array([row["strictness"] for row in rows], dtype=np.float64),
        pressure_response=np.array([row["pressure"] for row in rows], dtype=np.float64),
        clients_per_caseworker=np.array([row["cpc"] for row in rows], dtype=np.float64),
        recipients=recipients,
        category_tilt=_category_tilt(scenario, drawn),
        slots=slots,
    )


def _category_tilt(scenario: Scenario, drawn: BoolArray) -> FloatArray:
    """Each municipality's tilt of the national category mix (``category_mix_concentration``):
    a Gamma draw of mean 1 per drawn municipality and category, from a stream of its own so
    that the other draws of the country stay as they were; 1 for listed municipalities, which
    CHM find "not significantly different from other municipalities on any observable
    variables other than their high level of sanctions"."""
    tilt = np.ones((len(drawn), len(scenario.categories)))
    s = scenario.synthetic
    if s is None or s.category_mix_concentration is None or not drawn.any():
        return tilt
    shape = s.category_mix_concentration.value
    rng = np.random.default_rng(
        np.random.SeedSequence(s.seed.value, spawn_key=(Stream.CATEGORY_MIX,))
    )
    tilt[drawn] = rng.gamma(shape, 1.0 / shape, (int(drawn.sum()), tilt.shape[1]))
    return tilt


def _match_averages(
    s: Synthetic,
    population: npt.NDArray[np.float64],
    per_100: npt.NDArray[np.float64],
    drawn: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Scale the drawn municipalities so that the country's mean population and its
    recipients per 100 citizens equal the scenario's averages; listed ones stay as given.
    Where the listed municipalities alone exceed an average, the draws are left unscaled; no
    drawn one has more than 100 recipients per 100 citizens."""
    population, per_100 = population.copy(), per_100.copy()
    target_total = s.population_mean.value * len(population)
    rest = target_total - population[~drawn].sum()
    if rest > 0:
        population[drawn] *= rest / population[drawn].sum()
    # No more recipients than citizens: a log-normal with a spread many times its mean can
    # draw beyond 100 per 100, and scaling can take a municipality there; it is held at 100
    # and the others are scaled again (a round per such municipality at most; none for the
    # presets, whose spreads never come near it).
    per_100[drawn] = np.minimum(per_100[drawn], 100.0)
    recipients = population * per_100 / 100.0
    target_recipients = s.recipients_per_100_mean.value * population.sum() / 100.0
    free = drawn.copy()
    while free.any():
        rest = target_recipients - recipients[~free].sum()
        if rest <= 0:
            break
        per_100[free] *= rest / recipients[free].sum()
        over = free & (per_100 > 100.0)
        if not over.any():
            break
        per_100[over] = 100.0
        free &= ~over
        recipients = population * per_100 / 100.0
    return population, per_100


def _listed(m: Municipality, region: int, default_cpc: float) -> dict[str, object]:
    cpc = m.clients_per_caseworker.value if m.clients_per_caseworker else default_cpc
    return {
        "name": m.name,
        "region": region,
        "population": m.population.value,
        "recipients_per_100": m.recipients_per_100.value,
        "rural": m.rural.value,
        "benefit_office": m.absence_route.value == "benefit_office",
        "strictness": m.management_strictness.value,
        "pressure": m.pressure_response.value,
        "cpc": float(cpc),
    }


def _lognormal(rng: np.random.Generator, mean: float, sd: float, n: int) -> FloatArray:
    """Draws with the given mean and standard deviation, always positive."""
    sigma2 = np.log1p((sd / mean) ** 2)
    return rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)


def _synthetic(
    s: Synthetic, rng: np.random.Generator, region: int, region_name: str, n: int, cpc: float
) -> list[dict[str, object]]:
    sigma = s.population_log_sd.value
    population = rng.lognormal(np.log(s.population_mean.value) - sigma**2 / 2, sigma, n)
    per_100 = _lognormal(rng, s.recipients_per_100_mean.value, s.recipients_per_100_sd.value, n)
    rural = rng.random(n) < s.rural.value
    benefit_office = rng.random(n) < s.benefit_office_route.value
    mean, conc = s.management_strictness_mean.value, s.management_strictness_concentration.value
    if 0.0 < mean < 1.0 and conc > 0:
        strictness = rng.beta(mean * conc, (1.0 - mean) * conc, n)
    else:
        strictness = np.full(n, mean)
    return [
        {
            "name": f"{region_name} {i + 1:02d}",
            "region": region,
            "population": round(float(population[i])),
            "recipients_per_100": float(per_100[i]),
            "rural": bool(rural[i]),
            "benefit_office": bool(benefit_office[i]),
            "strictness": float(strictness[i]),
            "pressure": s.pressure_response.value,
            "cpc": cpc,
        }
        for i in range(n)
    ]
