"""The Danish regime of docs/model.md written idiomatically in Mesa 3: the peer of the benchmark.

One Python object per client (:class:`Client`), stepped in random order each week with
``AgentSet.shuffle_do``; municipalities' yearly indicators go through Mesa's ``DataCollector``.
This is how a user of the field's default framework would write the model, and it exists only to
be measured against (``benchmarks/run.py``) and checked for agreement with the engine
(``tests/test_peer.py``). It is not part of the package: install it with ``pip install -e
'.[bench]'``.

The parameters come from the same scenario object as the engine's (``load_scenario``), and the
country and its caseworkers are built with the engine's own functions (``build_country``,
``Workforce.draw`` for one replication), so the two models differ only in how the weekly
processes are run: per client in Python here, as whole arrays in the engine. The processes are
those of docs/model.md section 3 in the engine's order (offers, meetings, attendance, routing
and the decision, sanctions, exits; inflow at the start of a week, the year end after its last
week), with the same draws-once geometric waiting times. Clients never interact within a week, so
stepping them one by one in shuffled order is the same process as the engine's step by step
over all clients. Job placements (step 9) are not modelled: the Danish presets have none.

    python benchmarks/peers/mesa_model.py denmark-2011 --scale 0.01
"""

from __future__ import annotations

import argparse
import bisect
import math
import time
from typing import Any

import mesa
import numpy as np

from streetlevel.model.caseworkers import Workforce
from streetlevel.model.coefficients import Coefficients, duration_factor, logistic, spell_survival
from streetlevel.model.country import build_country
from streetlevel.model.culture import office_culture
from streetlevel.model.engine import initial_risk
from streetlevel.model.indicators import rank_within_regions, sanction_rate
from streetlevel.model.state import NEVER, RECEIVING, SANCTIONED
from streetlevel.model.streams import Streams
from streetlevel.model.tally import COUNTS
from streetlevel.scenario.schema import Scenario

__all__ = ["Client", "DanishModel"]

DESTINATIONS = ("work", "other", "unknown")


def geometric(rng: Any, p: float) -> int:
    """A waiting time >= 1 week with weekly success probability ``p`` (NEVER when p = 0)."""
    if p <= 0.0:
        return NEVER
    if p >= 1.0:
        return 1
    return 1 + int(math.log1p(-rng.random()) / math.log1p(-p))


