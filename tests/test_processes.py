"""Each weekly process on its own, on a small simulation whose state the test arranges.

Statistical checks use fixed seeds and a tolerance of four standard errors of the quantity
measured (a false alarm about once in 16,000 seeds).
"""

from __future__ import annotations

import ast
import fnmatch
import re
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streetlevel.model import engine
from streetlevel.model.codes import OUTCOMES
from streetlevel.model.coefficients import Coefficients, logistic
from streetlevel.model.engine import WEEKLY, Simulation
from streetlevel.model.indicators import rank_within_regions
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
from streetlevel.model.sink import RowLog
from streetlevel.model.state import EXITED, NEVER, RECEIVING, SANCTIONED, Subset
from streetlevel.model.tally import Cells, Tally
from streetlevel.scenario.loading import with_values
from streetlevel.scenario.schema import Scenario
from tests.conftest import simulation, small

Z = 4.0


def within(observed: float, expected: float, n: float) -> bool:
    """|observed - expected| within Z standard errors of a share from n draws."""
    se = np.sqrt(max(expected * (1 - expected), 1e-12) / n)
    return abs(observed - expected) <= Z * se


def test_offers_reach_the_activation_degree() -> None:
    sim = simulation(small("denmark-2011", scale=0.05), replications=2)
    st = sim.state
    active_weeks = np.zeros(st.status.shape)
    weeks = 400
    for _ in range(weeks):
        offers.schedule(st, sim.coef, sim.streams, sim.week)
        active_weeks += (st.offer_start <= sim.week) & (st.offer_end > sim.week)
        sim.week += 1
    for k, degree in enumerate(sim.coef.activation_degree):
        members = st.category == k
        if not members.any():
            continue  # a category not in force (the education-ready group before 2014)
        share = active_weeks[members].mean() / weeks
        if degree == 0:
            assert share == 0  # era 2011: the passive category never gets an offer
        else:
            # Offer spells are autocorrelated: count independent spells, not weeks.
            spells = members.sum() * weeks / sim.scenario.offers.mean_duration.value
            assert within(share, degree, spells), (k, share, degree)


def test_meetings_are_timely_less_often_with_a_higher_caseload() -> None:
    base = small("municipality-a", scale=1.0)
    rates = []
    for cpc in (40, 160):
        s = small("municipality-a", scale=1.0, **{"caseworkers__clients_per_caseworker": cpc})
        sim = simulation(s, replications=4)
        for _ in range(26):
            meetings.hold(sim.state, sim.world, sim.scratch, sim.coef, sim.streams, sim.week)
            sim.week += 1
        c = sim.world.tally.counts
        rates.append(c["meetings_timely"].sum() / (c["meetings_timely"] + c["meetings_late"]).sum())
    assert base.meetings.timely_per_100_clients.value < 0
    assert rates[0] > rates[1]


def test_absence_follows_the_cached_probability() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=4)
    st, scratch = sim.state, sim.scratch
    st.offer_start[:] = 0
    st.offer_end[:] = NEVER
    st.p_absence[:] = 0.2
    scratch.obligated[:] = False
    scratch.receiving[:] = st.status == RECEIVING  # as meetings.hold leaves it
    attendance.attend(st, scratch, sim.streams, sim.week)
    n = st.status.size
    assert within(len(scratch.absent) / n, 0.2, n)
    # Sanctioned clients have no obligations, so they are never absent.
    st.status[:, ::2] = SANCTIONED
    scratch.obligated[:] = False
    scratch.receiving[:] = st.status == RECEIVING
    attendance.attend(st, scratch, sim.streams, sim.week)
    assert np.all(scratch.absent.take(st.status) == RECEIVING)


def test_repeat_reduction_after_a_sanction() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=1)
    st = sim.state
    before = st.p_absence.copy()
    st.sanctions_total[:] = 1
    attendance.refresh(st, sim.world, sim.coef)
    reduction = sim.scenario.attendance.repeat_reduction.value
    assert np.allclose(st.p_absence, before * (1 - reduction), rtol=1e-5)


