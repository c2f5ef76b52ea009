"""Closing a client-year: at an exit, or for everyone still on benefit at the end of a year.

A closed client-year adds to the municipality's tally (the national database's counts) and,
in reporting years, becomes one row of the ``client_years`` table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streetlevel.records import DESTINATIONS

if TYPE_CHECKING:
    from streetlevel.engine import Simulation

__all__ = ["NO_EXIT", "close"]

NO_EXIT = -1


def close(
    sim: Simulation,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    destination: npt.NDArray[np.integer],
) -> None:
    """Close the client-years at (rows, cols); ``destination`` is an exit code or ``NO_EXIT``."""
    st, tally = sim.state, sim.tally
    idx = (rows, cols)
    muni = sim.slot_municipality[cols]
    cat = st.category[idx]
    sanctions = st.y_sanctions[idx]
    weeks_sanctioned = st.y_weeks_sanctioned[idx]
    weeks_received = sim.week - st.y_first_week[idx] + 1
    withheld = weeks_sanctioned * sim.scenario.legislation.benefit.value + st.y_withheld[idx]
    sanctioned = sanctions > 0
    tally.add("recipients", rows, muni)
    tally.add_by_category("recipients", rows, muni, cat)
    tally.add("sanctioned", rows[sanctioned], muni[sanctioned])
    tally.add_by_category("sanctioned", rows[sanctioned], muni[sanctioned], cat[sanctioned])
    repeat = sanctions >= 2
    tally.add("repeat_sanctioned", rows[repeat], muni[repeat])
    tally.add("sanctions", rows, muni, sanctions)
    tally.add("weeks_received", rows, muni, weeks_received)
    tally.add("weeks_sanctioned", rows, muni, weeks_sanctioned)
    tally.add("weeks_offer", rows, muni, st.y_weeks_offer[idx])
    tally.add("amount_withheld", rows, muni, withheld)
    for code, name in enumerate(DESTINATIONS):
        gone = destination == code
        tally.add(f"exits_{name}", rows[gone], muni[gone])
    if sim.recording:
        assert sim.recorder is not None
        sim.recorder.client_years(
            replication=sim.replication_numbers[rows],
            year=sim.calendar_year,
            client_id=st.client_id[idx],
            municipality=muni,
            category=cat,
            age_group=st.age_group[idx],
            male=st.male[idx],
            low_education=st.low_education[idx],
            minority=st.minority[idx],
            problems=st.problems[idx],
            entered=st.entry_week[idx] >= sim.year * sim.weeks_per_year,
            weeks_on_benefit=sim.week - st.entry_week[idx] + 1,
            weeks_received=weeks_received,
            sanctions=sanctions,
            weeks_sanctioned=weeks_sanctioned,
            absences=st.y_absences[idx],
            amount_withheld=withheld,
            exit=destination,
        )