class Client(mesa.Agent):
    """One benefit recipient in one slot of a municipality's caseload."""

    def __init__(self, model: DanishModel, slot: int, initial: bool) -> None:
        super().__init__(model)
        m, rng, s = model, model.random, model.scenario
        self.slot = slot
        self.municipality = int(m.slot_municipality[slot])
        self.caseworker = int(m.slot_caseworker[slot])
        shares = m.stock_cum if initial else m.inflow_cum
        self.category = min(bisect.bisect_right(shares, rng.random()), len(shares) - 1)
        c, a = s.clients, s.attendance
        u = rng.random()
        self.age_group = (
            0 if u < c.age_under_30.value else (1 if u < 1 - c.age_50_plus.value else 2)
        )
        self.male = rng.random() < c.male.value
        self.low_education = rng.random() < c.low_education.value
        self.minority = rng.random() < c.minority.value
        self.problems = rng.random() < m.coef.problems_share[self.category]
        self.motivation = rng.gauss(0.0, 1.0)
        week = m.week
        self.entry_week = week - (m.steady_state_weeks(self.category) if initial else 0)
        self.status = RECEIVING
        self.sanctions_total = 0
        self.breaches_total = 0
        self.last_sanction = -NEVER
        self.recomply_week = NEVER
        self.meeting_late = False
        self.next_meeting = week + int(rng.random() * s.meetings.interval.value)
        start_p = float(m.coef.offer_start[self.category])
        if start_p > 0:
            start = week + geometric(rng, start_p) - 1
            if initial and rng.random() < m.coef.activation_degree[self.category]:
                start = week
            self.offer_start, self.offer_end = start, start + geometric(rng, m.coef.offer_end)
        else:
            self.offer_start = self.offer_end = NEVER
        self.absence_logit = float(
            a.intercept.value
            + m.coef.absence[self.category]
            + a.problems.value * self.problems
            + a.age_under_30.value * (self.age_group == 0)
            + a.age_50_plus.value * (self.age_group == 2)
            + a.male.value * self.male
            + a.low_education.value * self.low_education
            + a.motivation.value * self.motivation
        )
        self.new_year(week)
        self.refresh()

    def new_year(self, week: int) -> None:
        """Reset the counters of a calendar year."""
        self.y_first_week = week
        self.y_sanctions = 0
        self.y_absences = 0
        self.y_weeks_sanctioned = 0
        self.y_weeks_offer = 0

    def refresh(self) -> None:
        """Recompute the cached absence probability, years on benefit and exit hazard."""
        m = self.model
        a = m.scenario.attendance
        risk = m.perceived_risk[self.municipality]
        p = float(logistic(self.absence_logit + a.perceived_risk.value * risk))
        if self.sanctions_total > 0:
            p *= 1.0 - a.repeat_reduction.value
        self.p_absence = p
        self.years_on = (m.week - self.entry_week) // m.weeks_per_year
        self.base_hazards = m.coef.exit_rates[self.category] * float(
            duration_factor(m.scenario.exits, self.years_on)
        )

    def hazards(self) -> list[float]:
        """This week's exit hazards (work, other, unknown), sanction effects included."""
        e = self.model.scenario.exits
        work, other, unknown = (float(h) for h in self.base_hazards)
        fade = min(
            max(1.0 - (self.model.week - self.last_sanction) / e.post_effect_weeks.value, 0), 1
        )
        work *= 1.0 + e.post_effect.value * fade
        if self.status == SANCTIONED:
            unknown *= e.unknown_while_sanctioned.value
        return [min(work, 1.0), min(other, 1.0), min(unknown, 1.0)]

    def step(self) -> None:
        """One week of docs/model.md section 3, steps 2-8, for this client."""
        m, rng, s = self.model, self.model.random, self.model.scenario
        week, muni = m.week, self.municipality
        # 2. offers
        if self.offer_end <= week:
            start = week + geometric(rng, float(m.coef.offer_start[self.category])) - 1
            self.offer_start, self.offer_end = start, start + geometric(rng, m.coef.offer_end)
        # 3. meetings
        receiving = self.status == RECEIVING
        obligated = False
        if receiving and self.next_meeting <= week:
            held = rng.random() < m.p_timely[self.caseworker]
            was_late, self.meeting_late = self.meeting_late, not held
            if held:
                obligated = True
                self.next_meeting = week + s.meetings.interval.value
                m.tally["meetings_late" if was_late else "meetings_timely"][muni] += 1
        # 4. attendance
        offer_active = receiving and self.offer_start <= week < self.offer_end
        self.y_weeks_offer += offer_active
        u = rng.random()
        sanction = False
        if (obligated or offer_active) and u < self.p_absence:
            sanction = self.decide(offer_active)
        # 7. sanctions
        sanctioned = self.status == SANCTIONED
        if sanctioned and self.recomply_week <= week:
            self.status, sanctioned = RECEIVING, False
        if sanction:
            self.status, sanctioned = SANCTIONED, True  # periodical: the Danish rule
            self.recomply_week = week + geometric(rng, s.sanctions.recompliance.value)
            self.last_sanction = week
            self.sanctions_total += 1
            self.y_sanctions += 1
            self.refresh_absence()
        self.y_weeks_sanctioned += sanctioned
        # 8. exits (the same uniform as attendance, as in the engine)
        recent = self.last_sanction > week - s.exits.post_effect_weeks.value
        if recent or sanctioned:
            h = self.hazards()
            leaving = u >= 1.0 - min(sum(h), 1.0)
        else:
            leaving = u >= 1.0 - float(self.base_hazards.sum())
        if leaving:
            h = self.hazards()
            v = rng.random() * sum(h)
            destination = min(sum(v >= c for c in np.cumsum(h)), len(DESTINATIONS) - 1)
            self.close_year(destination)
            m.empty_slots.append(self.slot)
            self.remove()

    def refresh_absence(self) -> None:
        a = self.model.scenario.attendance
        risk = self.model.perceived_risk[self.municipality]
        p = float(logistic(self.absence_logit + a.perceived_risk.value * risk))
        self.p_absence = p * (1.0 - a.repeat_reduction.value)

    def decide(self, from_offer: bool) -> bool:
        """Steps 5-6: legitimate reason, route and the sanction decision on an absence."""
        m, rng, s = self.model, self.model.random, self.model.scenario
        muni = self.municipality
        lr = s.legitimate_reason
        legitimate = rng.random() < logistic(lr.intercept.value + lr.problems.value * self.problems)
        documented = legitimate and rng.random() < lr.documented.value
        to_office = from_offer and bool(m.country.benefit_office_route[muni])
        accepted = documented if to_office else legitimate
        strict = float(m.strictness[muni])
        if to_office:
            c = s.decision.benefit_office
            p = logistic(c.intercept.value + c.management_strictness.value * strict)
        else:
            b = s.decision.caseworker
            assessment = float(s.legislation.individual_assessment.value)
            p = logistic(
                b.intercept.value
                + b.management_strictness.value * strict
                + m.coef.decision_caseworker_caseworker_strictness
                * (m.cw_strictness[self.caseworker] + m.office_culture[muni])
                + b.problems.value * self.problems * (1.0 - strict) * assessment
                + b.overloaded.value * m.cw_overloaded[self.caseworker]
                + b.first_breach.value * (self.breaches_total == 0)
            )
        sanction = not accepted and rng.random() < p
        self.y_absences += 1
        self.breaches_total += not accepted
        m.tally["absences"][muni] += 1
        m.tally["breaches"][muni] += not accepted
        return sanction

    def close_year(self, destination: int | None) -> None:
        """Add this client-year to the municipality's tally (at an exit or at the year end)."""
        t, muni = self.model.tally, self.municipality
        t["recipients"][muni] += 1
        t["sanctioned"][muni] += self.y_sanctions > 0
        t["repeat_sanctioned"][muni] += self.y_sanctions >= 2
        t["sanctions"][muni] += self.y_sanctions
        t["weeks_in_year"][muni] += self.model.week - self.y_first_week + 1
        t["weeks_sanctioned"][muni] += self.y_weeks_sanctioned
        t["weeks_offer"][muni] += self.y_weeks_offer
        if destination is not None:
            t[f"exits_{DESTINATIONS[destination]}"][muni] += 1


