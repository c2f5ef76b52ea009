"""The run's tables as Parquet: column encodings, and one batch file written row group by row
group under a hidden name (:class:`TableWriter`).

A run's table is a directory of Parquet files, one per batch of replications
(``events.parquet/replications-00000-00007.parquet``). Categorical columns are Parquet
dictionaries (readable as strings by pandas, DuckDB and polars); a column that does not apply
to an event is null.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from streetlevel.errors import output_error
from streetlevel.model.codes import DECIDERS, DESTINATIONS, OBLIGATIONS, OUTCOMES, ROUTES
from streetlevel.output.files import PARTIAL_SUFFIX, replace_durably

__all__ = [
    "EVENT_CODES",
    "EVENT_COLUMNS",
    "EVENT_FLAGS",
    "TABLES",
    "TableWriter",
    "bools",
    "dictionary",
    "flags",
    "part_name",
    "required_table",
]

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
    {
        "obligation",
        "route",
        "decider",
        "outcome",
        "destination",
        "legitimate",
        "documented",
        "exit",
        "municipality_code",
    }
)
"""The columns that hold nulls: the codes and flags that apply to some events only, the
client-years' exit (null for a client still on benefit at the year's end) and a municipality's
official code (null for one a scenario lists or draws without a code)."""


def part_name(first: int, count: int) -> str:
    """The file of a batch of ``count`` replications from ``first``, in each table directory."""
    return f"replications-{first:05d}-{first + count - 1:05d}.parquet"


EVENT_CODES = {
    "obligation": OBLIGATIONS,
    "route": ROUTES,
    "decider": DECIDERS,
    "outcome": OUTCOMES,
    "destination": DESTINATIONS,
}
EVENT_FLAGS = ("legitimate", "documented")
EVENT_COLUMNS: dict[str, type[np.integer[Any]]] = {
    "replication": np.int32,
    "year": np.int16,
    "week": np.int16,
    "client_id": np.int64,
    "municipality": np.int16,
    "caseworker": np.int32,
}
"""The events table's columns common to every kind, with their types in the table."""


def required_table(columns: dict[str, pa.Array]) -> pa.Table:
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


def bools(values: npt.NDArray[np.bool_]) -> pa.Array:
    """A boolean column with no nulls."""
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, _bitmap(values)])


def flags(codes: npt.NDArray[np.integer]) -> pa.Array:
    """A boolean column from codes 1 (true), 0 (false) and -1 (null)."""
    return pa.Array.from_buffers(pa.bool_(), len(codes), [_bitmap(codes >= 0), _bitmap(codes == 1)])


def dictionary(codes: npt.NDArray[np.integer], labels: Sequence[str]) -> pa.Array:
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


class TableWriter:
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
        """Rename the finished file into place, flushed to disk before its rename and its
        directory after (:func:`~streetlevel.output.files.replace_durably`): a batch the
        manifest lists is whole after a power loss. Once per file, after its footer: a
        year's row groups are not flushed one by one."""
        if self.writer is not None:
            try:
                replace_durably(self.partial, self.path)
            except OSError as err:
                raise output_error(self.path, err) from err

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
