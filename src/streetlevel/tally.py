"""Yearly tallies per (replication x municipality), the raw material of the indicators.

Client-years add to the tally when they close (at exit, or at the end of the year); weekly
processes add the few counts that are not client attributes (meetings, breaches). At the end
of each year the tally becomes one row per municipality and is reset.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["BY_CATEGORY", "COUNTS", "PROFILE", "SANCTIONED_BIT", "Tally"]

COUNTS = (
    "recipients",
    "sanctioned",
    "repeat_sanctioned",
    "sanctions",
    "absences",
    "breaches",
    "weeks_in_year",
    "weeks_sanctioned",
    "weeks_offer",
    "amount_withheld",
    "exits_work",
    "exits_other",
    "exits_unknown",
    "exits_work_sanctioned",
    "exits_unknown_sanctioned",
    "stock_end",
    "long_term_5y",
    "long_term_10y",
    "meetings_timely",
    "meetings_late",
)
"""Counts per municipality and year."""

BY_CATEGORY = ("recipients", "sanctioned", "weeks_in_year")
"""Counts also kept per client category."""

PROFILE = ("young", "male", "low_education")
"""Traits whose shares among the sanctioned and among all recipients are compared (CHM: the
sanctioned are younger, more often men and less educated). A client-year's profile code has
bit ``i`` set for ``PROFILE[i]`` and bit ``len(PROFILE)`` when it was sanctioned."""
SANCTIONED_BIT = len(PROFILE)


class Tally:
    """Float64 counters of shape (replications, municipalities[, categories])."""

    def __init__(self, replications: int, municipalities: int, categories: int) -> None:
        self.shape = (replications, municipalities)
        self.categories = categories
        self.counts: dict[str, npt.NDArray[np.float64]] = {}
        self.by_category: dict[str, npt.NDArray[np.float64]] = {}
        self.by_profile = np.zeros(0)
        """Client-years per profile code (see :data:`PROFILE`), shape (..., 2 ** (traits + 1))."""
        self.reset()

    def reset(self) -> None:
        self.counts = {name: np.zeros(self.shape) for name in COUNTS}
        self.by_category = {name: np.zeros((*self.shape, self.categories)) for name in BY_CATEGORY}
        self.by_profile = np.zeros((*self.shape, 2 ** (SANCTIONED_BIT + 1)))

    def add_profile_at(self, key: npt.NDArray[np.intp], code: npt.NDArray[np.integer]) -> None:
        """Count client-years per profile code at flat cells from :meth:`key`: one pass for
        the six counts of :meth:`profile_counts`."""
        k = self.by_profile.shape[-1]
        counts = np.bincount(key * k + code, minlength=self.by_profile.size)
        self.by_profile += counts.reshape(self.by_profile.shape)

    def profile_counts(self) -> dict[str, npt.NDArray[np.float64]]:
        """``recipients_<trait>`` and ``sanctioned_<trait>`` per (replication, municipality)."""
        codes = np.arange(self.by_profile.shape[-1])
        sanctioned = (codes >> SANCTIONED_BIT) & 1 == 1
        out = {}
        for bit, trait in enumerate(PROFILE):
            has = (codes >> bit) & 1 == 1
            out[f"recipients_{trait}"] = self.by_profile[..., has].sum(axis=-1)
            out[f"sanctioned_{trait}"] = self.by_profile[..., has & sanctioned].sum(axis=-1)
        return out

    def key(
        self, rep: npt.NDArray[np.intp], municipality: npt.NDArray[np.integer]
    ) -> npt.NDArray[np.intp]:
        """The flat (rep, municipality) cells, computed once for many counts (:meth:`add_at`)."""
        return np.asarray(rep * self.shape[1] + municipality, dtype=np.intp)

    def add_at(
        self, name: str, key: npt.NDArray[np.intp], weights: npt.ArrayLike | None = None
    ) -> None:
        """Add ``weights`` (default 1 each) at flat cells from :meth:`key`."""
        reps, ms = self.shape
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.counts[name] += np.bincount(key, w, minlength=reps * ms).reshape(self.shape)

    def add_by_category_at(
        self,
        name: str,
        key: npt.NDArray[np.intp],
        category: npt.NDArray[np.integer],
        weights: npt.ArrayLike | None = None,
    ) -> None:
        """Add per category at flat cells from :meth:`key`."""
        reps, ms = self.shape
        k = self.categories
        flat = key * k + category
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        counts = np.bincount(flat, w, minlength=reps * ms * k)
        self.by_category[name] += counts.reshape((*self.shape, k))
