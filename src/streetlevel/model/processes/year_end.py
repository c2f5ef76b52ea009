"""Step 10, the end of a year: indicators, rankings, pressure and learning (MODEL.md 7.3).

The national database computes each municipality's indicators; the regional authority ranks
its municipalities (a high sanction rate is "placed well"); management strictness moves
toward the rate of the municipalities ranked above,
``strictness += pressure_response x (mean rate above - own rate)``, clipped to [0, 1].
Clients update their perceived sanction risk to their municipality's sanctions per absence,
and hazards that depend on years on benefit are recomputed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streetlevel.model.indicators import (
    LONG_TERM_YEARS,
    municipality_year,
    rank_within_regions,
    sanction_rate,
)
from streetlevel.model.processes import attendance, client_years, exits
from streetlevel.model.state import EXITED, Subset

if TYPE_CHECKING:
    from streetlevel.model.engine import Simulation

__all__ = ["close_year"]


def close_year(sim: Simulation) -> None:
    """Close the year: client-years, indicators, ranking, pressure, perceived risk."""
    st, tally = sim.state, sim.tally
    alive = Subset.of(st.status != EXITED)
    cells = client_years.close(sim, alive)
    tally.add_at("stock_end", cells)
    weeks_on = sim.week - alive.take(st.entry_week) + 1
    for years in LONG_TERM_YEARS:
        # As weights, not a selection: a boolean selection of a million clients mispredicts.
        tally.add_at(f"long_term_{years}y", cells, weeks_on > years * sim.weeks_per_year)

    table = municipality_year(sim)
    sim.yearly.append(table)
    if sim.recording:
        assert sim.recorder is not None
        sim.recorder.flush_year(table)

    c = tally.counts
    rate = np.nan_to_num(sanction_rate(c["sanctioned"], c["weeks_in_year"], sim.weeks_per_year))
    pressure = sim.scenario.pressure
    if pressure.ranking_published.value and (
        sim.year >= sim.burn_in_years or pressure.during_burn_in.value
    ):
        _, above = rank_within_regions(rate, sim.country.region)
        step = sim.country.pressure_response[None, :] * (above - rate)
        np.clip(sim.strictness + step, 0.0, 1.0, out=sim.strictness)
    # Clients learn their municipality's record: sanctions per absence this year.
    observed = c["absences"] > 0
    sim.perceived_risk[observed] = (c["sanctions"][observed] / c["absences"][observed]).astype(
        np.float32
    )

    tally.reset()
    for name in ("y_sanctions", "y_absences", "y_weeks_sanctioned", "y_weeks_offer"):
        getattr(st, name)[:] = 0
    st.y_withheld[:] = 0.0
    st.y_first_week[:] = sim.week + 1
    attendance.refresh(sim)
    exits.refresh(sim)
