"""The world the clients live in: municipalities and caseworkers as arrays, per replication.

What the weekly processes read besides the clients (:class:`~streetlevel.model.state.ClientState`)
and the coefficients: which municipality each slot belongs to, how each municipality is
organised, its caseworkers, and the municipal state that moves from year to year (management
strictness, perceived risk) with the year's tally. Drawn once per batch, with the country and
the workforce, from the scenario in force in the first simulated year; a dated value that
changes later changes the coefficients (:class:`~streetlevel.model.coefficients.Coefficients`),
not these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.model.caseworkers import Workforce
from streetlevel.model.country import Country
from streetlevel.model.tally import Tally

__all__ = ["World"]


@dataclass
class World:
    """Municipality and caseworker arrays of one batch; ``reps`` replications, ``M``
    municipalities, ``C`` caseworkers, one entry per slot where it says so.

    Fixed for the run:

    Attributes:
        replication: (reps,) the replication numbers, as the rows carry them.
        slot_municipality: (slots,) the municipality of each client slot.
        region: (M,) the region that ranks each municipality.
        benefit_office_route: (M,) whether an offer's absences go to the benefit office.
        pressure_response: (M,) how far management moves toward those ranked above.
        caseworkers: (M,) caseworkers per municipality.
        caseworker_strictness: (reps, C) each caseworker's strictness in the sanction decision.
        overloaded: (reps, C) whether the caseload is above the overload threshold.
        p_timely: (reps, C) the chance that a due meeting is held on time this week.

    Moved by the processes:

    Attributes:
        strictness: (reps, M) management strictness, moved by pressure at the year end.
        perceived_risk: (reps, M) clients' perceived sanction risk, learnt at the year end.
        next_id: (reps,) the next client id to hand out (inflow).
        tally: the year's counts per (replication, municipality), reset at the year end.
    """

    replication: npt.NDArray[np.int64]
    slot_municipality: npt.NDArray[np.int16]
    region: npt.NDArray[np.int64]
    benefit_office_route: npt.NDArray[np.bool_]
    pressure_response: npt.NDArray[np.float64]
    caseworkers: npt.NDArray[np.int64]
    caseworker_strictness: npt.NDArray[np.float32]
    overloaded: npt.NDArray[np.bool_]
    p_timely: npt.NDArray[np.float32]
    strictness: npt.NDArray[np.float64]
    perceived_risk: npt.NDArray[np.float32]
    next_id: npt.NDArray[np.int64]
    tally: Tally

    @classmethod
    def build(
        cls,
        country: Country,
        workforce: Workforce,
        replications: list[int],
        initial_risk: npt.NDArray[np.float64],
        categories: int,
    ) -> World:
        """The world of a batch of ``replications`` at the start of the run: every replication's
        management strictness the country's, and perceived risk ``initial_risk`` (per
        municipality)."""
        reps = len(replications)
        return cls(
            replication=np.array(replications, dtype=np.int64),
            slot_municipality=country.slot_municipality(),
            region=country.region,
            benefit_office_route=country.benefit_office_route,
            pressure_response=country.pressure_response,
            caseworkers=np.bincount(workforce.municipality, minlength=country.n_municipalities),
            caseworker_strictness=workforce.strictness,
            overloaded=workforce.overloaded,
            p_timely=workforce.p_timely,
            strictness=np.tile(country.management_strictness, (reps, 1)),
            perceived_risk=np.tile(initial_risk, (reps, 1)).astype(np.float32),
            next_id=np.zeros(reps, dtype=np.int64),
            tally=Tally(reps, country.n_municipalities, categories),
        )

    @property
    def n_caseworkers(self) -> int:
        """Caseworkers per replication."""
        return int(self.p_timely.shape[1])
