"""The simulation: state, streams and the weekly schedule of MODEL.md section 3.

:class:`Simulation` holds everything one batch of replications needs and steps it week by
week. It knows the order of the processes and nothing of what they do; each process is a
function of the simulation in :mod:`streetlevel.model.processes`. Results leave through the
a :class:`RecordSink` (the output layer's recorder), and only in reporting years.

>>> from streetlevel.scenario.loading import load_scenario, with_overrides
>>> sim = Simulation(load_scenario("municipality-b"), seed=1, replications=[0, 1])
>>> sim.state.status.shape[0]
2
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from streetlevel.model.caseworkers import Workforce
from streetlevel.model.coefficients import Coefficients, logistic
from streetlevel.model.country import Country, build_country
from streetlevel.model.processes import (
    attendance,
    exits,
    inflow,
    meetings,
    offers,
    placements,
    routing,
    sanctions,
    year_end,
)
from streetlevel.model.sink import RecordSink
from streetlevel.model.state import ClientState, Subset
from streetlevel.model.streams import Streams
from streetlevel.model.tally import Tally
from streetlevel.scenario.schema import Scenario

__all__ = ["Simulation", "WeeklyProcess"]

WeeklyProcess = Callable[["Simulation"], None]

WEEKLY: tuple[WeeklyProcess, ...] = (
    inflow.refill,  # 1. inflow into slots left by last week's exits
    offers.schedule,  # 2. offers start and end
    meetings.hold,  # 3. obligations: meetings due, held on time or not
    attendance.attend,  # 4. absences (ex-ante and ex-post effects in the cached probability)
    routing.decide,  # 5-6. legitimate reasons, routing and the sanction decision
    sanctions.apply,  # 7. re-compliance, new sanctions, weeks sanctioned
    exits.leave,  # 8. exits to work, other support and unknown
    placements.propose,  # 9. job-placement proposals and the caseworker's decision (7.2)
)
"""The weekly schedule (MODEL.md section 3); step 10 runs after the last week of a year."""


class Simulation:
    """One batch of replications of a scenario, advanced week by week.

    Args:
        scenario: a validated scenario.
        seed: the root of the run's seed tree.
        replications: the replication numbers this batch holds (each its own stream).
        recorder: where rows go in reporting years; ``None`` keeps only the yearly tallies.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        replications: list[int],
        recorder: RecordSink | None = None,
    ) -> None:
        self.scenario = scenario
        self.coef = Coefficients.from_scenario(scenario)
        self.country: Country = build_country(scenario)
        self.streams = Streams(seed, replications)
        self.recorder = recorder
        self.weeks_per_year = self.coef.weeks_per_year
        self.burn_in_years = scenario.time.burn_in_years.value
        self.total_years = self.burn_in_years + scenario.time.reporting_years.value
        reps, slots = len(replications), self.country.n_slots
        self.replication_numbers = np.array(replications, dtype=np.int64)
        self.slot_municipality = self.country.slot_municipality()
        self.workforce, slot_caseworker = Workforce.draw(scenario, self.country, self.streams)
        self.placement_model = placements.PlacementModel.build(self)
        """Step 9's rates and per-caseworker log-odds; ``None`` without ``[placements]``."""
        self.strictness = np.tile(self.country.management_strictness, (reps, 1))
        self.perceived_risk = np.tile(initial_risk(scenario, self.country), (reps, 1)).astype(
            np.float32
        )
        self.next_id = np.zeros(reps, dtype=np.int64)
        self.tally = Tally(reps, self.country.n_municipalities, len(self.coef.category_names))
        self.yearly: list[dict[str, Any]] = []
        """Municipality indicators per year (also in burn-in), as column dicts."""
        self.state = ClientState.empty(reps, slots)
        self.state.caseworker[:] = slot_caseworker
        self.uniform = np.empty((reps, slots), dtype=np.float32)
        """This week's one uniform per client, shared by attendance and exits."""
        self.week = 0
        self.receiving = np.zeros((reps, slots), dtype=bool)
        """Who is receiving (not sanctioned) this week, from obligations until sanctions."""
        self.sanctioned = np.zeros((reps, slots), dtype=bool)
        """Who is sanctioned, from sanctions until the end of the week."""
        self.obligated = np.zeros((reps, slots), dtype=bool)
        self.offer_active = np.zeros((reps, slots), dtype=bool)
        self.leaving = np.zeros((reps, slots), dtype=bool)
        """Who leaves this week (set by exits)."""
        self.absent = Subset.of(np.zeros((reps, slots), dtype=bool))
        """This week's absences (set by attendance)."""
        self.exited = self.absent
        """The slots this week's exits left (set by exits), which next week's inflow fills."""
        self.new_sanctions = self.absent
        """This week's sanctions to impose (set by routing)."""
        inflow.populate(self)

    @property
    def year(self) -> int:
        """The simulated year (0-based, burn-in included)."""
        return self.week // self.weeks_per_year

    @property
    def week_of_year(self) -> int:
        return self.week % self.weeks_per_year

    @property
    def recording(self) -> bool:
        """Whether this year's rows are written (reporting years only)."""
        return self.recorder is not None and self.year >= self.burn_in_years

    @property
    def calendar_year(self) -> int:
        """The calendar year: the era's year is the first reporting year."""
        return int(self.scenario.scenario.era) + self.year - self.burn_in_years

    @property
    def total_weeks(self) -> int:
        return self.total_years * self.weeks_per_year

    def record_events(
        self,
        kind: str,
        sub: Subset,
        *,
        municipality: npt.NDArray[np.integer] | None = None,
        caseworker: npt.NDArray[np.integer] | None = None,
        **codes: npt.NDArray[Any],
    ) -> None:
        """Record events of one kind for the clients of ``sub``; their ``municipality`` and
        ``caseworker``, when the caller has gathered them already."""
        assert self.recorder is not None
        st = self.state
        self.recorder.events(
            kind,
            replication=self.replication_numbers[sub.rows],
            year=self.calendar_year,
            week=self.week_of_year + 1,
            client_id=sub.take(st.client_id),
            municipality=self.slot_municipality[sub.cols] if municipality is None else municipality,
            caseworker=sub.take(st.caseworker) if caseworker is None else caseworker,
            **codes,
        )

    def scratch_nbytes(self) -> int:
        """Memory held by the week's scratch arrays: the shared uniform and the masks."""
        scratch = (self.uniform, self.receiving, self.sanctioned, self.obligated)
        return sum(a.nbytes for a in (*scratch, self.offer_active, self.leaving))

    def step(self) -> None:
        """Advance one week; close the year after its last week."""
        for process in WEEKLY:
            process(self)
        if self.week_of_year == self.weeks_per_year - 1:
            year_end.close_year(self)
        self.week += 1

    def run(self, on_week: Callable[[int, int], None] | None = None) -> None:
        """Run all years; ``on_week(done, total)`` is called after each week."""
        total = self.total_weeks
        while self.week < total:
            self.step()
            if on_week is not None:
                on_week(self.week, total)


def initial_risk(scenario: Scenario, country: Country) -> npt.NDArray[np.float64]:
    """Perceived sanction risk before any year has been observed, per municipality.

    The chance that an absence leads to a sanction at the decision models' reference point
    (average caseworker, first breach, no problems, not overloaded): clients start out knowing
    their municipality's rules, then learn its record year by year.
    """
    cw, office = scenario.decision.caseworker, scenario.decision.benefit_office
    strict = country.management_strictness
    legit = float(logistic(scenario.legitimate_reason.intercept.value))
    documented = legit * scenario.legitimate_reason.documented.value
    p_cw = logistic(
        cw.intercept.value + cw.management_strictness.value * strict + cw.first_breach.value
    )
    p_office = logistic(office.intercept.value + office.management_strictness.value * strict)
    return np.where(country.benefit_office_route, (1 - documented) * p_office, (1 - legit) * p_cw)
