"""Closing a client-year: at an exit, or for everyone still on benefit at the end of a year.

A closed client-year adds to the municipality's tally (the national database's counts) and,
in reporting years, becomes one row of the ``client_years`` table.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streetlevel.model.codes import AGE_GROUPS, DESTINATIONS
from streetlevel.model.coefficients import Coefficients
from streetlevel.model.sink import RowLog
from streetlevel.model.state import ClientState, Subset
from streetlevel.model.tally import PROFILE, SANCTIONED_BIT, Cells
from streetlevel.model.world import World

__all__ = ["NO_EXIT", "close"]

NO_EXIT = -1


def close(
    state: ClientState,
    world: World,
    coef: Coefficients,
    log: RowLog | None,
    t: int,
    sub: Subset,
    destination: npt.NDArray[np.integer] | None = None,
    category: npt.NDArray[np.integer] | None = None,
) -> Cells:
    """Close the client-years of ``sub`` in week ``t``: at their exits (``destination``, an
    exit code each) or at the end of the year (``None``). ``category`` is theirs, when the
    caller has it. Returns their tally cells, for further counts.

    Reads: the clients' attributes and yearly counters (``state.y_*``), ``state.entry_week``,
    ``world.slot_municipality`` (and ``state.minority`` where the tally counts by minority).
    Writes: ``world.tally``; client-years to ``log``.
    """
    tally = world.tally
    rows = sub.rows
    muni = world.slot_municipality[sub.cols]
    cat = sub.take(state.category) if category is None else category
    sanctions = sub.take(state.y_sanctions)
    weeks_sanctioned = sub.take(state.y_weeks_sanctioned)
    weeks_in_year = t - sub.take(state.y_first_week) + 1
    withheld = weeks_sanctioned * coef.legislation_benefit + sub.take(state.y_withheld)
    sanctioned = sanctions > 0
    cells = tally.cells(rows, muni)  # once for the many counts below (profiled)
    tally.add_at("recipients", cells)
    # Flags as weights rather than selections: boolean indexing mispredicts on random masks.
    tally.add_at("sanctioned", cells, sanctioned)
    tally.add_at("repeat_sanctioned", cells, sanctions >= 2)
    tally.add_at("sanctions", cells, sanctions)
    tally.add_at("weeks_in_year", cells, weeks_in_year)
    tally.add_weeks_by_category_at(cells, cat, weeks_in_year)
    tally.add_at("weeks_sanctioned", cells, weeks_sanctioned)
    tally.add_at("weeks_offer", cells, sub.take(state.y_weeks_offer))
    tally.add_at("amount_withheld", cells, withheld)
    age_group, male = sub.take(state.age_group), sub.take(state.male)
    low_education = sub.take(state.low_education)
    tally.add_closings_at(cells, cat, _profile_code(age_group, male, low_education, sanctioned))
    if destination is not None:
        for code, name in enumerate(DESTINATIONS):
            tally.add_at(f"exits_{name}", cells, destination == code)
        # Who leaves after a sanction this year, and to where (NAO 2016: as often without
        # work).
        for name in ("work", "unknown"):
            gone = sanctioned & (destination == DESTINATIONS.index(name))
            tally.add_at(f"exits_{name}_sanctioned", cells, gone)
    if tally.by_minority:
        # Minority clients' client-years and exits to work, where placements are modelled: the
        # run's minority-majority gap in exits to work (docs/model.md 7.13).
        minority = sub.take(state.minority)
        tally.add_at("recipients_minority", cells, minority)
        if destination is not None:
            work = destination == DESTINATIONS.index("work")
            tally.add_at("exits_work_minority", cells, minority & work)
    if log is not None:
        entry = sub.take(state.entry_week)
        wpy = coef.weeks_per_year
        log.client_years(
            rows,
            client_id=sub.take(state.client_id),
            municipality=muni,
            category=cat,
            age_group=age_group,
            male=male,
            low_education=low_education,
            minority=sub.take(state.minority),
            problems=sub.take(state.problems),
            entered=entry >= t // wpy * wpy,
            weeks_on_benefit=t - entry + 1,
            weeks_in_year=weeks_in_year,
            sanctions=sanctions,
            weeks_sanctioned=weeks_sanctioned,
            absences=sub.take(state.y_absences),
            amount_withheld=withheld,
            exit=NO_EXIT if destination is None else destination,
        )
    return cells


def _profile_code(
    age_group: npt.NDArray[np.integer],
    male: npt.NDArray[np.bool_],
    low_education: npt.NDArray[np.bool_],
    sanctioned: npt.NDArray[np.bool_],
) -> npt.NDArray[np.intp]:
    """Each client-year's profile code (:data:`streetlevel.model.tally.PROFILE`)."""
    traits = (age_group == AGE_GROUPS.index("under 30"), male, low_education)
    assert len(traits) == len(PROFILE)
    code = sanctioned.astype(np.intp) << SANCTIONED_BIT
    for bit, has in enumerate(traits):
        code |= has.astype(np.intp) << bit
    return code
