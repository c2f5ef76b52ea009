"""Decision data: one row per client-year, the schema a benchmark reads, validated on load.

The engine's ``client_years.parquet`` follows this schema, and so must a user's own data
(CSV or Parquet) for ``streetlevel benchmark``. Every column is declared once, in
:data:`SCHEMA`, with its kind, whether it is required, and its allowed values or range;
:func:`read_decisions` checks a file against it and raises a :class:`DecisionDataError` that
names the row (1-based data row, and for CSV the file line) and the column of every bad value.
Nothing is dropped silently: a missing value in a required column, an unknown column, an empty
line in a CSV file are errors, not rows skipped.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "decisions.csv"
>>> _ = path.write_text(
...     "municipality,region,year,category,age_group,sex,education,minority,"
...     "weeks_on_benefit,weeks_in_year,sanctions\\n"
...     "Aarhus,Midtjylland,2011,match-1,under 30,male,low,false,60,52,1\\n"
...     "Aarhus,Midtjylland,2011,match-9,50+,female,low,false,10,10,0\\n")
>>> try:
...     read_decisions(path)
... except DecisionDataError as err:
...     print(str(err).removeprefix(f"{path}: "))  # doctest: +ELLIPSIS
row 2 (line 3), column 'category': 'match-9' is not an allowed value (allowed: match-1, ...)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from streetlevel.errors import StreetlevelError
from streetlevel.model.codes import AGE_GROUPS, DESTINATIONS
from streetlevel.scenario.tables import read_user_table

__all__ = [
    "SCHEMA",
    "Column",
    "DecisionDataError",
    "arrow_schema",
    "known_categories",
    "read_decisions",
    "required_columns",
    "validate_decisions",
]

Kind = Literal["text", "integer", "number", "flag", "choice"]

MAX_WEEKS_IN_YEAR = 53
"""An ISO calendar year has 52 or 53 weeks; the engine's years have 52."""
MAX_WHOLE = 2**53
"""The largest whole number a float holds exactly."""
MAX_REPORTED = 10
"""Problems listed in one error message; the rest are counted."""
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


class DecisionDataError(StreetlevelError):
    """A decision data file does not follow the schema (names the row and the column)."""


@dataclass(frozen=True)
class Column:
    """One column of the decision schema."""

    name: str
    kind: Kind
    required: bool
    description: str
    allowed: tuple[str, ...] = ()
    """Allowed values of a ``choice`` column (``category``: from the scenario or presets)."""
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    """An empty value has a meaning (``exit``: still on benefit at the year's end)."""


SCHEMA: tuple[Column, ...] = (
    Column("replication", "integer", False, "simulation replication (absent in real data: 0)",
           minimum=0),
    Column("year", "integer", True, "reporting (calendar) year"),
    Column("client_id", "integer", False, "client identifier; unique within a year",
           minimum=0),
    Column("municipality", "text", True, "the municipality responsible for the client"),
    Column("region", "text", True, "the region whose authority ranks the municipality"),
    Column("category", "choice", True, "match category (the scenario's category names)"),
    Column("age_group", "choice", True, "age at the year's end", allowed=AGE_GROUPS),
    Column("sex", "choice", True, "sex", allowed=("female", "male")),
    Column("education", "choice", True, "highest education", allowed=("higher", "low")),
    Column("minority", "flag", True, "minority (immigrant) background"),
    Column("problems", "flag", False, "problems besides unemployment (individual assessment)"),
    Column("entered", "flag", False, "the spell began in this year"),
    Column("weeks_on_benefit", "integer", True, "length of the spell so far, in weeks",
           minimum=1),
    Column("weeks_in_year", "integer", True, "weeks on the caseload in this year",
           minimum=1, maximum=MAX_WEEKS_IN_YEAR),
    Column("sanctions", "integer", True, "sanctions imposed in the year", minimum=0),
    Column("weeks_sanctioned", "integer", False, "weeks without benefit in the year",
           minimum=0, maximum=MAX_WEEKS_IN_YEAR),
    Column("absences", "integer", False, "absences from offers and meetings in the year",
           minimum=0),
    Column("amount_withheld", "number", False, "benefit withheld in the year (currency)",
           minimum=0),
    Column("exit", "choice", False, "where the client went, if the spell ended in the year "
           "(empty: still on benefit)", allowed=DESTINATIONS, nullable=True),
)  # fmt: skip
_BY_NAME = {c.name: c for c in SCHEMA}

