"""Records: the run's tables, streamed to Parquet one year at a time, written atomically.

A run's table is a directory of Parquet files, one per batch of replications
(``events.parquet/replications-00000-00007.parquet``), so batches simulated in separate
processes write their own files and a whole run is never held in memory. Each file is written
to ``<file>.partial`` and renamed only when complete, so a run that is interrupted never
leaves a file that looks finished. Rows are buffered for one simulated year, then written as
a row group, so memory holds one year of one batch's rows.

Categorical columns are Parquet dictionaries (readable as strings by pandas, DuckDB and
polars); a column that does not apply to an event is null.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from streetlevel.errors import output_error

__all__ = [
    "AGE_GROUPS",
    "DECIDERS",
    "DESTINATIONS",
    "EVENTS",
    "OBLIGATIONS",
    "OUTCOMES",
    "PARTIAL_SUFFIX",
    "ROUTES",
    "TABLES",
    "Recorder",
    "part_name",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_table_atomic",
    "write_text_atomic",
]

EVENTS = ("absence", "sanction", "recompliance", "exit", "placement")
"""Event kinds; an absence row also carries the decision made on it (route, decider,
outcome), and a placement row (a job-placement proposal, MODEL.md 7.2) the caseworker's
decision (outcome ``approved`` or ``overruled``)."""
OBLIGATIONS = ("offer", "meeting")
ROUTES = ("caseworker", "benefit_office")
"""The municipality's absence route: CHM Figure 1 (``caseworker``) or Figure 2."""
DECIDERS = ("caseworker", "benefit_office")
OUTCOMES = ("sanction", "no_sanction", "reason_accepted", "approved", "overruled")
DESTINATIONS = ("work", "other", "unknown")
AGE_GROUPS = ("under 30", "30-49", "50+")
PARTIAL_SUFFIX = ".partial"
TABLES = ("events", "client_years", "municipality_years")
"""The tables a run streams, one directory ``<table>.parquet`` of batch files each."""

# Parquet's own dictionary pages only help columns with few distinct values; building one for
# client or caseworker ids costs a hash of every value and is then abandoned. Nor do they help
# the long runs of replication, year and week, or small counts, which compress as well plain
# at half the time (measured per column on a national year: docs/performance.md). Statistics
# are kept for the columns readers filter on (replication, year): computing min/max for every
# column was a third of the writing time of a national run.
_NO_PARQUET_DICTIONARY = (
    "replication",
    "year",
    "week",
    "client_id",
    "caseworker",
    "weeks_on_benefit",
    "sanctions",
    "weeks_sanctioned",
    "absences",
    "amount_withheld",
)
_STATISTICS = ["replication", "year"]
# Ids and durations as Parquet's DELTA_BINARY_PACKED rather than plain: 40 % of the time and
# smaller files (client ids 43 instead of 106 ms and 12.6 instead of 14.2 MB for 5 million
# events; caseworkers 25 instead of 64 ms, 4.1 instead of 6.5 MB). Every Parquet reader
# (pyarrow, DuckDB, polars, Spark) decodes it; BYTE_STREAM_SPLIT, faster again, is not read
# for integers by readers older than 2024. Their packed deltas do not compress (zstd leaves
# them the same size), so they are not compressed: 8 % of the tables' encoding time.
_DELTA = ("client_id", "caseworker", "weeks_on_benefit")
_NULLABLE = frozenset(
    {"obligation", "route", "decider", "outcome", "destination", "legitimate", "documented", "exit"}
)
"""The columns that hold nulls: the codes and flags that apply to some events only, and the
client-years' exit (null for a client still on benefit at the year's end)."""


def part_name(first: int, count: int) -> str:
    """The file of a batch of ``count`` replications from ``first``, in each table directory."""
    return f"replications-{first:05d}-{first + count - 1:05d}.parquet"


_EVENT_CODES = {
    "obligation": OBLIGATIONS,
    "route": ROUTES,
    "decider": DECIDERS,
    "outcome": OUTCOMES,
    "destination": DESTINATIONS,
}
_EVENT_FLAGS = ("legitimate", "documented")
_EVENT_COLUMNS: dict[str, type[np.integer[Any]]] = {
    "replication": np.int32,
    "year": np.int16,
    "week": np.int16,
    "client_id": np.int64,
    "municipality": np.int16,
    "caseworker": np.int32,
}
"""The events table's columns common to every kind, with their types in the table."""


def _table(columns: dict[str, pa.Array]) -> pa.Table:
    """A table whose columns are Parquet ``required`` unless they are in :data:`_NULLABLE`.

    A required column has no definition levels: the writer neither computes nor encodes one
    per value (12 % of the encoding time of a national batch's tables).
    """
    fields = []
    for name, array in columns.items():
        nullable = name in _NULLABLE
        assert nullable or array.null_count == 0, f"null in the required column {name}"
        fields.append(pa.field(name, array.type, nullable=nullable))
    return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))


