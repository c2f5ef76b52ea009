"""The simulation: the state of a batch, its streams and the weekly schedule (docs/model.md 3).

:class:`Simulation` holds everything one batch of replications needs and steps it week by
week. It knows the order of the processes and nothing of what they do: each process is a
function in :mod:`streetlevel.model.processes` whose parameters are the groups it reads and
writes, and :data:`WEEKLY` hands each its groups, in order. The groups are the clients
(``state``), their municipalities and caseworkers (``world``), the week's scratch
(``scratch``), the coefficients (``coef``), the random streams and the row log, through which
rows leave for a :class:`RecordSink` (the output layer's recorder) in reporting years.

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

from streetlevel.model.caseworkers import Workforce, timeliness
from streetlevel.model.coefficients import Coefficients, logistic
from streetlevel.model.country import Country, build_country
from streetlevel.model.culture import office_culture
from streetlevel.model.processes import (
    attendance,
    exits,
    inflow,
    meetings,
    offers,
    placements,
    reform,
    routing,
    sanctions,
    year_end,
)
from streetlevel.model.scratch import Scratch
from streetlevel.model.sink import RecordSink, RowLog
from streetlevel.model.state import ClientState
from streetlevel.model.streams import Stream, Streams
from streetlevel.model.world import World
from streetlevel.scenario.dates import at_year, change_years
from streetlevel.scenario.schema import Scenario

__all__ = ["WEEKLY", "Simulation", "WeeklyProcess", "initial_risk"]

WeeklyProcess = Callable[["Simulation"], None]

WEEKLY: tuple[WeeklyProcess, ...] = (
    # 1. inflow into slots left by last week's exits
    lambda s: inflow.refill(s.state, s.world, s.scratch, s.coef, s.streams, s.week),
    # 2. offers start and end
    lambda s: offers.schedule(s.state, s.coef, s.streams, s.week),
    # 3. obligations: meetings due, held on time or not
    lambda s: meetings.hold(s.state, s.world, s.scratch, s.coef, s.streams, s.week),
    # 4. absences (ex-ante and ex-post effects in the cached probability)
    lambda s: attendance.attend(s.state, s.scratch, s.streams, s.week),
    # 5-6. legitimate reasons, routing and the sanction decision
    lambda s: routing.decide(s.state, s.world, s.scratch, s.coef, s.streams, s.log),
    # 7. re-compliance, new sanctions, weeks sanctioned
    lambda s: sanctions.apply(s.state, s.world, s.scratch, s.coef, s.streams, s.log, s.week),
    # 8. exits to work, other support and unknown
    lambda s: exits.leave(s.state, s.world, s.scratch, s.coef, s.streams, s.log, s.week),
    # 9. job-placement proposals and the caseworker's decision (7.2)
    lambda s: placements.propose(s.state, s.world, s.placement, s.placement_streams, s.log, s.week),
)
"""The weekly schedule (docs/model.md section 3), each step a call of one process with the groups
its signature names; step 10 runs after the last week of a year (:meth:`Simulation.step`)."""


class Simulation:
    """One batch of replications of a scenario, advanced week by week.

    The country and the workforce are drawn once, before the first week, from the scenario
    in force in the first simulated year (``at_year(scenario, era - burn_in_years)``), and
    stay fixed for the run. The coefficients are built from the same year's scenario, and
    built again at the start of each year in which a dated value changes
    (:func:`streetlevel.scenario.dates.change_years`), together with what the processes
    cache from them (each client's absence log-odds and probability, exit threshold, and
    the caseworkers' timeliness); a scenario without dates builds them once. Waits drawn
    before the change (the next offer, re-compliance, the next meeting) keep their dates.

    Args:
        scenario: a validated scenario.
        seed: the root of the run's seed tree.
        replications: the replication numbers this batch holds (each its own stream).
        recorder: where rows go in reporting years; ``None`` keeps only the yearly tallies.
    """

    # The groups the processes take (set in __init__).
    state: ClientState
    """The clients: a structure of arrays over (replication x slot)."""
    world: World
    """The municipalities and caseworkers, fixed or moved by the processes."""
    scratch: Scratch
    """The week's masks and subsets."""
    coef: Coefficients
    """The numbers of the scenario in force this year."""
    streams: Streams
    """The main random streams, one generator per replication."""
    placement: placements.PlacementModel | None
    """Step 9's rates and per-caseworker log-odds; ``None`` without ``[placements]``."""
    placement_streams: Streams
    """Step 9's own streams, so scenarios with and without placements share every other draw."""
    log: RowLog | None
    """Where this week's rows go: :attr:`rows` in reporting years, else ``None``."""
    week: int
    """The week about to be simulated (0-based, burn-in included)."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        replications: list[int],
        recorder: RecordSink | None = None,
    ) -> None:
        self.scenario = scenario
        self.weeks_per_year = scenario.time.weeks_per_year.value
        self.burn_in_years = scenario.time.burn_in_years.value
        self.total_years = self.burn_in_years + scenario.time.reporting_years.value
        self.first_year = int(scenario.scenario.era) - self.burn_in_years
        """The calendar year of week 0: the era's year is the first reporting year."""
        self.week = 0
        self.changes = frozenset(change_years(scenario))
        """The calendar years at whose start the coefficients are built again."""
        first = at_year(scenario, self.calendar_year)
        self.coef = Coefficients.from_scenario(first)
        self.country: Country = build_country(first)
        self.streams = Streams(seed, replications)
        self.recorder = recorder
        reps, slots = len(replications), self.country.n_slots
        self.workforce, slot_caseworker = Workforce.draw(first, self.country, self.streams)
        self.placement = placements.PlacementModel.build(first, self.country, self.workforce)
        self.placement_streams = self.streams.child(Stream.PLACEMENT)
        self.world = World.build(
            self.country,
            self.workforce,
            replications,
            initial_risk(first, self.country),
            len(self.coef.stock_share),
            office_culture(first, self.country),
            by_minority=self.placement is not None,
        )
        self.world.mix_categories(self.country, self.coef.stock_share, self.coef.outflow_per_stock)
        self.slot_municipality = self.world.slot_municipality
        self.yearly: list[dict[str, Any]] = []
        """Municipality indicators per year (also in burn-in), as column dicts."""
        self.state = ClientState.empty(reps, slots)
        self.state.caseworker[:] = slot_caseworker
        self.scratch = Scratch.empty(reps, slots)
        self.rows = (
            None
            if recorder is None
            else RowLog(recorder, self.world.replication, self.world.slot_municipality)
        )
        """The row log of the reporting years; ``None`` without a recorder."""
        self.log = None
        inflow.populate(self.state, self.world, self.coef, self.streams, self.week)

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
        return self.first_year + self.year

    @property
    def total_weeks(self) -> int:
        return self.total_years * self.weeks_per_year

    def scratch_nbytes(self) -> int:
        """Memory held by the week's scratch arrays: the shared uniform and the masks."""
        return self.scratch.nbytes()

    def step(self) -> None:
        """Advance one week; close the year after its last week."""
        self.log = self.rows if self.recording else None
        if self.log is not None:
            self.log.stamp(self.calendar_year, self.week_of_year + 1)
        for process in WEEKLY:
            process(self)
        if self.week_of_year == self.weeks_per_year - 1:
            self._close_year()
        self.week += 1

    def _close_year(self) -> None:
        """Step 10, and when a dated value changes with the next year: its coefficients, and
        the clients re-categorised and given their categories' obligations (``reform``)."""
        state, world, t = self.state, self.world, self.week
        self.yearly.append(
            year_end.close_year(state, world, self.coef, self.log, t, self.calendar_year)
        )
        if self.calendar_year + 1 in self.changes:
            self._rebuild(self.calendar_year + 1)
            reform.apply(state, self.coef, t)
            attendance.rebase(state, self.coef)
        year_end.open_year(state, world, self.coef, t)

    def _rebuild(self, calendar_year: int) -> None:
        """What the weekly loop derives from ``calendar_year``'s scenario: the coefficients,
        and the caseworkers' timeliness (their caseloads stay; ``[meetings]`` may change).

        The sections read once (``schema.UNDATED_SECTIONS``: the country, the caseworkers,
        their attitudes, the job-placement model) cannot hold dated values.
        """
        scenario = at_year(self.scenario, calendar_year)
        self.coef = Coefficients.from_scenario(scenario)
        self.world.mix_categories(self.country, self.coef.stock_share, self.coef.outflow_per_stock)
        self.world.p_timely = timeliness(scenario.meetings, self.workforce.caseload)

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