class Collect:
    """A record sink that keeps the rows in memory: (kind, columns) per call."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []
        self.years: list[dict[str, np.ndarray]] = []

    def events(self, kind: str, **columns: Any) -> None:
        self.rows.append((kind, columns))

    def client_years(self, **columns: Any) -> None:
        self.rows.append(("client_years", columns))

    def flush_year(self, municipality_year: dict[str, np.ndarray]) -> None:
        self.years.append(municipality_year)


def _all_absent_from_offers(route: str, strictness: float) -> tuple[Simulation, dict[str, Any]]:
    """Every client absent from an offer this week; the decision's event codes, captured.

    Every category keeps an attendance register here, so the route alone decides who sees
    the absence; the caseworker's baseline is raised and the office culture left out, so that
    the caseworker sanctions often enough to compare groups.
    """
    s = small(
        "municipality-a",
        scale=1.0,
        **{
            "municipalities[0]__absence_route": route,
            "municipalities[0]__management_strictness": strictness,
            "categories[0]__attendance_register": True,
            "decision__caseworker__intercept": -1.0,
            "caseworkers__culture_share": 0.0,
        },
    )
    sim = simulation(s, replications=8)
    st, scratch = sim.state, sim.scratch
    scratch.offer_active[:] = True
    scratch.absent = Subset.of(np.ones(st.status.shape, dtype=bool))
    sink = Collect()
    log = RowLog(sink, sim.world.replication, sim.world.slot_municipality)
    routing.decide(st, sim.world, scratch, sim.coef, sim.streams, log)
    [(kind, events)] = sink.rows
    assert kind == "absence" and len(events["client_id"]) == st.status.size
    return sim, events


def test_benefit_office_sees_documented_reasons_only() -> None:
    sim, ev = _all_absent_from_offers("benefit_office", 1.0)
    outcome, legit, documented = ev["outcome"], ev["legitimate"], ev["documented"]
    sanctioned = outcome == OUTCOMES.index("sanction")
    assert not np.any(sanctioned & documented)
    c = sim.scenario.decision.benefit_office
    p = float(logistic(c.intercept.value + c.management_strictness.value * 1.0))
    undocumented = ~documented
    assert within(sanctioned[undocumented].mean(), p, undocumented.sum())
    # Undocumented legitimate reasons go unseen: sanctioned as often as breaches.
    hidden = legit & ~documented
    assert within(sanctioned[hidden].mean(), p, hidden.sum())


def test_caseworker_accepts_legitimate_reasons_and_assesses() -> None:
    sim, ev = _all_absent_from_offers("caseworker", 0.0)
    outcome, legit = ev["outcome"], ev["legitimate"]
    sanctioned = outcome == OUTCOMES.index("sanction")
    assert not np.any(sanctioned & legit)
    assert np.all(outcome[legit] == OUTCOMES.index("reason_accepted"))
    # The individual assessment: clients with problems are sanctioned less (b_problems < 0).
    problems = sim.scratch.absent.take(sim.state.problems)
    breach = ~legit
    assert sim.scenario.decision.caseworker.problems.value < 0
    assert sanctioned[breach & problems].mean() < sanctioned[breach & ~problems].mean()
    assert len(sim.scratch.new_sanctions) == sanctioned.sum()


def test_periodical_sanction_stops_benefit_until_recompliance() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=4)
    st, scratch = sim.state, sim.scratch
    scratch.new_sanctions = Subset.of(np.ones(st.status.shape, dtype=bool))
    sanctions.apply(st, sim.world, scratch, sim.coef, sim.streams, None, sim.week)
    assert np.all(st.status == SANCTIONED)
    assert np.all(st.y_weeks_sanctioned == 1)
    durations = []
    scratch.new_sanctions = Subset.of(np.zeros(st.status.shape, dtype=bool))
    still = st.status == SANCTIONED
    for week in range(1, 60):
        sanctions.apply(st, sim.world, scratch, sim.coef, sim.streams, None, week)
        now = st.status == SANCTIONED
        durations.append((still & ~now).sum() * week)
        still = now
    p = sim.scenario.sanctions.recompliance.value
    mean = sum(durations) / st.status.size
    n = st.status.size
    se = np.sqrt((1 - p) / p**2 / n)  # sd of a geometric wait
    assert abs(mean - 1 / p) < Z * se
    # Weeks without benefit are counted week by week.
    assert np.all(st.y_weeks_sanctioned >= 1)


def test_deduction_withholds_a_fixed_amount_and_keeps_paying() -> None:
    s = small("municipality-a", scale=1.0, legislation__sanction_type="deduction")
    sim = simulation(s, replications=1)
    st = sim.state
    sim.scratch.new_sanctions = Subset.of(np.ones(st.status.shape, dtype=bool))
    sanctions.apply(st, sim.world, sim.scratch, sim.coef, sim.streams, None, sim.week)
    assert np.all(st.status == RECEIVING)
    legislation = s.legislation
    assert np.allclose(st.y_withheld, legislation.benefit.value * legislation.deduction_weeks.value)


def test_exit_to_work_hazard_rises_after_a_sanction_and_fades() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=1)
    st = sim.state
    e = sim.scenario.exits
    t = 100
    sub = Subset.of(np.ones(st.status.shape, dtype=bool))
    base = exits.hazards(st, sim.coef, t, sub)
    st.last_sanction[:] = t
    fresh = exits.hazards(st, sim.coef, t, sub)
    assert np.allclose(fresh[:, 0], np.minimum(base[:, 0] * (1 + e.post_effect.value), 1))
    assert np.allclose(fresh[:, 1:], base[:, 1:])
    st.last_sanction[:] = t - e.post_effect_weeks.value
    assert np.allclose(exits.hazards(st, sim.coef, t, sub), base)
    # While sanctioned, leaving to unknown is more likely.
    st.status[:] = SANCTIONED
    sanctioned = exits.hazards(st, sim.coef, t, sub)
    assert np.allclose(sanctioned[:, 2], base[:, 2] * e.unknown_while_sanctioned.value)


def test_exit_rates_match_the_hazards() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=20)
    st = sim.state
    expected = (1.0 - st.exit_threshold.astype(np.float64)).mean()
    sim.streams.uniform_into(sim.scratch.uniform)
    exits.leave(st, sim.world, sim.scratch, sim.coef, sim.streams, None, sim.week)
    n = st.status.size
    assert within((st.status == 2).mean(), expected, n)


@given(
    rates=st.lists(st.floats(0, 1), min_size=1, max_size=12),
    regions=st.lists(st.integers(0, 3), min_size=12, max_size=12),
)
def test_ranking_is_a_permutation_and_pressure_points_up(
    rates: list[float], regions: list[int]
) -> None:
    rate = np.array([rates])
    region = np.array(regions[: len(rates)])
    rank, above = rank_within_regions(rate, region)
    for g in np.unique(region):
        members = region == g
        assert sorted(rank[0, members]) == list(range(1, members.sum() + 1))
        # Those ranked higher never have a lower rate.
        order = np.argsort(rank[0, members])
        assert np.all(np.diff(rate[0, members][order]) <= 0)
    # The mean rate of those ranked above is never below one's own: pressure only pushes up.
    assert np.all(above >= rate - 1e-12)


@given(mask=st.lists(st.booleans(), min_size=12, max_size=12), reps=st.sampled_from([1, 2, 3]))
def test_subset_matches_the_mask(mask: list[bool], reps: int) -> None:
    m = np.array(mask[: (12 // reps) * reps]).reshape(reps, -1)
    sub = Subset.of(m)
    rows, cols = np.nonzero(m)
    assert np.array_equal(sub.rows, rows) and np.array_equal(sub.cols, cols)
    assert np.array_equal(sub.counts, m.sum(axis=1))
    values = np.arange(m.size).reshape(m.shape)
    assert np.array_equal(sub.take(values), values[rows, cols])
    keep = np.arange(len(sub)) % 2 == 0
    half = sub.select(keep)
    assert np.array_equal(half.flat, sub.flat[keep])
    assert np.array_equal(half.rows, rows[keep]) and np.array_equal(half.cols, cols[keep])
    assert np.array_equal(half.counts, np.bincount(rows[keep], minlength=reps))


def test_inflow_refills_exits_with_new_clients() -> None:
    sim = simulation(small("denmark-2011", scale=0.2), replications=2)
    st = sim.state
    t = 60
    before = st.client_id.copy()
    gone = np.zeros(st.status.shape, dtype=bool)
    gone[:, ::3] = True
    st.status[gone] = EXITED
    sim.scratch.exited = Subset.of(gone)  # as exits leave them
    inflow.refill(st, sim.world, sim.scratch, sim.coef, sim.streams, t)
    assert np.all(st.status[gone] == RECEIVING)
    assert np.all(st.entry_week[gone] == t)
    assert np.array_equal(st.client_id[~gone], before[~gone])
    # New ids are fresh and unique within each replication.
    for r in range(2):
        assert len(np.unique(st.client_id[r])) == st.client_id.shape[1]
        assert st.client_id[r][gone[r]].min() > before[r].max()
    # New clients come in the inflow mix (4 standard errors per category share).
    cats = st.category[gone]
    n = len(cats)
    for k, share in enumerate(sim.coef.inflow_share):
        assert within((cats == k).mean(), share, n), k
    # Their year counters start at zero.
    assert np.all(st.y_sanctions[gone] == 0) and np.all(st.y_weeks_offer[gone] == 0)


def test_the_exited_slots_are_those_inflow_refills() -> None:
    """Exits hand their slots to next week's inflow: exactly the clients whose status they
    set to exited, and no others."""
    sim = simulation(small("denmark-2011", scale=0.2), replications=2)
    last_week = np.zeros(sim.state.status.shape, dtype=bool)
    for _ in range(6):
        before = sim.state.client_id.copy()
        sim.step()
        # New clients this week in exactly the slots exits left last week.
        assert np.array_equal(sim.state.client_id != before, last_week)
        last_week = sim.state.status == EXITED
        assert last_week.any()
        assert np.array_equal(sim.scratch.exited.flat, np.flatnonzero(last_week))


@given(
    sizes=st.lists(st.integers(0, 4), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["none", "bool", "int16", "float"]),
)
def test_cell_sums_are_bincounts(sizes: list[int], seed: int, kind: str) -> None:
    """Sums over each cell's run of sorted clients: np.bincount's numbers, empty cells (first,
    last, between) included."""
    key = np.repeat(np.arange(len(sizes)), sizes).astype(np.intp)
    rng = np.random.default_rng(seed)
    weights: np.ndarray | None = {
        "none": None,
        "bool": rng.random(len(key)) < 0.5,
        "int16": rng.integers(-3, 300, len(key)).astype(np.int16),
        "float": rng.random(len(key)) * 1000.3,
    }[kind]
    got = Cells(key, len(sizes)).sums(weights)
    want = np.bincount(key, None if weights is None else weights.astype(np.float64), len(sizes))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_a_subsets_cells_are_sorted() -> None:
    """Cells sums rely on it: slots are grouped by municipality, subsets sorted by slot."""
    sim = simulation(small("denmark-2011", scale=0.05), replications=3)
    sub = Subset.of(np.random.default_rng(2).random(sim.state.status.shape) < 0.3)
    cells = sim.world.tally.cells(sub.rows, sim.world.slot_municipality[sub.cols])
    assert len(cells.key) > 100 and np.all(np.diff(cells.key) >= 0)


@given(
    values=st.lists(st.floats(-30, 30), min_size=1, max_size=9),
    seed=st.integers(0, 2**16),
)
def test_looked_up_probabilities_are_those_computed_per_element(
    values: list[float], seed: int
) -> None:
    """Routing looks up probabilities that take few values: NumPy's exp must give an element
    the same result in a short table as anywhere in a long array (SIMD body or tail)."""
    table = np.array(values)
    at = np.random.default_rng(seed).integers(0, len(table), 1001)
    assert np.array_equal(logistic(table)[at], logistic(table[at]))


@given(
    shares=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8).filter(lambda s: sum(s) > 0),
    seed=st.integers(0, 2**16),
)
def test_categories_are_those_of_a_search_of_the_cumulative_shares(
    shares: list[float], seed: int
) -> None:
    """A new client's category is the number of cumulative shares its draw reaches, as
    ``np.searchsorted`` finds it, at every edge (zero shares, draws on an edge or past all)."""
    cumulative = np.cumsum(np.array(shares) / sum(shares))
    u = np.random.default_rng(seed).random(500)
    u = np.concatenate([u, cumulative, [0.0, 1.0, np.nextafter(1.0, 0.0)]])
    expected = np.minimum(np.searchsorted(cumulative, u, side="right"), len(shares) - 1)
    assert np.array_equal(inflow._category(cumulative, u), expected)


# -- the processes' contracts ------------------------------------------------------------------

PROCESSES = (
    inflow.refill,
    offers.schedule,
    meetings.hold,
    attendance.attend,
    routing.decide,
    sanctions.apply,
    exits.leave,
    placements.propose,
)
"""The weekly processes in the engine's order (checked against engine.WEEKLY below)."""

