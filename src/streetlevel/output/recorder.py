"""The recorder: the run's rows buffered for one simulated year, then streamed to Parquet.

Rows are buffered for one simulated year, then written as a row group on a background
thread, so memory holds one year of one batch's rows. Each batch file is written to a hidden
``.<file>.partial`` and renamed only when complete, flushed to disk before its rename and its
directory after, so a run that is interrupted, even by a power loss, never leaves a file that
looks finished and is not (:mod:`streetlevel.output.parquet`).
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from streetlevel.model.codes import AGE_GROUPS, DESTINATIONS, EVENTS
from streetlevel.output.files import make_directory
from streetlevel.output.parquet import (
    EVENT_CODES,
    EVENT_COLUMNS,
    EVENT_FLAGS,
    TABLES,
    TableWriter,
    bools,
    dictionary,
    flags,
    required_table,
)

__all__ = ["Recorder"]


class Recorder:
    """Buffers rows for one year and streams them to the ``events``, ``client_years`` and
    ``municipality_years`` directories in ``out``, as the file ``part`` of each."""

    def __init__(
        self,
        out: Path,
        part: str,
        municipality_names: list[str],
        region_names: list[str],
        municipality_region: npt.NDArray[np.integer],
        category_names: list[str],
        municipality_codes: tuple[str | None, ...] = (),
    ) -> None:
        self.out = out
        self.municipalities = municipality_names
        # Official codes (a scenario's municipality table), written beside the names so that
        # municipality_years joins to published tables by code; none, no column.
        self.codes = sorted({c for c in municipality_codes if c is not None})
        self._code_of = np.array(
            [-1 if c is None else self.codes.index(c) for c in municipality_codes], np.int16
        )
        self.regions = region_names
        self.municipality_region = np.asarray(municipality_region)
        self.categories = category_names
        self._events: dict[str, list[npt.NDArray[Any]]] = defaultdict(list)
        self._client_years: dict[str, list[npt.NDArray[Any]]] = defaultdict(list)
        for name in TABLES:
            make_directory(out / f"{name}.parquet")
        self.writers = {name: TableWriter(out / f"{name}.parquet" / part) for name in TABLES}
        # Encoding and writing a year's rows runs on one background thread (pyarrow and
        # NumPy release the GIL), overlapping with the simulation of the next year; one
        # thread keeps the row groups in order.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streetlevel-writer")
        self._pending: Future[None] | None = None

    # -- buffering ---------------------------------------------------------------------------

    def events(self, kind: str, **columns: npt.ArrayLike | int) -> None:
        """Buffer events of one kind; scalars (year, week) are broadcast."""
        n = len(np.asarray(columns["client_id"]))
        if n == 0:
            return
        self._events["event"].append(np.full(n, EVENTS.index(kind), dtype=np.int16))
        # Each column in its table's type from the start: the year's concatenation is then
        # the only copy (casting after it copied every column again on the writer thread).
        for name, dtype in EVENT_COLUMNS.items():
            given = columns[name]
            self._events[name].append(
                np.full(n, given, dtype) if np.ndim(given) == 0 else np.asarray(given, dtype)
            )
        for name in EVENT_CODES:
            value = columns.get(name)
            self._events[name].append(
                np.full(n, -1, np.int16) if value is None else np.asarray(value, np.int16)
            )
        for name in EVENT_FLAGS:
            value = columns.get(name)
            self._events[name].append(
                np.full(n, -1, np.int8) if value is None else np.asarray(value, np.int8)
            )

    def client_years(self, **columns: npt.ArrayLike | int) -> None:
        """Buffer closed client-years; ``year`` is broadcast."""
        n = len(np.asarray(columns["client_id"]))
        for name, value in columns.items():
            self._client_years[name].append(np.broadcast_to(np.asarray(value), (n,)))

    # -- writing -----------------------------------------------------------------------------

    def flush_year(self, municipality_year: dict[str, npt.NDArray[Any]]) -> None:
        """Hand the buffered year to the writer thread (after the previous year is written)."""
        self._wait()
        events, self._events = self._events, defaultdict(list)
        client_years, self._client_years = self._client_years, defaultdict(list)
        self._pending = self._pool.submit(self._write_year, events, client_years, municipality_year)

    def _write_year(
        self,
        events: dict[str, list[npt.NDArray[Any]]],
        client_years: dict[str, list[npt.NDArray[Any]]],
        municipality_year: dict[str, npt.NDArray[Any]],
    ) -> None:
        if events:
            self.writers["events"].write(self._events_table_from(events))
        if client_years:
            self.writers["client_years"].write(self._client_years_table(client_years))
        self.writers["municipality_years"].write(self._municipality_table(municipality_year))

    def _wait(self) -> None:
        """Wait for the year being written; re-raise its error here, in the caller."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> dict[str, int]:
        """Finish writing, rename the tables into place; returns their row counts."""
        self._wait()
        self._pool.shutdown()
        empty = {
            "events": self._events_schema(),
            "client_years": None,
            "municipality_years": None,
        }
        # Every footer first, then the renames: when one table cannot be finished (a full
        # disk), none of them is left looking complete.
        for name, writer in self.writers.items():
            writer.finish(empty[name])
        for writer in self.writers.values():
            writer.commit()
        return {name: w.rows for name, w in self.writers.items()}

    def abort(self) -> None:
        """Remove partial tables after a failure: nothing half-written is left behind."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for writer in self.writers.values():
            writer.abort()

    def _events_schema(self) -> pa.Schema:
        empty: dict[str, list[npt.NDArray[Any]]] = {
            k: [np.empty(0, np.int16)] for k in ("event", *EVENT_CODES, *EVENT_FLAGS)
        }
        empty.update({k: [np.empty(0, dtype)] for k, dtype in EVENT_COLUMNS.items()})
        return self._events_table_from(empty).schema

    def _events_table_from(self, buf: dict[str, list[npt.NDArray[Any]]]) -> pa.Table:
        col = {k: np.concatenate(v) for k, v in buf.items()}
        flag_columns = {name: flags(col[name]) for name in EVENT_FLAGS}
        return required_table(
            {
                "replication": pa.array(col["replication"]),
                "year": pa.array(col["year"]),
                "week": pa.array(col["week"]),
                "client_id": pa.array(col["client_id"]),
                "municipality": dictionary(col["municipality"], self.municipalities),
                "caseworker": pa.array(col["caseworker"]),
                "event": dictionary(col["event"], EVENTS),
                **{name: dictionary(col[name], labels) for name, labels in EVENT_CODES.items()},
                **flag_columns,
            }
        )

    def _client_years_table(self, buf: dict[str, list[npt.NDArray[Any]]]) -> pa.Table:
        col = {k: np.concatenate(v) for k, v in buf.items()}
        muni = col["municipality"]
        return required_table(
            {
                "replication": pa.array(col["replication"].astype(np.int32, copy=False)),
                "year": pa.array(col["year"].astype(np.int16, copy=False)),
                "client_id": pa.array(col["client_id"].astype(np.int64, copy=False)),
                "municipality": dictionary(muni, self.municipalities),
                "region": dictionary(self.municipality_region[muni], self.regions),
                "category": dictionary(col["category"], self.categories),
                "age_group": dictionary(col["age_group"], AGE_GROUPS),
                "sex": dictionary(col["male"], ("female", "male")),
                "education": dictionary(col["low_education"], ("higher", "low")),
                "minority": bools(col["minority"]),
                "problems": bools(col["problems"]),
                "entered": bools(col["entered"]),
                "weeks_on_benefit": pa.array(col["weeks_on_benefit"].astype(np.int32, copy=False)),
                "weeks_in_year": pa.array(col["weeks_in_year"].astype(np.int16, copy=False)),
                "sanctions": pa.array(col["sanctions"].astype(np.int16, copy=False)),
                "weeks_sanctioned": pa.array(col["weeks_sanctioned"].astype(np.int16, copy=False)),
                "absences": pa.array(col["absences"].astype(np.int16, copy=False)),
                "amount_withheld": pa.array(col["amount_withheld"].astype(np.float64, copy=False)),
                "exit": dictionary(col["exit"], DESTINATIONS),
            }
        )

    def _municipality_table(self, cols: dict[str, npt.NDArray[Any]]) -> pa.Table:
        out: dict[str, pa.Array] = {}
        for name, values in cols.items():
            if name == "municipality":
                out[name] = dictionary(values, self.municipalities)
                if self.codes:
                    out["municipality_code"] = dictionary(self._code_of[values], self.codes)
            elif name == "region":
                out[name] = dictionary(values, self.regions)
            elif name == "absence_route":
                out[name] = dictionary(values, ("caseworker", "benefit_office"))
            else:
                out[name] = pa.array(values)
        return required_table(out)