_ARROW_TYPES = {
    "text": pa.dictionary(pa.int32(), pa.string()),
    "choice": pa.dictionary(pa.int16(), pa.string()),
    "integer": pa.int64(),
    "number": pa.float64(),
    "flag": pa.bool_(),
}


def required_columns() -> list[str]:
    """Names of the columns every decision file must have.

    >>> required_columns()[:3]
    ['year', 'municipality', 'region']
    """
    return [c.name for c in SCHEMA if c.required]


def arrow_schema(columns: Iterable[str] | None = None) -> pa.Schema:
    """The pyarrow schema of decision data (all columns, or those named, in schema order).

    >>> arrow_schema(["year", "exit"])
    year: int64 not null
    exit: dictionary<values=string, indices=int16, ordered=0>
    """
    wanted = None if columns is None else set(columns)
    return pa.schema(
        [
            pa.field(c.name, _ARROW_TYPES[c.kind], nullable=not c.required or c.nullable)
            for c in SCHEMA
            if wanted is None or c.name in wanted
        ]
    )


@cache
def known_categories() -> tuple[str, ...]:
    """Category names of the scenarios shipped with streetlevel, the default for user data
    (read once: the presets are package data)."""
    from streetlevel.scenario.loading import list_presets, load_scenario

    names: dict[str, None] = {}
    for preset in list_presets():
        for category in load_scenario(preset).categories:
            names[category.name] = None
    return tuple(names)


@dataclass
class _Problems:
    """Bad values found so far, as (row index, column, message)."""

    items: list[tuple[int, str, str]]

    def add(self, column: str, rows: np.ndarray, message: str, values: pd.Series | None) -> None:
        for i in np.asarray(rows)[: MAX_REPORTED + 1]:
            text = message
            if values is not None:
                text = f"{values.iloc[int(i)]!r} {message}"
            self.items.append((int(i), column, text))
        extra = len(rows) - MAX_REPORTED - 1
        if extra > 0:
            self.items.append((int(rows[-1]), column, f"... and {extra} more rows like this"))


def read_decisions(
    path: Path | str, categories: Sequence[str] | None = None, *, delimiter: str | None = None
) -> pd.DataFrame:
    """Read and validate a decision file (``.csv`` or ``.parquet``).

    Args:
        path: the file.
        categories: the allowed category names (default: those of the shipped presets).
        delimiter: the CSV delimiter (default: recognised from the header line, ``,`` or
            ``;`` or a tab; :func:`streetlevel.scenario.tables.read_user_table`).

    Returns:
        One row per client-year, columns in schema order, with canonical dtypes: categorical
        for text and choices, int64, float64 and bool.

    Raises:
        DecisionDataError: naming the file, and the row and column of each bad value.
    """
    table = read_user_table(path, DecisionDataError, delimiter=delimiter)
    lines: bool | Callable[[int], int] = table.line_of or False
    return validate_decisions(table.table, table.origin, categories, csv_lines=lines)