NAMED = re.compile(r"``((?:state|scratch|world)\.[\w*]+)``")


def _section(doc: str, name: str) -> str:
    """The text of a docstring's ``Reads:``, ``Writes:`` or ``Draws:`` paragraph."""
    found = re.search(rf"{name}:(.*?)(?=Reads:|Writes:|Draws:|\n\s*\n|$)", doc, re.S)
    return found.group(1) if found else ""


def _arrays(sim: Simulation) -> dict[str, np.ndarray]:
    """A copy of every array of the groups the processes take, by ``group.field``."""
    out = {}
    for group in ("state", "scratch", "world"):
        obj = getattr(sim, group)
        for f in fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, Subset):
                value = value.flat
            elif isinstance(value, Tally):
                parts = [*value.counts.values(), value.weeks_by_category, value.closings]
                value = np.concatenate([a.ravel() for a in parts])
            out[f"{group}.{f.name}"] = np.array(value, copy=True)
    return out


def _writes_as_declared(sim: Simulation, process: Any, call: Any, seen: dict[str, set]) -> None:
    """Call ``call``; every array it changes must be one ``process`` declares under Writes."""
    before = _arrays(sim)
    call()
    after = _arrays(sim)
    # Byte for byte: the week's uniform starts as uninitialised memory, NaNs included.
    changed = {k for k in before if before[k].tobytes() != after[k].tobytes()}
    declared = NAMED.findall(_section(process.__doc__ or "", "Writes"))
    undeclared = {k for k in changed if not any(fnmatch.fnmatch(k, d) for d in declared)}
    assert not undeclared, f"{process.__module__}.{process.__name__} writes {undeclared}"
    seen.setdefault(process.__name__, set()).update(changed)


