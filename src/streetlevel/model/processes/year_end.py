"""Step 10, the end of a year: indicators, rankings, pressure and learning (docs/model.md 7.12).

The national database computes each municipality's indicators; the regional authority ranks
its municipalities (a high sanction rate is "placed well"); management strictness moves
toward the rate of the municipalities ranked above, with the year's national signal, and back
toward its own starting norm (:func:`pressure_step`), clipped to [0, 1].
Clients update their perceived sanction risk to their municipality's sanctions per absence,
and hazards that depend on years on benefit are recomputed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from streetlevel.model.coefficients import Coefficients
from streetlevel.model.indicators import (
    LONG_TERM_YEARS,
    municipality_year,
    rank_within_regions,
    sanction_rate,
)
from streetlevel.model.processes import attendance, client_years, exits
from streetlevel.model.sink import RowLog
from streetlevel.model.state import EXITED, ClientState, Subset
from streetlevel.model.world import World

__all__ = ["close_year", "open_year", "pressure_step"]


def close_year(
    state: ClientState,
    world: World,
    coef: Coefficients,
    log: RowLog | None,
    t: int,
    calendar_year: int,
) -> dict[str, npt.NDArray[Any]]:
    """Step 10: close the year that ends with week ``t``: client-years, indicators, ranking,
    pressure, perceived risk. Returns the year's municipality indicators.

    Reads: the clients' attributes and yearly counters, ``state.status``,
    ``state.entry_week``, ``world.tally``, ``world.region``, ``world.pressure_response``,
    ``world.initial_strictness``.
    Writes: ``world.strictness`` (pressure), ``world.perceived_risk`` (learning),
    ``world.tally`` (closed, then reset), the yearly counters ``state.y_*`` (reset);
    client-years and the year's indicators to ``log``.
    """
    tally = world.tally
    wpy = coef.weeks_per_year
    alive = Subset.of(state.status != EXITED)
    cells = client_years.close(state, world, coef, log, t, alive)
    tally.add_at("stock_end", cells)
    weeks_on = t - alive.take(state.entry_week) + 1
    for years in LONG_TERM_YEARS:
        # As weights, not a selection: a boolean selection of a million clients mispredicts.
        tally.add_at(f"long_term_{years}y", cells, weeks_on > years * wpy)

    table = municipality_year(world, calendar_year, wpy)
    if log is not None:
        log.flush_year(table)

    c = tally.counts
    rate = np.nan_to_num(sanction_rate(c["sanctioned"], c["weeks_in_year"], wpy))
    if t // wpy >= coef.burn_in_years or coef.pressure_during_burn_in:
        np.clip(world.strictness + pressure_step(rate, world, coef), 0.0, 1.0, out=world.strictness)
    # Clients learn their municipality's record: sanctions per absence this year.
    observed = c["absences"] > 0
    world.perceived_risk[observed] = (c["sanctions"][observed] / c["absences"][observed]).astype(
        np.float32
    )

    tally.reset()
    for name in ("y_sanctions", "y_absences", "y_weeks_sanctioned", "y_weeks_offer"):
        getattr(state, name)[:] = 0
    state.y_withheld[:] = 0.0
    state.y_first_week[:] = t + 1
    return table


def pressure_step(
    rate: npt.NDArray[np.float64], world: World, coef: Coefficients
) -> npt.NDArray[np.float64]:
    """This year's change of management strictness, per (replication, municipality).

    ``response x (mean rate of those ranked above - own rate)`` where rankings are published
    (naming: only those below others feel it), plus the year's national and regional
    ``signal``, less ``relaxation x (strictness - starting strictness)``: without pressure a
    management drifts back to its own norm, so pressure tightens and its absence relaxes.
    """
    step = coef.pressure_signal - coef.pressure_relaxation * (
        world.strictness - world.initial_strictness[None, :]
    )
    if coef.pressure_ranking_published:
        _, above = rank_within_regions(rate, world.region)
        step = step + world.pressure_response[None, :] * (above - rate)
    return np.asarray(step, dtype=np.float64)


def open_year(state: ClientState, world: World, coef: Coefficients, t: int) -> None:
    """The rest of step 10, after :func:`close_year` in the same week ``t``: the cached
    absence probabilities and exit thresholds, for the coefficients of the year to come.

    Reads: ``state.absence_logit``, ``state.sanctions_total``, ``state.category``,
    ``state.entry_week``, ``world.perceived_risk``.
    Writes: ``state.p_absence``, ``state.exit_threshold``.
    """
    attendance.refresh(state, world, coef)
    exits.refresh(state, coef, t)
