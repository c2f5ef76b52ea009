"""Each weekly process on its own, on a small simulation whose state the test arranges.

Statistical checks use fixed seeds and a tolerance of four standard errors of the quantity
measured (a false alarm about once in 16,000 seeds).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streetlevel.model.codes import OUTCOMES
from streetlevel.model.coefficients import logistic
from streetlevel.model.engine import Simulation
from streetlevel.model.indicators import rank_within_regions
from streetlevel.model.processes import (
    attendance,
    exits,
    inflow,
    meetings,
    offers,
    routing,
    sanctions,
)
from streetlevel.model.state import EXITED, NEVER, RECEIVING, SANCTIONED, Subset
from streetlevel.model.tally import Cells
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
        offers.schedule(sim)
        active_weeks += (st.offer_start <= sim.week) & (st.offer_end > sim.week)
        sim.week += 1
    for k, degree in enumerate(sim.coef.activation_degree):
        members = st.category == k
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
            meetings.hold(sim)
            sim.week += 1
        c = sim.tally.counts
        rates.append(c["meetings_timely"].sum() / (c["meetings_timely"] + c["meetings_late"]).sum())
    assert base.meetings.timely_per_100_clients.value < 0
    assert rates[0] > rates[1]


def test_absence_follows_the_cached_probability() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=4)
    st = sim.state
    st.offer_start[:] = 0
    st.offer_end[:] = NEVER
    st.p_absence[:] = 0.2
    sim.obligated[:] = False
    sim.receiving[:] = st.status == RECEIVING  # as meetings.hold leaves it
    attendance.attend(sim)
    n = st.status.size
    assert within(len(sim.absent) / n, 0.2, n)
    # Sanctioned clients have no obligations, so they are never absent.
    st.status[:, ::2] = SANCTIONED
    sim.obligated[:] = False
    sim.receiving[:] = st.status == RECEIVING
    attendance.attend(sim)
    assert np.all(sim.absent.take(st.status) == RECEIVING)


def test_repeat_reduction_after_a_sanction() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=1)
    st = sim.state
    before = st.p_absence.copy()
    st.sanctions_total[:] = 1
    attendance.refresh(sim)
    reduction = sim.scenario.attendance.repeat_reduction.value
    assert np.allclose(st.p_absence, before * (1 - reduction), rtol=1e-5)


def _all_absent_from_offers(
    route: str, strictness: float, monkeypatch: pytest.MonkeyPatch
) -> tuple[Simulation, dict[str, np.ndarray]]:
    """Every client absent from an offer this week; the decision's event codes, captured."""
    s = small(
        "municipality-a",
        scale=1.0,
        **{
            "municipalities[0]__absence_route": route,
            "municipalities[0]__management_strictness": strictness,
        },
    )
    sim = simulation(s, replications=8)
    st = sim.state
    sim.offer_active[:] = True
    sim.absent = Subset.of(np.ones(st.status.shape, dtype=bool))
    events: dict[str, np.ndarray] = {}

    def capture(kind: str, sub: Subset, **codes: np.ndarray) -> None:
        events.update(codes)

    monkeypatch.setattr(Simulation, "recording", property(lambda self: True))
    monkeypatch.setattr(sim, "record_events", capture)
    routing.decide(sim)
    return sim, events


def test_benefit_office_sees_documented_reasons_only(monkeypatch: pytest.MonkeyPatch) -> None:
    sim, ev = _all_absent_from_offers("benefit_office", 1.0, monkeypatch)
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


def test_caseworker_accepts_legitimate_reasons_and_assesses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim, ev = _all_absent_from_offers("caseworker", 0.0, monkeypatch)
    outcome, legit = ev["outcome"], ev["legitimate"]
    sanctioned = outcome == OUTCOMES.index("sanction")
    assert not np.any(sanctioned & legit)
    assert np.all(outcome[legit] == OUTCOMES.index("reason_accepted"))
    # The individual assessment: clients with problems are sanctioned less (b_problems < 0).
    problems = sim.absent.take(sim.state.problems)
    breach = ~legit
    assert sim.scenario.decision.caseworker.problems.value < 0
    assert sanctioned[breach & problems].mean() < sanctioned[breach & ~problems].mean()
    assert len(sim.new_sanctions) == sanctioned.sum()


def test_periodical_sanction_stops_benefit_until_recompliance() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=4)
    st = sim.state
    sim.new_sanctions = Subset.of(np.ones(st.status.shape, dtype=bool))
    sanctions.apply(sim)
    assert np.all(st.status == SANCTIONED)
    assert np.all(st.y_weeks_sanctioned == 1)
    durations = []
    sim.new_sanctions = Subset.of(np.zeros(st.status.shape, dtype=bool))
    still = st.status == SANCTIONED
    for week in range(1, 60):
        sim.week = week
        sanctions.apply(sim)
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
    sim.new_sanctions = Subset.of(np.ones(st.status.shape, dtype=bool))
    sanctions.apply(sim)
    assert np.all(st.status == RECEIVING)
    legislation = s.legislation
    assert np.allclose(st.y_withheld, legislation.benefit.value * legislation.deduction_weeks.value)


def test_exit_to_work_hazard_rises_after_a_sanction_and_fades() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=1)
    st = sim.state
    e = sim.scenario.exits
    sim.week = 100
    sub = Subset.of(np.ones(st.status.shape, dtype=bool))
    base = exits.hazards(sim, sub)
    st.last_sanction[:] = sim.week
    fresh = exits.hazards(sim, sub)
    assert np.allclose(fresh[:, 0], np.minimum(base[:, 0] * (1 + e.post_effect.value), 1))
    assert np.allclose(fresh[:, 1:], base[:, 1:])
    st.last_sanction[:] = sim.week - e.post_effect_weeks.value
    assert np.allclose(exits.hazards(sim, sub), base)
    # While sanctioned, leaving to unknown is more likely.
    st.status[:] = SANCTIONED
    sanctioned = exits.hazards(sim, sub)
    assert np.allclose(sanctioned[:, 2], base[:, 2] * e.unknown_while_sanctioned.value)


def test_exit_rates_match_the_hazards() -> None:
    sim = simulation(small("municipality-a", scale=1.0), replications=20)
    st = sim.state
    sim.week = 0
    expected = (1.0 - st.exit_threshold.astype(np.float64)).mean()
    sim.streams.uniform_into(sim.uniform)
    exits.leave(sim)
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
    sim.week = 60
    before = st.client_id.copy()
    gone = np.zeros(st.status.shape, dtype=bool)
    gone[:, ::3] = True
    st.status[gone] = EXITED
    sim.exited = Subset.of(gone)  # as exits leave them
    inflow.refill(sim)
    assert np.all(st.status[gone] == RECEIVING)
    assert np.all(st.entry_week[gone] == sim.week)
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
        assert np.array_equal(sim.exited.flat, np.flatnonzero(last_week))


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
    cells = sim.tally.cells(sub.rows, sim.slot_municipality[sub.cols])
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
