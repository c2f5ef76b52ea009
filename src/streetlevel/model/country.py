"""The country: municipalities, their regions and organisation, fixed for a whole run.

Municipalities listed in the scenario (CHM's Municipality A and B) are taken as given; the rest
of each region is drawn from the ``[synthetic]`` distributions with the scenario's own seed, so
the same scenario file always describes the same country, whatever the run's seed. The draws
are then scaled so that the country's averages are the published ones (CHM Table 1: population
per municipality and recipients per 100 citizens), which 96 draws would otherwise miss by a few
per cent. A scenario whose ``synthetic.municipality_table`` names a table of real
municipalities takes the unlisted ones from it instead: their official code, name and population
are the table's (not scaled), only the rest of their organisation is drawn.

>>> from streetlevel.scenario.loading import load_scenario
>>> country = build_country(load_scenario("denmark-2011"))
>>> len(country.names), len(country.region_names)
(98, 5)
>>> round(float(country.population.mean())), round(float(country.national_per_100), 2)
(55000, 2.3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.model.streams import Stream
from streetlevel.scenario.schema import Municipality, Scenario, Synthetic

if TYPE_CHECKING:
    from streetlevel.scenario.municipality_table import MunicipalityRow

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
    codes: tuple[str | None, ...] = field(default=())
    """Each municipality's official code (``synthetic.municipality_table``), None where it has
    none; empty when no municipality has one."""

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
    table = _table(synthetic)
    default_cpc = float(scenario.caseworkers.clients_per_caseworker.value)
    for r, region in enumerate(scenario.regions):
        listed = [m for m in scenario.municipalities if m.region == region.name]
        rows.extend(_listed(m, r, default_cpc) for m in listed)
        missing = region.municipalities.value - len(listed)
        if missing > 0:
            assert synthetic is not None and rng is not None  # checked by Scenario validation
            real = [row for row in table if row.region == region.name]
            drawn_rows = _synthetic(synthetic, rng, r, region.name, missing, default_cpc)
            rows.extend(_real(drawn_rows, real))
    population = np.array([row["population"] for row in rows], dtype=np.float64)
    per_100 = np.array([row["recipients_per_100"] for row in rows], dtype=np.float64)
    drawn = np.array([row["name"] not in {m.name for m in scenario.municipalities} for row in rows])
    sized = drawn & np.array([row.get("code") is None for row in rows], dtype=bool)
    if synthetic is not None and drawn.any():
        population, per_100 = _match_averages(synthetic, population, per_100, drawn, sized)
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
        codes=tuple(_code(row) for row in rows) if table else (),
    )


def _table(synthetic: Synthetic | None) -> tuple[MunicipalityRow, ...]:
    """The real municipalities that ``synthetic.municipality_table`` names (none without)."""
    if synthetic is None or synthetic.municipality_table is None:
        return ()
    # Imported here: the table reader brings pandas and pyarrow, which a run's worker
    # processes should not pay for at start-up when no table is named.
    from streetlevel.scenario.municipality_table import municipality_table

    return municipality_table(synthetic.municipality_table.value)


def _real(drawn: list[dict[str, object]], real: list[MunicipalityRow]) -> list[dict[str, object]]:
    """The drawn municipalities of a region with the table's code, name and population in
    place of the drawn ones, in the table's order (as many as the region's table rows; the
    scenario's validation matched the counts). Without a table, the draws as they are."""
    if not real:
        return drawn
    return [
        {**row, "name": m.name, "code": m.code, "population": m.population}
        for row, m in zip(drawn, real, strict=True)
    ]


def _code(row: dict[str, object]) -> str | None:
    code = row.get("code")
    return None if code is None else str(code)


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
    sized: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Scale the drawn municipalities so that the country's mean population and its
    recipients per 100 citizens equal the scenario's averages; listed ones stay as given, and
    so do the populations of a table's real municipalities (only ``sized`` ones, whose
    population was drawn, are scaled). Where the given ones alone exceed an average, the
    draws are left unscaled; no drawn one has more than 100 recipients per 100 citizens."""
    population, per_100 = population.copy(), per_100.copy()
    target_total = s.population_mean.value * len(population)
    rest = target_total - population[~sized].sum()
    if rest > 0 and sized.any():
        population[sized] *= rest / population[sized].sum()
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
