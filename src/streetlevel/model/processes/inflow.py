"""Step 1, inflow: new clients fill the slots that last week's exits left.

Also draws the initial stock, with each category's steady-state duration distribution so that
the run starts near the long-term shares of docs/model.md section 5 rather than with everyone new.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streetlevel.model.coefficients import Coefficients, survival_of
from streetlevel.model.kernels import flat_true
from streetlevel.model.processes import attendance, exits
from streetlevel.model.scratch import Scratch
from streetlevel.model.state import NEVER, RECEIVING, ClientState, Subset
from streetlevel.model.streams import Streams
from streetlevel.model.world import World

__all__ = ["populate", "refill"]

ATTRIBUTE_DRAWS = 7  # uniforms per new client: category, age, sex, education, minority,
# problems, and the first offer or meeting offset


def populate(
    state: ClientState, world: World, coef: Coefficients, streams: Streams, t: int
) -> None:
    """Fill every slot with the initial stock of clients, in week ``t`` (the first).

    Writes: every client field (``state.*``; a slot's caseworker stays), ``world.next_id``.
    Draws: the clients' attributes, offers and durations so far (main streams).
    """
    everyone = Subset.of(np.ones(state.status.shape, dtype=bool))
    _new_clients(state, world, coef, streams, t, everyone, initial=True)


def refill(
    state: ClientState,
    world: World,
    scratch: Scratch,
    coef: Coefficients,
    streams: Streams,
    t: int,
) -> None:
    """Step 1: replace last week's exits (``scratch.exited``) with new clients.

    Reads: ``scratch.exited``, ``world.perceived_risk``, ``world.slot_municipality``.
    Writes: every client field (``state.*``; a slot's caseworker stays) at the exited slots,
    ``world.next_id``.
    Draws: the new clients' attributes and first offers (main streams).
    """
    # The slots as exits found them, rather than a scan of every status (2 % of a week).
    empty = scratch.exited
    if len(empty):
        _new_clients(state, world, coef, streams, t, empty, initial=False)


def _new_clients(
    st: ClientState,
    world: World,
    coef: Coefficients,
    streams: Streams,
    week: int,
    sub: Subset,
    initial: bool,
) -> None:
    n = len(sub)
    u = streams.uniform(sub.counts * ATTRIBUTE_DRAWS).reshape(n, ATTRIBUTE_DRAWS)
    mix = world.category_stock if initial else world.category_inflow
    if mix is None:
        shares = coef.stock_share if initial else coef.inflow_share
        cat = _category(np.cumsum(shares), u[:, 0])
    else:
        # Each municipality's own mix: the category is the number of its cumulative shares
        # that the draw reaches (the last for a draw at the total, as in _category).
        edges = mix[world.slot_municipality[sub.cols], :-1]
        cat = (u[:, 0, None] >= edges).sum(axis=1).astype(np.intp)
    age = np.where(
        u[:, 1] < coef.clients_age_under_30,
        0,
        np.where(u[:, 1] < 1 - coef.clients_age_50_plus, 1, 2),
    ).astype(np.int8)
    male = u[:, 2] < coef.clients_male
    low_education = u[:, 3] < coef.clients_low_education
    minority = u[:, 4] < coef.clients_minority
    if coef.by_attributes >= 0:
        # The 2014 reform's education-ready group: every client under 30 without education.
        cat = np.where((age == 0) & low_education, coef.by_attributes, cat)
    problems = u[:, 5] < coef.problems_share[cat]
    sub.put(st.category, cat)
    sub.put(st.age_group, age)
    sub.put(st.male, male)
    sub.put(st.low_education, low_education)
    sub.put(st.minority, minority)
    sub.put(st.problems, problems)
    # The first meeting falls somewhere in the first interval.
    interval = coef.meetings_interval
    sub.put(st.next_meeting, week + (u[:, 6] * interval).astype(np.int32))
    # Freed before the draws below: 64 bytes per client of the initial stock's peak memory.
    del u, minority
    # The cached values below are computed from the values in hand, in the types the state
    # holds them in (float32 motivation), so they are those that gathering them back gives.
    motivation = streams.normal(sub.counts).astype(np.float32)
    sub.put(st.motivation, motivation)
    sub.put(st.client_id, world.next_id[sub.rows] + _rank_within(sub))
    world.next_id += sub.counts
    entry = week - _steady_state_durations(coef, streams, cat, sub.counts) if initial else week
    sub.put(st.entry_week, entry)
    sub.put(st.status, RECEIVING)
    sub.put(st.y_first_week, week)
    for name in ("y_sanctions", "y_absences", "y_weeks_sanctioned", "y_weeks_offer"):
        sub.put(getattr(st, name), 0)
    sub.put(st.y_withheld, 0.0)
    sub.put(st.sanctions_total, 0)
    sub.put(st.breaches_total, 0)
    sub.put(st.last_sanction, -NEVER)
    sub.put(st.recomply_week, NEVER)
    sub.put(st.meeting_late, False)
    _first_offer(st, coef, streams, week, sub, cat, initial)
    logit = attendance.base_logit(coef, cat, age, male, low_education, problems, motivation)
    sub.put(st.absence_logit, logit)
    del age, male, low_education, problems, motivation
    p_absence = attendance.probability(world, coef, sub, logit.astype(np.float32), None)
    sub.put(st.p_absence, p_absence)
    del logit, p_absence
    sub.put(st.exit_threshold, exits.threshold(coef, week, cat, entry))


def _first_offer(
    st: ClientState,
    coef: Coefficients,
    streams: Streams,
    week: int,
    sub: Subset,
    cat: npt.NDArray[np.intp],
    initial: bool,
) -> None:
    """Schedule each new client's first offer; part of the initial stock starts with one."""
    start_p = coef.offer_start[cat]
    wait = streams.geometric(np.where(start_p > 0, start_p, 1.0), sub.counts) - 1
    length = streams.geometric_fixed(coef.offer_end, sub.counts)
    start = np.where(start_p > 0, week + wait, NEVER)
    if initial:
        # In the steady state a client has an offer now with the activation degree's chance.
        active = streams.uniform(sub.counts) < coef.activation_degree[cat]
        start = np.where(active, week, start)
    sub.put(st.offer_start, start)
    sub.put(st.offer_end, np.where(start_p > 0, start + length, NEVER))


def _steady_state_durations(
    coef: Coefficients,
    streams: Streams,
    cat: npt.NDArray[np.intp],
    counts: npt.NDArray[np.intp],
) -> npt.NDArray[np.int64]:
    """Weeks already on benefit, drawn from each category's steady-state stock distribution.

    In a steady state the stock holds a client d weeks into a spell in proportion to the
    chance S(d) that a spell lasts d weeks (:func:`~streetlevel.model.coefficients.spell_survival`):
    an explicit head for the weeks in which hazards still change, then a geometric tail.
    """
    wpy = coef.weeks_per_year
    decay, decay_years = coef.exits_duration_decay, coef.exits_duration_decay_years
    head_weeks = decay_years * wpy
    base = coef.exit_rates.sum(axis=1)  # per category
    u = streams.uniform(counts)
    elapsed = np.zeros(len(cat), dtype=np.int64)
    tail_hazard = np.ones(len(base))
    for k, h0 in enumerate(base):
        # Positions, not a boolean selection: a category's members are a random tenth to
        # half of the stock, where boolean indexing mispredicts on every client.
        members = flat_true(cat == k)
        if h0 <= 0 or len(members) == 0:
            continue  # no exits, no steady state: such clients start new
        spell = survival_of(float(h0), decay, decay_years, wpy)
        tail_hazard[k] = spell.tail_hazard
        cum = np.cumsum(spell.head) / spell.expected_weeks
        elapsed[members] = np.searchsorted(cum, u[members], side="right")
    # Clients drawn into the tail wait a further geometric number of weeks.
    in_tail = (elapsed >= head_weeks) & (base[cat] > 0)
    extra = streams.geometric(np.where(in_tail, tail_hazard[cat], 1.0), counts) - 1
    # With a vanishing hazard the draw can exceed any week the arrays hold; such a client has
    # been on benefit "forever" (NEVER weeks), which keeps week arithmetic inside int32.
    elapsed = np.minimum(np.where(in_tail, head_weeks + extra, elapsed), NEVER)
    return np.asarray(elapsed, dtype=np.int64)


def _category(
    cumulative: npt.NDArray[np.float64], u: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The category of each uniform draw: the number of cumulative shares it reaches (the last
    category for a draw at or beyond the total, which rounding can leave below one).

    ``np.searchsorted(cumulative, u, side="right")``, clipped to the last category, gives the
    same; a binary search per draw mispredicts its branches, while a comparison per category
    is vectorised (a tenth of the time for a few categories).
    """
    cat = np.zeros(len(u), dtype=np.intp)
    for edge in cumulative[:-1]:
        cat += u >= edge
    return cat


def _rank_within(sub: Subset) -> npt.NDArray[np.int64]:
    """0, 1, 2, ... within each replication's block of the subset."""
    starts = np.concatenate([[0], np.cumsum(sub.counts)[:-1]])
    ranks: npt.NDArray[np.int64] = np.arange(len(sub), dtype=np.int64)
    return ranks - np.repeat(starts, sub.counts).astype(np.int64)
