"""Caseworkers: how many each municipality has, their caseloads, and their strictness.

The number of caseworkers is a property of the country (real recipients / clients per
caseworker); which clients each one has, and how strict each one is, are drawn per replication.
Caseloads are computed at the real scale, so a run with ``client_scale = 0.1`` has the same
caseloads (and the same overload and timeliness) as the full country.

Attitudes and roles come from the one-factor model of :mod:`streetlevel.model.attitudes`; the
sanction decision uses the latent restrictiveness ``F`` (standard normal) as the caseworker's
own part of strictness, scaled by ``caseworkers.strictness_sd * sqrt(1 - culture_share)``
(the office's part is :mod:`streetlevel.model.culture`'s), so the same caseworker model drives
discretion in sanctions (docs/model.md 7.8) and job placements (7.13).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.model.attitudes import AttitudeArrays, draw_attitudes
from streetlevel.model.coefficients import logistic
from streetlevel.model.country import Country
from streetlevel.model.culture import individual_scale
from streetlevel.model.streams import Streams
from streetlevel.scenario.schema import Meetings, Scenario

__all__ = ["Workforce", "timeliness"]


@dataclass(frozen=True)
class Workforce:
    """Caseworker arrays: ``municipality`` per caseworker; the rest (replications x caseworkers)."""

    municipality: npt.NDArray[np.int64]
    caseload: npt.NDArray[np.float64]
    strictness: npt.NDArray[np.float32]
    overloaded: npt.NDArray[np.bool_]
    p_timely: npt.NDArray[np.float32]
    """Chance that a due meeting is held on time this week."""
    attitudes: AttitudeArrays

    @property
    def n_caseworkers(self) -> int:
        return len(self.municipality)

    @classmethod
    def draw(
        cls, scenario: Scenario, country: Country, streams: Streams
    ) -> tuple[Workforce, npt.NDArray[np.int32]]:
        """Draw caseworkers and assign every client slot to one; returns (workforce, slot map)."""
        per_m = np.maximum(1, np.rint(country.recipients / country.clients_per_caseworker))
        per_m = per_m.astype(np.int64)
        municipality = np.repeat(np.arange(country.n_municipalities), per_m)
        first = np.concatenate([[0], np.cumsum(per_m)[:-1]])
        n_cw = len(municipality)
        reps = len(streams.replications)
        counts = np.full(reps, n_cw, dtype=np.intp)
        weights = streams.lognormal(scenario.caseworkers.caseload_dispersion.value, counts)
        weights = weights.reshape(reps, n_cw)
        # Normalise weights within each municipality; the real caseload is that share of the
        # municipality's real recipients.
        totals = np.add.reduceat(weights, first, axis=1)
        share = weights / np.repeat(totals, per_m, axis=1)
        caseload = share * country.recipients[municipality]
        # Assign slots: a slot in municipality m picks caseworker c with probability share[c].
        # Shares sum to one within each municipality, so the running sum over all caseworkers
        # passes m + 1 exactly at the end of municipality m: one search serves them all.
        slot_m = country.slot_municipality().astype(np.int64)
        u = streams.uniform(np.full(reps, country.n_slots, dtype=np.intp)).reshape(reps, -1)
        last = first + per_m - 1
        slot_cw = np.empty((reps, country.n_slots), dtype=np.int32)
        for r in range(reps):
            idx = np.searchsorted(np.cumsum(share[r]), slot_m + u[r], side="right")
            # Clip guards rounding in the running sum at a municipality's edges.
            slot_cw[r] = np.clip(idx, first[slot_m], last[slot_m])
        attitudes = draw_attitudes(scenario, n_cw, streams)
        # The caseworker's own part of latent strictness; the office's culture, the same for
        # every replication, is a municipality's (world.office_culture), added where the
        # decision is made.
        strictness = (attitudes.factor * individual_scale(scenario.caseworkers)).astype(np.float32)
        p_timely = timeliness(scenario.meetings, caseload)
        overloaded = caseload > scenario.caseworkers.overload_threshold.value
        workforce = cls(municipality, caseload, strictness, overloaded, p_timely, attitudes)
        return workforce, slot_cw


def timeliness(meetings: Meetings, caseload: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The chance that a due meeting is held on time this week, for each ``caseload`` (real
    clients per caseworker); computed again when ``meetings`` changes with a dated value."""
    p = logistic(
        meetings.timely_intercept.value + meetings.timely_per_100_clients.value * caseload / 100.0
    )
    return p.astype(np.float32)
