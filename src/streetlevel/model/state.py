"""Client state as a structure of arrays over (replication x client slot).

A slot holds one client spell at a time: when a client exits, the slot is refilled by a new
client the next week (inflow), so the arrays never grow and the stock stays at its target. Every
field is one NumPy array; a process reads and writes whole arrays or masked subsets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from streetlevel.model.kernels import flat_true

__all__ = ["EXITED", "NEVER", "RECEIVING", "SANCTIONED", "ClientState", "Subset"]

T = TypeVar("T", bound=np.generic)

RECEIVING = 0
SANCTIONED = 1
EXITED = 2
NEVER = np.iinfo(np.int32).max // 2
"""A week that never comes (far beyond any run), e.g. the next offer of a passive client."""


@dataclass
class ClientState:
    """All client arrays; shape (replications, slots) unless noted."""

    status: npt.NDArray[np.int8]
    client_id: npt.NDArray[np.int64]
    category: npt.NDArray[np.int8]
    age_group: npt.NDArray[np.int8]
    male: npt.NDArray[np.bool_]
    low_education: npt.NDArray[np.bool_]
    minority: npt.NDArray[np.bool_]
    problems: npt.NDArray[np.bool_]
    motivation: npt.NDArray[np.float32]
    caseworker: npt.NDArray[np.int32]
    entry_week: npt.NDArray[np.int32]
    offer_start: npt.NDArray[np.int32]
    offer_end: npt.NDArray[np.int32]
    next_meeting: npt.NDArray[np.int32]
    meeting_late: npt.NDArray[np.bool_]
    last_sanction: npt.NDArray[np.int32]
    recomply_week: npt.NDArray[np.int32]
    placement_until: npt.NDArray[np.int32]
    """The week until which an approved job placement raises the exit-to-work hazard
    (docs/model.md 7.13); 0, in the past, when there is none (reset when the client exits)."""
    sanctions_total: npt.NDArray[np.int16]
    breaches_total: npt.NDArray[np.int16]
    absence_logit: npt.NDArray[np.float32]
    """The fixed part of the absence log-odds (category and attributes), set at entry."""
    p_absence: npt.NDArray[np.float32]
    """Cached weekly absence probability; recomputed at entry, sanction and year end."""
    exit_threshold: npt.NDArray[np.float32]
    """Cached 1 - weekly exit hazard while receiving with no recent sanction: the client
    exits when this week's uniform is at or above it."""
    # Counters of the current calendar year, reset when the year's rows are written.
    y_first_week: npt.NDArray[np.int32]
    y_sanctions: npt.NDArray[np.int16]
    y_absences: npt.NDArray[np.int16]
    y_weeks_sanctioned: npt.NDArray[np.int16]
    y_weeks_offer: npt.NDArray[np.int16]
    y_withheld: npt.NDArray[np.float32]

    @classmethod
    def empty(cls, replications: int, slots: int) -> ClientState:
        shape = (replications, slots)
        arrays = {f.name: np.zeros(shape, dtype=_dtype(f.type)) for f in fields(cls)}
        return cls(**arrays)

    def nbytes(self) -> int:
        """Memory held by the state arrays."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))


def _dtype(annotation: object) -> type[np.generic]:
    text = str(annotation)
    for name in ("int8", "int16", "int32", "int64", "float32", "bool_"):
        if f"np.{name}" in text:
            return getattr(np, name)  # type: ignore[no-any-return]
    raise TypeError(f"no dtype in annotation {annotation!r}")


@dataclass(frozen=True)
class Subset:
    """Some clients of a batch: flat indices into the raveled (replications x slots) arrays.

    Flat indices are sorted, so each replication's clients form one block (``counts[r]`` long)
    and per-replication random draws line up with them. Gathering through flat indices is
    several times faster than through (row, column) pairs.
    """

    flat: npt.NDArray[np.intp]
    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    counts: npt.NDArray[np.intp]

    @classmethod
    def of(cls, mask: npt.NDArray[np.bool_]) -> Subset:
        """The clients where ``mask`` (replications x slots) is true."""
        return cls.at(flat_true(mask), mask.shape)

    @classmethod
    def at(cls, flat: npt.NDArray[np.intp], shape: tuple[int, ...]) -> Subset:
        """The clients at sorted flat indices into (replications x slots) arrays of ``shape``."""
        reps, slots = shape
        # The flat indices are sorted: each replication's block is found by bisection, and its
        # rows repeated, at a third of the time of an integer division of every index.
        counts = np.diff(np.searchsorted(flat, np.arange(reps + 1) * slots))
        rows = np.repeat(np.arange(reps, dtype=np.intp), counts)
        return cls(flat, rows, flat - rows * slots, counts)

    def select(self, keep: npt.NDArray[np.bool_]) -> Subset:
        """The clients of this subset where ``keep`` is true."""
        # Indices first, then three integer gathers: boolean indexing branches on every
        # element and mispredicts on random masks (8 times slower at half the clients kept).
        return self.pick(flat_true(keep))

    def pick(self, at: npt.NDArray[np.intp]) -> Subset:
        """The clients at positions ``at`` (sorted) of this subset."""
        rows = self.rows[at]
        counts = np.diff(np.searchsorted(rows, np.arange(len(self.counts) + 1)))
        return Subset(self.flat[at], rows, self.cols[at], counts)

    def __len__(self) -> int:
        return len(self.flat)

    def take(self, array: npt.NDArray[T]) -> npt.NDArray[T]:
        """The values of a (replications x slots) array at these clients."""
        return array.reshape(-1)[self.flat]

    def put(self, array: npt.NDArray[Any], values: npt.ArrayLike) -> None:
        """Set a (replications x slots) array at these clients."""
        array.reshape(-1)[self.flat] = values
