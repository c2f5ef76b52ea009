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
from streetlevel.model.culture import OfficeCulture
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
        caseworker_strictness: (reps, C) each caseworker's own part of strictness in the
            sanction decision.
        caseworker_strictness_mean: (reps, M) the caseload-weighted mean of that part over
            each municipality's caseworkers: what the draw of caseworkers gave it.
        office_culture: (M,) the office's part of caseworker strictness
            (:mod:`streetlevel.model.culture`), shaped by the management strictness the
            country starts with: a culture, slower than the yearly moves of pressure.
        initial_strictness: (M,) management strictness before any pressure, to which it
            relaxes.
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
    caseworker_strictness_mean: npt.NDArray[np.float64]
    office_culture: npt.NDArray[np.float64]
    initial_strictness: npt.NDArray[np.float64]
    overloaded: npt.NDArray[np.bool_]
    p_timely: npt.NDArray[np.float32]
    strictness: npt.NDArray[np.float64]
    category_stock: npt.NDArray[np.float64] | None
    """(M, categories) cumulative stock shares of each municipality's mix, and ..."""
    category_inflow: npt.NDArray[np.float64] | None
    """... of its inflow; ``None`` where every municipality has the national mix."""
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
        culture: OfficeCulture,
        by_minority: bool = False,
    ) -> World:
        """The world of a batch of ``replications`` at the start of the run: every replication's
        management strictness the country's, and perceived risk ``initial_risk`` (per
        municipality); ``by_minority``: the tally keeps minority and majority clients' counts
        (:data:`streetlevel.model.tally.BY_MINORITY`)."""
        reps = len(replications)
        return cls(
            replication=np.array(replications, dtype=np.int64),
            slot_municipality=country.slot_municipality(),
            region=country.region,
            benefit_office_route=country.benefit_office_route,
            pressure_response=country.pressure_response,
            caseworkers=np.bincount(workforce.municipality, minlength=country.n_municipalities),
            caseworker_strictness=workforce.strictness,
            caseworker_strictness_mean=_municipal_mean(
                workforce.strictness, workforce.caseload, workforce.municipality, country
            ),
            office_culture=culture.at(country.management_strictness),
            initial_strictness=country.management_strictness.copy(),
            overloaded=workforce.overloaded,
            p_timely=workforce.p_timely,
            strictness=np.tile(country.management_strictness, (reps, 1)),
            category_stock=None,
            category_inflow=None,
            perceived_risk=np.tile(initial_risk, (reps, 1)).astype(np.float32),
            next_id=np.zeros(reps, dtype=np.int64),
            tally=Tally(reps, country.n_municipalities, categories, by_minority),
        )

    def mix_categories(
        self,
        country: Country,
        stock: npt.NDArray[np.float64],
        outflow_per_stock: npt.NDArray[np.float64],
    ) -> None:
        """Each municipality's cumulative category shares, for the stock and for the inflow
        (the national ``stock`` shares tilted by ``country.category_tilt``; the inflow in
        proportion to each category's outflow), again whenever the shares change."""
        if np.all(country.category_tilt == 1.0):
            self.category_stock = self.category_inflow = None
            return
        tilted = stock[None, :] * country.category_tilt
        out = tilted * outflow_per_stock[None, :]
        self.category_stock = np.cumsum(_normalised(tilted), axis=1)
        self.category_inflow = np.cumsum(_normalised(out), axis=1)

    @property
    def n_caseworkers(self) -> int:
        """Caseworkers per replication."""
        return int(self.p_timely.shape[1])


def _municipal_mean(
    values: npt.NDArray[np.float32],
    caseload: npt.NDArray[np.float64],
    municipality: npt.NDArray[np.int64],
    country: Country,
) -> npt.NDArray[np.float64]:
    """Per replication, each municipality's caseload-weighted mean of a caseworker value."""
    m = country.n_municipalities
    out = np.empty((values.shape[0], m))
    for r in range(values.shape[0]):
        total = np.bincount(municipality, weights=caseload[r] * values[r], minlength=m)
        out[r] = total / np.bincount(municipality, weights=caseload[r], minlength=m)
    return out


def _normalised(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows scaled to sum to 1 (a row of zeros stays zeros)."""
    total = rows.sum(axis=1, keepdims=True)
    out: npt.NDArray[np.float64] = np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)
    return out
