"""Users' data files: the one reader of the tables a user gives a command (``benchmark``,
``funnel``, ``survey --data``), CSV or Parquet.

It sits in the lowest layer so that ``analysis`` and ``survey``, which may not import each
other, read files the same way: the text through :func:`~.sources.read_user_text` (UTF-8, a
byte-order mark dropped, a non-UTF-8 byte named by its line), the delimiter recognised from the
header line (Danish spreadsheets write ``;``), every cell kept as text (empty cells null) for the
caller to check against its schema, and each data row's file line known (a quoted cell may hold
line breaks), so that a message names the row, the line and the column. :func:`check_columns`
names the missing columns beside the unknown ones, in one message.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "counts.csv"
>>> _ = path.write_text("municipality;sanctioned;recipients\\nAarhus;12;100\\n")
>>> table = read_user_table(path, StreetlevelError)
>>> table.delimiter, table.frame["sanctioned"].tolist(), table.where(0)
(';', ['12'], 'row 1 (line 2)')
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from streetlevel.errors import StreetlevelError
from streetlevel.scenario.sources import read_user_text

__all__ = [
    "DELIMITERS",
    "MAX_REPORTED",
    "CellProblems",
    "UserTable",
    "check_columns",
    "read_user_table",
    "sniff_delimiter",
]

DELIMITERS = (",", ";", "\t")
"""Delimiters recognised from the header line: comma, semicolon (what spreadsheets write where
the comma is the decimal sign, as in Danish), tab."""
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_REPORTED = 10
"""Problems listed in one error message; the rest are counted."""
UNCLOSED = " (a quote there that is never closed?)"


@dataclass(frozen=True)
class UserTable:
    """A user's table as read: every CSV cell as text (empty: null), Parquet as stored."""

    origin: str
    """The file as messages name it."""
    table: pa.Table
    delimiter: str | None = None
    """The CSV delimiter (None for Parquet)."""
    line_of: Callable[[int], int] | None = None
    """The file line on which data row ``r`` (0-based) starts; None for Parquet."""

    @property
    def frame(self) -> pd.DataFrame:
        """The table as a data frame (text columns as Python strings or None)."""
        return self.table.to_pandas()

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def where(self, row: int) -> str:
        """Where data row ``row`` (0-based) is: ``row 3 (line 4)``, or ``row 3`` in Parquet."""
        if self.line_of is None:
            return f"row {row + 1}"
        return f"row {row + 1} (line {self.line_of(row)})"


def sniff_delimiter(header: str) -> str:
    """The delimiter of a CSV file, from its header line: of :data:`DELIMITERS`, the one that
    splits it into the most fields (a comma when none splits it).

    >>> sniff_delimiter("a;b;c"), sniff_delimiter("a,b"), sniff_delimiter("name")
    (';', ',', ',')
    """
    best, fields = ",", 1
    for candidate in DELIMITERS:
        try:
            count = len(next(csv.reader([header], delimiter=candidate), []))
        except csv.Error:
            continue
        if count > fields:
            best, fields = candidate, count
    return best


def read_user_table(
    path: Path | str,
    error: type[StreetlevelError],
    *,
    delimiter: str | None = None,
    parquet: bool = True,
) -> UserTable:
    """Read a user's ``.csv`` (or ``.parquet``) file, every CSV cell as text.

    Args:
        path: the file.
        error: the error type to raise (the caller's, e.g. ``DecisionDataError``).
        delimiter: the CSV delimiter (default: recognised from the header line).
        parquet: whether a Parquet file is accepted.

    Raises:
        error: naming the file and, where it applies, the line: not a regular file, not UTF-8,
            empty, a row with more or fewer fields than the header, an unclosed quote.
    """
    path = Path(path)
    origin = str(path)
    suffix = path.suffix.lower()
    if parquet and suffix in PARQUET_SUFFIXES:
        # A run's table is a directory of Parquet files, one per batch of replications.
        if not (path.is_file() or path.is_dir()):
            raise error(f"{origin}: no such file")
        try:
            return UserTable(origin, pq.read_table(path))
        except (pa.ArrowException, OSError) as err:
            raise error(f"{origin}: cannot read as Parquet: {err}") from None
    if suffix != ".csv" and not (suffix in (".txt", ".tsv") and path.is_file()):
        wanted = "a .csv or .parquet file" if parquet else "a .csv file"
        if not path.is_file():
            raise error(f"{origin}: {'not a regular file' if path.exists() else 'no such file'}")
        raise error(f"{origin}: expected {wanted}")
    text = read_user_text(path, origin, error)
    return parse_csv(text, origin, error, delimiter=delimiter)