def test_each_process_writes_what_its_docstring_says() -> None:
    """Every array a process changes is in its docstring's "Writes", every field it names
    exists, and the engine's schedule calls the processes in this order."""
    assert len(WEEKLY) == len(PROCESSES)
    for step, process in zip(WEEKLY, PROCESSES, strict=True):
        assert process.__name__ in step.__code__.co_names, process.__name__
    s = small("municipality-b", scale=1.0, time__burn_in_years=0, time__reporting_years=1)
    sim = Simulation(s, seed=2, replications=[0, 1], recorder=Collect())
    fields_named = set(_arrays(sim))
    for process in (*PROCESSES, year_end.close_year, year_end.open_year):
        doc = process.__doc__ or ""
        for name in ("Reads", "Writes"):
            assert _section(doc, name), f"{process.__name__}: no {name}"
            for named in NAMED.findall(_section(doc, name)):
                assert fnmatch.filter(fields_named, named), f"{process.__name__}: {named}"
    seen: dict[str, set] = {}
    for _ in range(8):
        sim.log = sim.rows
        assert sim.log is not None
        sim.log.stamp(sim.calendar_year, sim.week_of_year + 1)
        for step, process in zip(WEEKLY, PROCESSES, strict=True):
            _writes_as_declared(sim, process, partial(step, sim), seen)
        sim.week += 1
    t, year = sim.week, sim.calendar_year
    _writes_as_declared(
        sim,
        year_end.close_year,
        lambda: year_end.close_year(sim.state, sim.world, sim.coef, sim.log, t, year),
        seen,
    )
    _writes_as_declared(
        sim,
        year_end.open_year,
        lambda: year_end.open_year(sim.state, sim.world, sim.coef, t),
        seen,
    )
    # The weeks did something to check: absences, sanctions and exits happened.
    assert {"scratch.absent", "scratch.new_sanctions", "scratch.exited"} <= set().union(
        *seen.values()
    )