def validate_decisions(
    table: pa.Table | pd.DataFrame,
    source: str = "<data>",
    categories: Sequence[str] | None = None,
    *,
    csv_lines: bool | Callable[[int], int] = False,
) -> pd.DataFrame:
    """Check decision data against :data:`SCHEMA`; return it with canonical dtypes.

    Args:
        table: the data, with values of any type (text is parsed).
        source: the file name for messages.
        categories: allowed category names (default: those of the shipped presets).
        csv_lines: rows came from a CSV file with a header line (messages give the line
            too): ``True`` when row r is on line r + 2, or the function giving a row's line.

    Raises:
        DecisionDataError: for missing, duplicated or unknown columns, no rows, and every bad
            value (wrong type, unknown value, out of range, missing).
    """
    if isinstance(table, pa.Table):
        nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
        if nested:
            raise DecisionDataError(
                f"{source}: column(s) {', '.join(repr(n) for n in nested)}: lists or tables "
                "where single values belong"
            )
    frame = table.to_pandas() if isinstance(table, pa.Table) else table.reset_index(drop=True)
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DecisionDataError(f"{source}: duplicated columns: {', '.join(duplicated)}")
    missing = [n for n in required_columns() if n not in names]
    unknown = [n for n in names if n not in _BY_NAME]
    if missing or unknown:
        # Both in one message: an unknown column is often a missing one misspelt.
        parts = []
        if missing:
            parts.append(
                f"missing columns: {', '.join(repr(m) for m in missing)} "
                f"(required: {', '.join(required_columns())})"
            )
        if unknown:
            parts.append(
                f"unknown columns: {', '.join(repr(u) for u in unknown)} "
                f"(the schema has: {', '.join(_BY_NAME)})"
            )
        raise DecisionDataError(f"{source}: {'; '.join(parts)}")
    if len(frame) == 0:
        raise DecisionDataError(f"{source}: no data rows")
    allowed_categories = tuple(categories) if categories is not None else known_categories()
    problems = _Problems([])
    out: dict[str, pd.Series] = {}
    for column in SCHEMA:
        if column.name in frame.columns:
            allowed = allowed_categories if column.name == "category" else column.allowed
            try:
                out[column.name] = _convert(frame[column.name], column, allowed, problems)
            except (TypeError, ValueError) as err:
                # Values no file format gives (lists, objects) in a data frame built in code.
                raise DecisionDataError(
                    f"{source}: column {column.name!r}: values of an unsupported type ({err})"
                ) from None
    if not problems.items:
        _check_rows(out, problems)
    if problems.items:
        raise DecisionDataError(_message(source, problems, csv_lines))
    return pd.DataFrame(out)


def _convert(
    raw: pd.Series, column: Column, allowed: Sequence[str], problems: _Problems
) -> pd.Series:
    name = column.name
    absent = raw.isna().to_numpy()
    if absent.any() and not column.nullable:
        problems.add(name, np.flatnonzero(absent), "missing value", None)
    if column.kind in ("text", "choice"):
        return _convert_text(raw, column, allowed, absent, problems)
    if column.kind == "flag":
        return _convert_flag(raw, absent, problems, name)
    numbers = pd.to_numeric(raw, errors="coerce")
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    bad_type = np.isnan(values) & ~absent
    if column.kind == "integer":
        # Beyond 2**53 a whole number read through a float is no longer exact (and infinity
        # or 1e20 would wrap round in int64): no count, year or identifier here comes close,
        # so such a number is refused, and said to be too large only where it is.
        huge = np.isfinite(values) & (np.abs(values) > MAX_WHOLE)
        whole = np.isfinite(values) & (values == np.round(values)) & ~huge
        bad_type |= ~np.isnan(values) & ~whole & ~huge
        expected = "is not a whole number"
        if huge.any():
            problems.add(
                name, np.flatnonzero(huge), "is a whole number too large to hold exactly", raw
            )
    else:
        bad_type |= np.isinf(values)
        expected = "is not a number"
    if bad_type.any():
        problems.add(name, np.flatnonzero(bad_type), expected, raw)
    ok = ~np.isnan(values)
    if column.minimum is not None:
        low = np.flatnonzero(ok & (values < column.minimum))
        if len(low):
            problems.add(name, low, f"is below the minimum {column.minimum:g}", raw)
    if column.maximum is not None:
        high = np.flatnonzero(ok & (values > column.maximum))
        if len(high):
            problems.add(name, high, f"is above the maximum {column.maximum:g}", raw)
    if column.kind == "integer":
        # Bad values are already reported; they become 0 so the cast stays defined.
        clean = np.where(np.isfinite(values) & (np.abs(values) <= MAX_WHOLE), values, 0.0)
        return pd.Series(clean.astype(np.int64), name=name)
    return pd.Series(values, name=name)


