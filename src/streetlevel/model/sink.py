"""Where the engine's rows go: the interface the output layer's recorder implements.

The model knows nothing of files: in reporting years it hands rows to a :class:`RecordSink`
(:class:`streetlevel.output.recorder.Recorder` writes them to Parquet), so the model sits
below the output layer and a test can collect rows in memory instead. The processes write
through a :class:`RowLog`, which stamps each row with its replication, calendar year and week.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from streetlevel.model.state import ClientState, Subset

__all__ = ["RecordSink", "RowLog"]


class RecordSink(Protocol):
    """Receives a batch's rows: events and closed client-years as they happen, and each
    reporting year's municipality indicators when the year closes."""

    def events(self, kind: str, **columns: npt.ArrayLike | int) -> None:
        """Events of one kind (a label of :data:`streetlevel.model.codes.EVENTS`)."""

    def client_years(self, **columns: npt.ArrayLike | int) -> None:
        """Closed client-years."""

    def flush_year(self, municipality_year: dict[str, npt.NDArray[Any]]) -> None:
        """The year's municipality indicators; the year's rows are complete."""


class RowLog:
    """The rows of the reporting weeks, on their way to a :class:`RecordSink`.

    The engine stamps it with the calendar year and the week of the year before each
    reporting week (:meth:`stamp`) and hands it to the processes, which receive ``None``
    instead in burn-in years: a process writes rows when its ``log`` is not ``None``.

    Args:
        sink: where the rows go.
        replication: the replication number of each row of the batch's arrays.
        slot_municipality: the municipality of each client slot.
    """

    def __init__(
        self,
        sink: RecordSink,
        replication: npt.NDArray[np.int64],
        slot_municipality: npt.NDArray[np.integer],
    ) -> None:
        self.sink = sink
        self.replication = replication
        self.slot_municipality = slot_municipality
        self.year = 0
        """The calendar year of the rows."""
        self.week = 0
        """The week of the year of the rows, from 1."""

    def stamp(self, year: int, week: int) -> None:
        """Stamp the coming rows with calendar ``year`` and ``week`` of the year (from 1)."""
        self.year, self.week = year, week

    def events(
        self,
        kind: str,
        sub: Subset,
        state: ClientState,
        *,
        municipality: npt.NDArray[np.integer] | None = None,
        caseworker: npt.NDArray[np.integer] | None = None,
        **codes: npt.NDArray[Any],
    ) -> None:
        """Events of one kind for the clients of ``sub``; their ``municipality`` and
        ``caseworker``, when the caller has gathered them already."""
        self.sink.events(
            kind,
            replication=self.replication[sub.rows],
            year=self.year,
            week=self.week,
            client_id=sub.take(state.client_id),
            municipality=self.slot_municipality[sub.cols] if municipality is None else municipality,
            caseworker=sub.take(state.caseworker) if caseworker is None else caseworker,
            **codes,
        )

    def client_years(self, rows: npt.NDArray[np.intp], **columns: npt.ArrayLike | int) -> None:
        """Closed client-years, of the batch's rows ``rows``."""
        self.sink.client_years(replication=self.replication[rows], year=self.year, **columns)

    def flush_year(self, municipality_year: dict[str, npt.NDArray[Any]]) -> None:
        """The year's municipality indicators; the year's rows are complete."""
        self.sink.flush_year(municipality_year)
