"""Where the engine's rows go: the interface the output layer's recorder implements.

The model knows nothing of files: in reporting years it hands rows to a :class:`RecordSink`
(:class:`streetlevel.output.recorder.Recorder` writes them to Parquet), so the model sits
below the output layer and a test can collect rows in memory instead.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy.typing as npt

__all__ = ["RecordSink"]


class RecordSink(Protocol):
    """Receives a batch's rows: events and closed client-years as they happen, and each
    reporting year's municipality indicators when the year closes."""

    def events(self, kind: str, **columns: npt.ArrayLike | int) -> None:
        """Events of one kind (a label of :data:`streetlevel.model.codes.EVENTS`)."""

    def client_years(self, **columns: npt.ArrayLike | int) -> None:
        """Closed client-years."""

    def flush_year(self, municipality_year: dict[str, npt.NDArray[Any]]) -> None:
        """The year's municipality indicators; the year's rows are complete."""