def _convert_text(
    raw: pd.Series,
    column: Column,
    allowed: Sequence[str],
    absent: np.ndarray,
    problems: _Problems,
) -> pd.Series:
    cat = raw.astype("category")
    labels = [str(v).strip() for v in cat.cat.categories]
    codes = cat.cat.codes.to_numpy()
    # One entry per category and a last one for code -1 (a missing value), so that indexing
    # by the codes works even when every value is missing.
    blank = np.array([label == "" for label in labels] + [False], dtype=bool)
    if blank.any():
        problems.add(column.name, np.flatnonzero(blank[codes]), "is blank", raw)
    if column.kind == "choice":
        unknown = np.array([label not in allowed for label in labels] + [False], dtype=bool)
        bad = np.flatnonzero(unknown[codes] & ~blank[codes])
        if len(bad):
            problems.add(
                column.name, bad, f"is not an allowed value (allowed: {', '.join(allowed)})", raw
            )
        order = list(allowed)
    else:
        order = sorted(set(labels) - {""})
    # Bad values are already reported; they become null so the column keeps its categories.
    keep = np.array([label in order for label in labels] + [False], dtype=bool)
    strings = pd.Series(np.array([*labels, None], dtype=object)[codes], dtype=object)
    strings[~keep[codes]] = None
    return pd.Series(pd.Categorical(strings, categories=order), name=column.name)


def _convert_flag(raw: pd.Series, absent: np.ndarray, problems: _Problems, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return pd.Series(raw.fillna(False).to_numpy(dtype=bool), name=name)
    text = raw.astype("string").str.strip().str.lower()
    true = text.isin(TRUE_WORDS).to_numpy(dtype=bool, na_value=False)
    false = text.isin(FALSE_WORDS).to_numpy(dtype=bool, na_value=False)
    bad = np.flatnonzero(~true & ~false & ~absent)
    if len(bad):
        problems.add(
            name, bad, f"is not true or false (allowed: {', '.join(TRUE_WORDS + FALSE_WORDS)})", raw
        )
    return pd.Series(true, name=name)


def _check_rows(columns: dict[str, pd.Series], problems: _Problems) -> None:
    """Checks across columns, once every value is of the right type."""
    weeks = columns["weeks_in_year"].to_numpy()
    longer = np.flatnonzero(weeks > columns["weeks_on_benefit"].to_numpy())
    if len(longer):
        problems.add("weeks_in_year", longer, "exceeds weeks_on_benefit (the spell so far)", None)
    if "weeks_sanctioned" in columns:
        over = np.flatnonzero(columns["weeks_sanctioned"].to_numpy() > weeks)
        if len(over):
            problems.add("weeks_sanctioned", over, "exceeds weeks_in_year", None)
    regions = pd.DataFrame(
        {"m": columns["municipality"].astype(object), "r": columns["region"].astype(object)}
    )
    # A municipality's region is the one most of its rows give (ties: the first seen), so a
    # single mistyped row is the one named, even when it comes first.
    rows = regions.groupby(["m", "r"], sort=False).size()  # pairs in the order first seen
    usual = rows.sort_values(ascending=False, kind="stable").reset_index().drop_duplicates("m")
    expected = regions["m"].map(dict(zip(usual["m"], usual["r"], strict=True)))
    moved = np.flatnonzero((regions["r"] != expected).to_numpy())
    if len(moved):
        problems.add("region", moved, "differs from the region of the municipality's other rows",
                     columns["region"])  # fmt: skip
    if "client_id" in columns:
        keys = [c for c in ("replication", "year", "client_id") if c in columns]
        dup = pd.DataFrame({k: columns[k] for k in keys}).duplicated().to_numpy()
        if dup.any():
            problems.add("client_id", np.flatnonzero(dup), "appears twice in the same year",
                         columns["client_id"])  # fmt: skip


def _message(source: str, problems: _Problems, csv_lines: bool | Callable[[int], int]) -> str:
    items = sorted(problems.items)
    lines = []
    line_of = csv_lines if callable(csv_lines) else (lambda row: row + 2)
    for row, column, text in items[:MAX_REPORTED]:
        where = f"row {row + 1} (line {line_of(row)})" if csv_lines else f"row {row + 1}"
        lines.append(f"{source}: {where}, column {column!r}: {text}")
    if len(items) > MAX_REPORTED:
        lines.append(f"{source}: ... {len(items) - MAX_REPORTED} more problems not shown")
    return "\n".join(lines)