def _bitmap(bits: npt.NDArray[np.bool_]) -> pa.Buffer:
    """Arrow's bit-packed form of a boolean array (validity or values), packed by NumPy:
    pyarrow's ``mask=`` and boolean conversions go element by element, 15-20 times slower
    (60 against 3 ms for 16 million flags; a tenth of a national batch's table building)."""
    return pa.py_buffer(np.packbits(bits, bitorder="little"))


def _bools(values: npt.NDArray[np.bool_]) -> pa.Array:
    """A boolean column with no nulls."""
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, _bitmap(values)])


def _flags(codes: npt.NDArray[np.integer]) -> pa.Array:
    """A boolean column from codes 1 (true), 0 (false) and -1 (null)."""
    return pa.Array.from_buffers(pa.bool_(), len(codes), [_bitmap(codes >= 0), _bitmap(codes == 1)])


def _dictionary(codes: npt.NDArray[np.integer], labels: Sequence[str]) -> pa.Array:
    """A dictionary-encoded string column; negative codes are null."""
    codes = np.ascontiguousarray(codes, dtype=np.int16)
    nulls = len(codes) > 0 and codes.min() < 0
    bitmap = _bitmap(codes >= 0) if nulls else None
    indices = pa.Array.from_buffers(pa.int16(), len(codes), [bitmap, pa.py_buffer(codes)])
    # The codes are the engine's, within the labels (the tables' tests read every label back),
    # so pyarrow's check of every index against the dictionary is skipped.
    return pa.DictionaryArray.from_arrays(
        indices, pa.array(list(labels), type=pa.string()), safe=False
    )