def test_no_process_imports_the_engine() -> None:
    """The processes sit below the engine: no import of it, not even for type checking."""
    folder = Path(inflow.__file__).parent
    for module in folder.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "streetlevel.model.engine", module.name
                assert node.module != "streetlevel.scenario.loading", module.name


def test_coefficients_are_a_flat_record() -> None:
    """What a compiled kernel could take: numbers and NumPy arrays, no nested objects."""
    coef = Coefficients.from_scenario(small("norway-2010"))
    for f in fields(coef):
        value = getattr(coef, f.name)
        assert isinstance(value, (bool, int, float, np.ndarray)), (f.name, type(value))
        assert not isinstance(value, np.ndarray) or value.dtype != object, f.name


class _Unreadable:
    """Stands in for the scenario once the run has started: reading it fails."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the weekly loop read scenario.{name}")


def test_the_weekly_loop_reads_no_scenario() -> None:
    """After construction, a year of weeks and its year end never touch the scenario (for
    a scenario without dated values)."""
    s = small("norway-2010", scale=0.02, time__burn_in_years=1, time__reporting_years=1)
    sim = Simulation(s, seed=1, replications=[0], recorder=Collect())
    sim.scenario = _Unreadable()  # type: ignore[assignment]
    for _ in range(sim.weeks_per_year + 2):
        sim.step()
    assert len(sim.yearly) == 1


def test_a_dated_value_takes_effect_from_the_first_week_of_its_year(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Absences all but impossible from year Y (attendance.intercept at its floor): there
    are absences in every week up to Y's, none from Y's first week on."""
    base = small("municipality-b", scale=1.0, time__burn_in_years=1, time__reporting_years=3)
    era = int(base.scenario.era)
    change = era + 1
    quiet = with_values(base, {"attendance.intercept": -50.0}, "test")
    asked: list[int] = []

    def at_year(scenario: Scenario, year: int) -> Scenario:
        asked.append(year)
        return quiet if year >= change else scenario

    monkeypatch.setattr(engine, "change_years", lambda scenario: [change])
    monkeypatch.setattr(engine, "at_year", at_year)
    sink = Collect()
    sim = Simulation(base, seed=4, replications=[0, 1], recorder=sink)
    sim.run()
    # Built for the first simulated year (a burn-in year), then again for Y only.
    assert asked == [era - 1, change]
    by_year = {int(table["year"][0]): table["absences"].sum() for table in sim.yearly}
    assert by_year[era - 1] > 0 and by_year[era] > 0
    assert by_year[change] == 0 and by_year[change + 1] == 0
    # The week before Y still had absences (recorded from the era on).
    absences = [cols for kind, cols in sink.rows if kind == "absence"]
    last_week = [c for c in absences if c["year"] == era and c["week"] == sim.weeks_per_year]
    assert sum(len(c["client_id"]) for c in last_week) > 0
    assert all(c["year"] < change for c in absences)
