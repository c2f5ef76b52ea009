"""Step 1, inflow: new clients fill the slots that last week's exits left.

Also draws the initial stock, with each category's steady-state duration distribution so that
the run starts near the long-term shares of MODEL.md section 5 rather than with everyone new.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.processes import attendance, exits
from streetlevel.state import EXITED, NEVER, RECEIVING

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["populate", "refill"]

AGE_GROUPS = ("under 30", "30-49", "50+")
ATTRIBUTE_DRAWS = 7  # uniforms per new client: category, age, sex, education, minority,
# problems, and the first offer or meeting offset


def populate(sim: Simulation) -> None:
    """Fill every slot with the initial stock of clients."""
    st = sim.state
    _new_clients(sim, np.ones(st.status.shape, dtype=bool), initial=True)


def refill(sim: Simulation) -> None:
    """Replace last week's exits with new clients."""
    empty = sim.state.status == EXITED
    if empty.any():
        _new_clients(sim, empty, initial=False)


def _new_clients(sim: Simulation, mask: npt.NDArray[np.bool_], initial: bool) -> None:
    st, coef, s = sim.state, sim.coef, sim.scenario
    rows, cols = np.nonzero(mask)
    counts = mask.sum(axis=1)
    n = len(rows)
    u = sim.streams.uniform(counts * ATTRIBUTE_DRAWS).reshape(n, ATTRIBUTE_DRAWS)
    shares = coef.stock_share if initial else coef.inflow_share
    cat = np.minimum(np.searchsorted(np.cumsum(shares), u[:, 0], side="right"), len(shares) - 1)
    c = s.clients
    age = np.where(
        u[:, 1] < c.age_under_30.value, 0, np.where(u[:, 1] < 1 - c.age_50_plus.value, 1, 2)
    )
    idx = (rows, cols)
    st.category[idx] = cat
    st.age_group[idx] = age
    st.male[idx] = u[:, 2] < c.male.value
    st.low_education[idx] = u[:, 3] < c.low_education.value
    st.minority[idx] = u[:, 4] < c.minority.value
    st.problems[idx] = u[:, 5] < coef.problems_share[cat]
    st.motivation[idx] = sim.streams.normal(counts)
    offsets = sim.next_id[rows] + _rank_within(rows, counts)
    st.client_id[idx] = offsets
    sim.next_id += counts
    week = sim.week
    if initial:
        st.entry_week[idx] = week - _steady_state_durations(sim, cat, counts)
    else:
        st.entry_week[idx] = week
    st.status[idx] = RECEIVING
    st.y_first_week[idx] = week
    for name in ("y_sanctions", "y_absences", "y_weeks_sanctioned", "y_weeks_offer"):
        getattr(st, name)[idx] = 0
    st.y_withheld[idx] = 0.0
    st.sanctions_total[idx] = 0
    st.breaches_total[idx] = 0
    st.last_sanction[idx] = -NEVER
    st.recomply_week[idx] = NEVER
    st.meeting_late[idx] = False
    # The first meeting falls somewhere in the first interval.
    interval = s.meetings.interval.value
    st.next_meeting[idx] = week + (u[:, 6] * interval).astype(np.int32)
    _first_offer(sim, idx, cat, counts, initial)
    attendance.set_base_logit(sim, idx)
    attendance.refresh(sim, idx)
    exits.refresh(sim, idx)


def _first_offer(
    sim: Simulation,
    idx: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
    cat: npt.NDArray[np.intp],
    counts: npt.NDArray[np.intp],
    initial: bool,
) -> None:
    """Schedule each new client's first offer; part of the initial stock starts with one."""
    st, coef = sim.state, sim.coef
    week = sim.week
    start_p = coef.offer_start[cat]
    wait = sim.streams.geometric(np.where(start_p > 0, start_p, 1.0), counts) - 1
    length = sim.streams.geometric(np.full(len(cat), coef.offer_end), counts)
    start = np.where(start_p > 0, week + wait, NEVER)
    if initial:
        # In the steady state a client has an offer now with the activation degree's chance.
        active = sim.streams.uniform(counts) < coef.activation_degree[cat]
        start = np.where(active, week, start)
    st.offer_start[idx] = start
    st.offer_end[idx] = np.where(start_p > 0, start + length, NEVER)


def _steady_state_durations(
    sim: Simulation, cat: npt.NDArray[np.intp], counts: npt.NDArray[np.intp]
) -> npt.NDArray[np.int64]:
    """Weeks already on benefit, drawn from each category's steady-state stock distribution.

    In a steady state the stock holds a client d weeks into a spell in proportion to the
    survival S(d) of the spell to d weeks. Hazards change yearly for the first
    ``duration_decay_years`` years and are constant after, so the distribution is an explicit
    head (weeks 0 .. T-1, S computed) and a geometric tail (mass S(T) / h_T).
    """
    e = sim.scenario.exits
    wpy = sim.weeks_per_year
    head_weeks = e.duration_decay_years.value * wpy
    d = np.arange(head_weeks + 1)
    base = sim.coef.exit_rates.sum(axis=1)  # per category
    u = sim.streams.uniform(counts)
    elapsed = np.zeros(len(cat), dtype=np.int64)
    for k, h0 in enumerate(base):
        members = cat == k
        if h0 <= 0 or not members.any():
            continue  # no exits, no steady state: such clients start new
        h = h0 * exits.duration_factor(e, d // wpy)
        survival = np.concatenate([[1.0], np.cumprod(1.0 - h[:-1])])
        head = survival[:head_weeks]
        tail_mass = survival[head_weeks] / h[head_weeks]
        cum = np.cumsum(head) / (head.sum() + tail_mass)
        elapsed[members] = np.searchsorted(cum, u[members], side="right")
    # Clients drawn into the tail wait a further geometric number of weeks.
    in_tail = elapsed >= head_weeks
    p_tail = base[cat] * exits.duration_factor(e, e.duration_decay_years.value)
    extra = sim.streams.geometric(np.where(in_tail & (p_tail > 0), p_tail, 1.0), counts) - 1
    return np.where(in_tail, head_weeks + extra, elapsed)


def _rank_within(rows: npt.NDArray[np.intp], counts: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    """0, 1, 2, ... within each replication's block of ``rows`` (rows are sorted)."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.arange(len(rows), dtype=np.int64) - np.repeat(starts, counts)
