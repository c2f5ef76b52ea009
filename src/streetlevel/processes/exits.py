"""Step 8, exits: to work, to other support or education, and to unknown (MODEL.md 7.4).

Weekly hazards per category, falling by ``exits.duration_decay`` per year on benefit for the
first ``exits.duration_decay_years`` years, constant after. After a
sanction the exit-to-work hazard is multiplied by ``1 + post_effect x fade``, where ``fade``
falls linearly from 1 in the week of the sanction to 0 after ``post_effect_weeks`` (Svarer
2011). While sanctioned, the hazard of leaving to *unknown* is multiplied by
``unknown_while_sanctioned`` (the hardship CHM's caseworkers wonder about; NAO 2016).

Each week uses the same uniform as attendance: a client exits when it is at or above
``1 - hazard`` and is absent when it is below the absence probability. The two events are then
exclusive within a week, which is immaterial at weekly rates of a few percent (it would only
matter if the absence probability and the exit hazard summed to more than one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.processes import client_years
from streetlevel.processes.attendance import ALL, Index
from streetlevel.records import DESTINATIONS
from streetlevel.scenario import Exits
from streetlevel.state import EXITED, SANCTIONED

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["duration_factor", "hazards", "leave", "refresh"]


def duration_factor(e: Exits, years_on: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Multiplier of the exit hazards after ``years_on`` whole years on benefit."""
    years = np.minimum(years_on, e.duration_decay_years.value)
    return (1.0 - e.duration_decay.value) ** years  # type: ignore[no-any-return]


def _duration_factor(sim: Simulation, idx: Index) -> npt.NDArray[np.float64]:
    years_on = (sim.week - sim.state.entry_week[idx]) // sim.weeks_per_year
    return duration_factor(sim.scenario.exits, years_on)


def refresh(sim: Simulation, idx: Index = ALL) -> None:
    """Recompute the cached exit threshold (no recent sanction) of the clients at ``idx``."""
    st = sim.state
    total = sim.coef.exit_rates.sum(axis=1)[st.category[idx]]
    st.exit_threshold[idx] = 1.0 - total * _duration_factor(sim, idx)


def hazards(
    sim: Simulation, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]
) -> npt.NDArray[np.float64]:
    """This week's hazards (clients x [work, other, unknown]), sanction effects included."""
    st, e = sim.state, sim.scenario.exits
    idx = (rows, cols)
    h = sim.coef.exit_rates[st.category[idx]] * _duration_factor(sim, idx)[:, None]
    since = sim.week - st.last_sanction[idx].astype(np.int64)
    fade = np.clip(1.0 - since / e.post_effect_weeks.value, 0.0, 1.0)
    h[:, 0] *= 1.0 + e.post_effect.value * fade
    h[:, 2] *= np.where(st.status[idx] == SANCTIONED, e.unknown_while_sanctioned.value, 1.0)
    return np.clip(h, 0.0, 1.0)  # type: ignore[no-any-return]


def leave(sim: Simulation) -> None:
    """Exit clients, close their client-years and free their slots for next week's inflow."""
    st = sim.state
    u = sim.uniform
    leaving = u >= st.exit_threshold
    # Sanctioned and recently sanctioned clients have their own, changing, hazards.
    recent = st.last_sanction > sim.week - sim.scenario.exits.post_effect_weeks.value
    special = recent | (st.status == SANCTIONED)
    s_rows, s_cols = np.nonzero(special)
    if len(s_rows):
        total = hazards(sim, s_rows, s_cols).sum(axis=1)
        leaving[s_rows, s_cols] = u[s_rows, s_cols] >= 1.0 - np.minimum(total, 1.0)
    rows, cols = np.nonzero(leaving)
    if len(rows) == 0:
        return
    h = hazards(sim, rows, cols)
    counts = np.bincount(rows, minlength=st.status.shape[0])
    v = sim.streams.uniform(counts) * h.sum(axis=1)
    cum = np.cumsum(h, axis=1)
    destination = np.minimum((v[:, None] >= cum).sum(axis=1), len(DESTINATIONS) - 1)
    client_years.close(sim, rows, cols, destination)
    if sim.recording:
        sim.record_events("exit", rows, cols, destination=destination)
    st.status[rows, cols] = EXITED