class DanishModel(mesa.Model):
    """The Danish regime, one agent per client.

    Args:
        scenario: a validated scenario (``streetlevel.scenario.loading.load_scenario``).
        seed: seeds Mesa's random generator and the engine's caseworker draw (replication 0).
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        super().__init__(seed=seed)
        if scenario.legislation.sanction_type.value != "periodical":
            raise ValueError("the Mesa peer models the Danish regime: periodical sanctions only")
        if scenario.placements is not None:
            raise ValueError("the Mesa peer has no job placements (step 9)")
        self.scenario = scenario
        self.coef = Coefficients.from_scenario(scenario)
        self.country = build_country(scenario)
        self.weeks_per_year = self.coef.weeks_per_year
        self.burn_in_years = scenario.time.burn_in_years.value
        self.total_years = self.burn_in_years + scenario.time.reporting_years.value
        workforce, slot_cw = Workforce.draw(scenario, self.country, Streams(seed, [0]))
        self.slot_municipality = self.country.slot_municipality().tolist()
        self.slot_caseworker = slot_cw[0].tolist()
        self.p_timely = workforce.p_timely[0].tolist()
        self.cw_strictness = workforce.strictness[0].tolist()
        self.cw_overloaded = workforce.overloaded[0].tolist()
        self.strictness = self.country.management_strictness.copy()
        self.office_culture = office_culture(scenario, self.country).at(self.strictness)
        self.perceived_risk = initial_risk(self.scenario, self.country).tolist()
        self.stock_cum = np.cumsum(self.coef.stock_share).tolist()
        self.inflow_cum = np.cumsum(self.coef.inflow_share).tolist()
        self.spells = self.spell_tables()
        self.week = 0
        self.empty_slots: list[int] = []
        self.tally = self.new_tally()
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "year": lambda m: m.week // m.weeks_per_year,
                "sanction_rate": lambda m: m.national("sanction_rate"),
                "repeat_share": lambda m: m.national("repeat_share"),
                **{
                    f"exit_{d}_rate": (lambda m, d=d: m.national(f"exit_{d}_rate"))
                    for d in DESTINATIONS
                },
            }
        )
        for slot in range(self.country.n_slots):
            Client(self, slot, initial=True)

    def new_tally(self) -> dict[str, np.ndarray[Any, Any]]:
        return {name: np.zeros(self.country.n_municipalities) for name in COUNTS}

    def spell_tables(self) -> list[tuple[list[float], float] | None]:
        """Per category: cumulative steady-state duration head and tail hazard."""
        e = self.scenario.exits
        tables: list[tuple[list[float], float] | None] = []
        for h0 in self.coef.exit_rates.sum(axis=1):
            if h0 <= 0:
                tables.append(None)
                continue
            spell = spell_survival(float(h0), e, self.weeks_per_year)
            cum = (np.cumsum(spell.head) / spell.expected_weeks).tolist()
            tables.append((cum, spell.tail_hazard))
        return tables

    def steady_state_weeks(self, category: int) -> int:
        """Weeks already on benefit of an initial client, from the steady-state stock."""
        table = self.spells[category]
        if table is None:
            return 0
        cum, tail_hazard = table
        elapsed = bisect.bisect_right(cum, self.random.random())
        if elapsed >= len(cum):
            elapsed = len(cum) + geometric(self.random, tail_hazard) - 1
        return min(elapsed, NEVER)

    def national(self, indicator: str) -> float:
        """A national indicator of the year just closed (from the last tally)."""
        t = self.closed
        if indicator == "sanction_rate":
            return float(
                sanction_rate(t["sanctioned"].sum(), t["weeks_in_year"].sum(), self.weeks_per_year)
            )
        if indicator == "repeat_share":
            return float(t["repeat_sanctioned"].sum() / max(t["sanctioned"].sum(), 1))
        dest = indicator.removeprefix("exit_").removesuffix("_rate")
        return float(t[f"exits_{dest}"].sum() / t["recipients"].sum())

    def step(self) -> None:
        """One week: inflow into last week's empty slots, every client's week, the year end."""
        for slot in self.empty_slots:
            Client(self, slot, initial=False)
        self.empty_slots = []
        self.agents.shuffle_do("step")
        if self.week % self.weeks_per_year == self.weeks_per_year - 1:
            self.close_year()
        self.week += 1

    def close_year(self) -> None:
        """Step 10: client-years, indicators, ranking and pressure, perceived risk."""
        self.agents.do("close_year", None)
        t = self.tally
        rate = np.nan_to_num(
            sanction_rate(t["sanctioned"], t["weeks_in_year"], self.weeks_per_year)
        )
        self.closed = t
        self.datacollector.collect(self)
        year = self.week // self.weeks_per_year
        pressure, c = self.scenario.pressure, self.coef
        if year >= self.burn_in_years or pressure.during_burn_in.value:
            # Signals push, rankings push those below others, and management drifts back
            # toward its own starting norm.
            step = c.pressure_signal - c.pressure_relaxation * (
                self.strictness - self.country.management_strictness
            )
            if pressure.ranking_published.value:
                _, above = rank_within_regions(rate[None, :], self.country.region)
                step = step + self.country.pressure_response * (above[0] - rate)
            self.strictness = np.clip(self.strictness + step, 0.0, 1.0)
        observed = t["absences"] > 0
        risk = np.array(self.perceived_risk)
        risk[observed] = (t["sanctions"][observed] / t["absences"][observed]).astype(np.float32)
        self.perceived_risk = risk.tolist()
        self.tally = self.new_tally()
        self.agents.do("new_year", self.week + 1)
        self.agents.do("refresh")

    def run(self, weeks: int | None = None) -> None:
        """Run all years of the scenario, or ``weeks`` weeks."""
        for _ in range(self.total_years * self.weeks_per_year if weeks is None else weeks):
            self.step()


def main() -> None:
    from streetlevel.scenario.loading import load_scenario, with_values

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="denmark-2011")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = with_values(load_scenario(args.preset), {"scale.client_scale": args.scale})
    started = time.process_time()
    model = DanishModel(scenario, args.seed)
    model.run()
    print(model.datacollector.get_model_vars_dataframe())
    print(f"CPU {time.process_time() - started:.1f} s")


if __name__ == "__main__":
    main()