class _TableWriter:
    """One Parquet file written row group by row group under a hidden partial name, renamed
    into place by ``commit`` once every table's ``finish`` has written its footer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Hidden until complete: readers of a table directory (pyarrow, pandas, DuckDB's
        # *.parquet) skip names starting with a dot, so never see a half-written file.
        self.partial = path.with_name("." + path.name + PARTIAL_SUFFIX)
        self.writer: pq.ParquetWriter | None = None
        self.sink: pa.NativeFile | None = None
        self.rows = 0

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter:
        # The file is opened here, not by the Parquet writer, so that abort can close it even
        # when the footer cannot be written: a removed file's space is freed only when closed.
        self.sink = pa.OSFile(str(self.partial), "wb")
        return _parquet_writer(self.sink, schema)

    def write(self, table: pa.Table) -> None:
        try:
            if self.writer is None:
                self.writer = self._open(table.schema)
            self.writer.write_table(table)
        except OSError as err:
            raise output_error(self.path, err) from err
        self.rows += table.num_rows

    def finish(self, empty_schema: pa.Schema | None = None) -> None:
        """Write the footer; with nothing written, an empty file of ``empty_schema``
        (or no file without one)."""
        try:
            if self.writer is None:
                if empty_schema is None:
                    return
                self.writer = self._open(empty_schema)
            self.writer.close()
            assert self.sink is not None
            self.sink.close()
        except OSError as err:
            raise output_error(self.path, err) from err

    def commit(self) -> None:
        """Rename the finished file into place."""
        if self.writer is not None:
            os.replace(self.partial, self.path)

    def abort(self) -> None:
        if self.writer is not None:
            # On a full disk the footer cannot be written either: the file goes anyway.
            with contextlib.suppress(OSError):
                self.writer.close()
        if self.sink is not None:
            self.sink.close()
        self.partial.unlink(missing_ok=True)


def _parquet_writer(where: pa.NativeFile, schema: pa.Schema) -> pq.ParquetWriter:
    dictionary = [name for name in schema.names if name not in _NO_PARQUET_DICTIONARY]
    statistics = [name for name in _STATISTICS if name in schema.names]
    return pq.ParquetWriter(
        where,
        schema,
        compression={name: "none" if name in _DELTA else "zstd" for name in schema.names},
        use_dictionary=dictionary,
        write_statistics=statistics,
        column_encoding={name: "DELTA_BINARY_PACKED" for name in _DELTA if name in schema.names},
    )


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
    ) -> None:
        self.out = out
        self.municipalities = municipality_names
        self.regions = region_names
        self.municipality_region = np.asarray(municipality_region)
        self.categories = category_names
        self._events: dict[str, list[npt.NDArray[Any]]] = defaultdict(list)
        self._client_years: dict[str, list[npt.NDArray[Any]]] = defaultdict(list)
        for name in TABLES:
            (out / f"{name}.parquet").mkdir(parents=True, exist_ok=True)
        self.writers = {name: _TableWriter(out / f"{name}.parquet" / part) for name in TABLES}
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
        for name, dtype in _EVENT_COLUMNS.items():
            given = columns[name]
            self._events[name].append(
                np.full(n, given, dtype) if np.ndim(given) == 0 else np.asarray(given, dtype)
            )
        for name in _EVENT_CODES:
            value = columns.get(name)
            self._events[name].append(
                np.full(n, -1, np.int16) if value is None else np.asarray(value, np.int16)
            )
        for name in _EVENT_FLAGS:
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
            k: [np.empty(0, np.int16)] for k in ("event", *_EVENT_CODES, *_EVENT_FLAGS)
        }
        empty.update({k: [np.empty(0, dtype)] for k, dtype in _EVENT_COLUMNS.items()})
        return self._events_table_from(empty).schema

    def _events_table_from(self, buf: dict[str, list[npt.NDArray[Any]]]) -> pa.Table:
        col = {k: np.concatenate(v) for k, v in buf.items()}
        flags = {name: _flags(col[name]) for name in _EVENT_FLAGS}
        return _table(
            {
                "replication": pa.array(col["replication"]),
                "year": pa.array(col["year"]),
                "week": pa.array(col["week"]),
                "client_id": pa.array(col["client_id"]),
                "municipality": _dictionary(col["municipality"], self.municipalities),
                "caseworker": pa.array(col["caseworker"]),
                "event": _dictionary(col["event"], EVENTS),
                **{name: _dictionary(col[name], labels) for name, labels in _EVENT_CODES.items()},
                **flags,
            }
        )

    def _client_years_table(self, buf: dict[str, list[npt.NDArray[Any]]]) -> pa.Table:
        col = {k: np.concatenate(v) for k, v in buf.items()}
        muni = col["municipality"]
        return _table(
            {
                "replication": pa.array(col["replication"].astype(np.int32, copy=False)),
                "year": pa.array(col["year"].astype(np.int16, copy=False)),
                "client_id": pa.array(col["client_id"].astype(np.int64, copy=False)),
                "municipality": _dictionary(muni, self.municipalities),
                "region": _dictionary(self.municipality_region[muni], self.regions),
                "category": _dictionary(col["category"], self.categories),
                "age_group": _dictionary(col["age_group"], AGE_GROUPS),
                "sex": _dictionary(col["male"], ("female", "male")),
                "education": _dictionary(col["low_education"], ("higher", "low")),
                "minority": _bools(col["minority"]),
                "problems": _bools(col["problems"]),
                "entered": _bools(col["entered"]),
                "weeks_on_benefit": pa.array(col["weeks_on_benefit"].astype(np.int32, copy=False)),
                "weeks_in_year": pa.array(col["weeks_in_year"].astype(np.int16, copy=False)),
                "sanctions": pa.array(col["sanctions"].astype(np.int16, copy=False)),
                "weeks_sanctioned": pa.array(col["weeks_sanctioned"].astype(np.int16, copy=False)),
                "absences": pa.array(col["absences"].astype(np.int16, copy=False)),
                "amount_withheld": pa.array(col["amount_withheld"].astype(np.float64, copy=False)),
                "exit": _dictionary(col["exit"], DESTINATIONS),
            }
        )

    def _municipality_table(self, cols: dict[str, npt.NDArray[Any]]) -> pa.Table:
        out: dict[str, pa.Array] = {}
        for name, values in cols.items():
            if name == "municipality":
                out[name] = _dictionary(values, self.municipalities)
            elif name == "region":
                out[name] = _dictionary(values, self.regions)
            elif name == "absence_route":
                out[name] = _dictionary(values, ("caseworker", "benefit_office"))
            else:
                out[name] = pa.array(values)
        return _table(out)


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temporary name, then rename it into place.

    Raises:
        OutputError: the file cannot be written (:class:`DiskFullError` on a full disk);
            nothing is left under either name.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        # Closed here even when writing fails, so that the space it took is freed at once.
        with pa.OSFile(str(partial), "wb") as sink:
            pq.write_table(table, sink, compression="zstd")
        # On disk before the rename, as write_bytes_atomic does: after a power loss the name
        # holds the whole file or the old one (these files are small; batch files are not
        # flushed, and a resumed run rewrites any batch the manifest does not list).
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise output_error(path, err) from err


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name, flush them to disk, then rename into place.

    Raises:
        OutputError: the file cannot be written (:class:`DiskFullError` on a full disk); a
            file already at ``path`` is left as it was.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise output_error(path, err) from err


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    """Write JSON atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(json.dumps(data, indent=2, sort_keys=True) + "\n", path)