def parse_csv(
    text: str, origin: str, error: type[StreetlevelError], *, delimiter: str | None = None
) -> UserTable:
    """A CSV text as a :class:`UserTable` (see :func:`read_user_table`)."""
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise error(f"{origin}: empty file (expected a header line)")
    sep = delimiter or sniff_delimiter(first)
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep), None)
    except csv.Error as err:
        raise error(f"{origin}: line 1: {err}{UNCLOSED}") from None
    if not header:
        raise error(f"{origin}: empty file (expected a header line)")
    header = [name.strip() for name in header]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
            # Empty lines become rows (and then errors) rather than vanishing, so that no row
            # is skipped silently.
            parse_options=pa_csv.ParseOptions(delimiter=sep, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as err:
        problem = _shape_problem(text, len(header), sep)
        raise error(f"{origin}: {problem or err}") from None
    return UserTable(origin, table, sep, _record_lines(text, sep))


def _record_lines(text: str, sep: str) -> Callable[[int], int]:
    """The file line on which each data row starts, counted only when a message needs one."""
    starts: list[int] = []

    def line(row: int) -> int:
        if not starts:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
            start = 1
            for _ in reader:
                starts.append(start)
                start = reader.line_num + 1
        return starts[row + 1] if row + 1 < len(starts) else row + 2  # [0] is the header

    return line


def _shape_problem(text: str, fields: int, sep: str) -> str | None:
    """The first line whose number of fields differs from the header's (pyarrow's own
    message does not say where)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    start = 1
    try:
        for record in reader:
            if len(record) != fields and record:
                return f"line {start}: {len(record)} fields, expected {fields} (as in the header)"
            start = reader.line_num + 1
    except csv.Error as err:
        return f"line {start}: {err}{UNCLOSED}"
    return None


def check_columns(
    names: Sequence[str],
    required: Iterable[str],
    optional: Iterable[str],
    origin: str,
    error: type[StreetlevelError],
    *,
    unknown_allowed: bool = False,
    hint: str = "",
) -> None:
    """Raise ``error`` naming every missing column and, beside them, every unknown one (a
    column of another name is often the missing one misspelt), and any column given twice.

    >>> try:
    ...     check_columns(["unit", "obs"], ["unit", "observed"], [], "f.csv", StreetlevelError)
    ... except StreetlevelError as err:
    ...     print(err)
    f.csv: line 1: missing column(s) 'observed'; unknown column(s) 'obs' (expected: unit, observed)
    """
    required, optional = list(required), list(optional)
    known = [*required, *optional]
    twice = sorted({n for n in names if list(names).count(n) > 1})
    missing = [n for n in required if n not in names]
    unknown = [] if unknown_allowed else [n for n in names if n not in known]
    parts = []
    if twice:
        parts.append(f"column(s) given more than once: {', '.join(twice)}")
    if missing:
        parts.append(f"missing column(s) {', '.join(repr(n) for n in missing)}")
    if unknown:
        parts.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)}")
    if parts:
        expected = ", ".join(required) + (f"; optional: {', '.join(optional)}" if optional else "")
        raise error(f"{origin}: line 1: {'; '.join(parts)} (expected: {expected}){hint}")


@dataclass
class CellProblems:
    """Bad cells found so far, reported together: each by its row, line and column."""

    table: UserTable
    items: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, rows: Iterable[int | np.integer[Any]], column: str, message: str) -> None:
        """``message`` for each of ``rows`` (0-based) in ``column``."""
        for row in rows:
            self.items.append((int(row), column, message))

    def raise_if_any(self, error: type[StreetlevelError]) -> None:
        """Raise ``error`` listing up to :data:`MAX_REPORTED` problems, in row order."""
        if not self.items:
            return
        items = sorted(self.items, key=lambda item: (item[0], item[1]))
        origin = self.table.origin
        lines = [
            f"{origin}: {self.table.where(row)}, column {column!r}: {message}"
            for row, column, message in items[:MAX_REPORTED]
        ]
        if len(items) > MAX_REPORTED:
            lines.append(f"{origin}: ... {len(items) - MAX_REPORTED} more problems not shown")
        raise error("\n".join(lines))
