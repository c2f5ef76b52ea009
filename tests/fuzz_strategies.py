"""Hypothesis strategies for tests/test_fuzz.py: damaged copies of the files streetlevel ships.

Every strategy draws a :class:`Mutant`: the bytes of a file a user might hand streetlevel (a
preset, the example experiment, the example decision data or survey, changed in one place) and,
where the damage has a place, the key path or the (row, column) that an error must name.
:data:`COUNTS` records per front door how many cases loaded and how many were refused; the
``pytest_terminal_summary`` hook of ``tests/conftest.py`` prints it.
"""

from __future__ import annotations

import csv
import io
import math
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
from hypothesis import strategies as st

from streetlevel.analysis.microdata import validate_decisions
from streetlevel.scenario.loading import list_presets, preset_text

COUNTS: dict[str, Counter[str]] = {}
"""Per front door: cases that ``loaded`` and cases that were ``refused`` with the project's
error."""

SURPLUS_KEY = "surplus_key"
"""An unknown key added to a table (no schema has it)."""

# Values that do not belong where a parameter's value, unit or a whole table stands: wrong
# types, numbers written as text, NaN and infinities, negative and huge numbers (beyond a
# 64-bit integer and near the largest float), empty containers.
BAD_VALUES: tuple[Any, ...] = (
    "text",
    "0.5",
    "",
    True,
    False,
    [],
    [1, 2],
    {},
    {"value": 1},
    math.nan,
    math.inf,
    -math.inf,
    -1,
    -1.5,
    0,
    10**30,
    -(10**30),
    2**63,
    1e308,
    -1e308,
    5e-324,
)
UNITS = (
    "share",
    "per week",
    "log-odds",
    "ratio",
    "weeks",
    "years",
    "people",
    "DKK per week",
    "EUR per month",
    "percent",
    "",
)
"""Units of other parameters and units no parameter has ("EUR per month", "percent")."""
BOM = b"\xef\xbb\xbf"
NOT_UTF8 = (b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80abc")
"""Invalid UTF-8: a byte never used, truncated sequences, an encoded surrogate, a stray
continuation byte."""
MAX_DEPTH = 3000
"""Nesting beyond Python's default recursion limit (1000)."""


@dataclass(frozen=True)
class Mutant:
    """A damaged file: its bytes, what was done, and where (None: the damage has no place)."""

    content: bytes
    kind: str
    where: str | None = None
    row: int | None = None
    """1-based data row of a damaged cell (tables)."""
    column: str | None = None


def count(door: str, outcome: str) -> None:
    COUNTS.setdefault(door, Counter())[outcome] += 1


# -- TOML files: scenarios and experiments ----------------------------------------------------


def key_path(parts: tuple[str | int, ...]) -> str:
    """A path as streetlevel's messages write it: ``categories[1].exit_work.value``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key and list entry below ``node``."""
    out: list[tuple[str | int, ...]] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _parent(data: Any, path: tuple[str | int, ...]) -> Any:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


@st.composite
def toml_mutant(draw: st.DrawFn, original: dict[str, Any], text: str) -> Mutant:
    """One change to a parsed TOML file (written back with tomli_w), or damage to its text."""
    kind = draw(
        st.sampled_from(
            (
                "delete",
                "unknown",
                "replace",
                "number",
                "number",
                "unit",
                "swap",
                "truncate",
                "bytes",
                "bom",
                "deep",
            )
        )
    )
    encoded = text.encode("utf-8")
    if kind == "truncate":
        cut = draw(st.integers(0, len(encoded) - 1))
        return Mutant(encoded[:cut], kind)
    if kind == "bytes":
        at = draw(st.integers(0, len(encoded)))
        junk = draw(st.sampled_from(NOT_UTF8) | st.binary(min_size=1, max_size=8))
        return Mutant(encoded[:at] + junk + encoded[at:], kind)
    if kind == "bom":
        return Mutant(BOM + encoded, kind)
    if kind == "deep":
        depth = draw(st.integers(1, MAX_DEPTH))
        opener, closer = draw(st.sampled_from((("[", "]"), ("{a = ", "}"))))
        line = f"{SURPLUS_KEY} = {opener * depth}1{closer * depth}\n"
        return Mutant(line.encode("utf-8") + encoded, kind, SURPLUS_KEY)
    data = _copy(original)
    paths = _paths(data)
    if kind == "unit":
        paths = [p for p in paths if p[-1] == "unit"]
    elif kind == "number":
        paths = [p for p in paths if p[-1] == "value" and _number(_at(data, p))]
    elif kind == "unknown":
        paths = [p for p in paths if isinstance(_at(data, p), dict)] + [()]
    elif kind == "swap":
        paths = [p for p in paths if isinstance(_at(data, p), dict | list)]
    if not paths:
        return Mutant(encoded, "unchanged")
    path = draw(st.sampled_from(paths))
    if kind == "unknown":
        _at(data, path)[SURPLUS_KEY] = draw(st.sampled_from(BAD_VALUES))
        where = key_path((*path, SURPLUS_KEY))
    else:
        parent = _parent(data, path)
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "replace":
            parent[path[-1]] = draw(st.sampled_from(BAD_VALUES))
        elif kind == "number":
            parent[path[-1]] = draw(NUMBERS)
        elif kind == "unit":
            parent[path[-1]] = draw(st.sampled_from(UNITS))
        else:
            node = parent[path[-1]]
            parent[path[-1]] = (node[0] if node else {}) if isinstance(node, list) else [node]
        where = key_path(path)
    return Mutant(tomli_w.dumps(data).encode("utf-8"), kind, where)


NUMBERS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.sampled_from((0, 0.0, 1, 1.0, 2, 1e-9))
)
"""Any number where a parameter's number stands: in range, out of range, NaN and infinities,
integers beyond 64 bits."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    node = data
    for part in path:
        node = node[part]
    return node


@cache
def preset_data(name: str) -> tuple[dict[str, Any], str]:
    text = preset_text(name)
    return tomllib.loads(text), text


@st.composite
def scenario_mutant(draw: st.DrawFn) -> Mutant:
    """A preset changed in one place."""
    data, text = preset_data(draw(st.sampled_from(list_presets())))
    return draw(toml_mutant(data, text))


# -- experiment files --------------------------------------------------------------------------

BAD_KEYS = (
    "no_such_section.value",
    "time.no_such_key",
    "time",
    "categories[99].absence",
    "categories[-1].absence",
    "categories[x].absence",
    "municipalities[*",
    "[*].absence_route",
    "municipalities[*][*].absence_route",
    "municipalities[*].no_such_key",
    "regions[*].municipalities[*]",
    "scenario..name",
    ".",
    "time.weeks_per_year.value.deeper",
    "decision.caseworker",
    "synthetic.rural.unit",
    "categories[99].absence[*]",
    "municipalities[x][*].name",
    "scenario.name[*]",
    "time..weeks_per_year",
    "time.weeks_per_year[x]",
)
"""Key paths that name nothing in a scenario, or name it badly."""
BAD_DESIGNS: tuple[dict[str, Any], ...] = (
    {"kind": "latin_hypercube"},
    {"kind": "sobol", "samples": 3},
    {"kind": "morris", "samples": 2, "grid_levels": 3},
    {"kind": "full_factorial", "samples": 4},
    {"kind": "full_factorial", "uncertainty_samples": 4},
    {"kind": "sobol", "samples": 0},
    {"kind": "random"},
    {"kind": "latin_hypercube", "samples": 2, "uncertainty_samples": 2},
)


@cache
def experiment_data() -> tuple[dict[str, Any], str]:
    path = resources.files("streetlevel") / "experiments" / "route-norm-pressure.toml"
    text = path.read_text(encoding="utf-8")
    return tomllib.loads(text), text


@st.composite
def experiment_mutant(draw: st.DrawFn) -> Mutant:
    """The example experiment changed in one place: anywhere, as for a scenario, or in what
    an experiment alone has (key paths of levers, levels, designs, constants)."""
    original, text = experiment_data()
    kind = draw(
        st.sampled_from(("generic", "key", "levels", "label", "design", "constant", "scenario"))
    )
    if kind == "generic":
        return draw(toml_mutant(original, text))
    data = _copy(original)
    if kind == "key":
        i = draw(st.integers(0, len(data["levers"]) - 1))
        lever = data["levers"][i]
        bad = draw(st.sampled_from(BAD_KEYS))
        if "levels" in lever:
            label = draw(st.sampled_from(sorted(lever["levels"])))
            lever["levels"][label] = {bad: draw(st.sampled_from((0.5, "caseworker", True)))}
            where = f"levers[{i}].levels.{label}"
        else:
            lever["key"] = bad
            where = f"levers[{i}]"
    elif kind == "levels":
        i = draw(st.integers(0, len(data["levers"]) - 1))
        data["levers"][i].pop("values", None)
        data["levers"][i].pop("key", None)
        data["levers"][i]["levels"] = draw(
            st.sampled_from(({}, {"a": {}}, {"a": 1}, {"a": {"time": {"burn_in_years": -1}}}))
        )
        where = f"levers[{i}]"
    elif kind == "label":
        levels = data["levers"][0]["levels"]
        label = draw(st.sampled_from(sorted(levels)))
        new = draw(st.sampled_from(("", " ", "a.b", "x" * 300, "é", "as_2011")) | st.text())
        levels[new] = levels.pop(label)
        where = "levers[0].levels"
    elif kind == "design":
        data["design"] = dict(draw(st.sampled_from(BAD_DESIGNS)))
        where = "design"
    elif kind == "constant":
        key = draw(
            st.sampled_from(
                (
                    "scale.client_scale",
                    "time.reporting_years",
                    "time.weeks_per_year",
                    "regions[0].municipalities",
                    "municipalities[*].management_strictness",
                    *BAD_KEYS,
                )
            )
        )
        value = draw(st.sampled_from((*BAD_VALUES, 0.01, 1, 2, 200, 5200)).filter(_scalar))
        data["constants"] = {key: value}
        where = "constants"
    else:
        data["experiment"]["scenario"] = draw(
            st.sampled_from(
                ("no-such-preset", "../../../etc/passwd", ".", "", "/dev/null", "/dev/zero")
            )
        )
        where = "experiment.scenario"
    return Mutant(tomli_w.dumps(data).encode("utf-8"), kind, where)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


# -- tables: decision data and survey files ----------------------------------------------------

DECISION_ROWS = 200
"""Rows of the example decision data a case starts from (enough for every municipality of a
region to appear more than once, few enough for a case to take milliseconds)."""
BAD_CELLS = (
    "",
    " ",
    "abc",
    "nan",
    "NaN",
    "inf",
    "-1",
    "-0.5",
    "2.5",
    "1e400",
    "99999999999999999999",
    "match-9",
    "MALE",
    "yes",
    '"',
    "'",
    "a,b",
    "\n",
    "\x00",
    "é",
    "\u202e",
)
"""Cells of the wrong type, empty, NaN, negative, fractional, beyond float and int64, unknown
categories, quotes and separators, control and bidirectional characters."""


@cache
def table_rows(name: str, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    text = (resources.files("streetlevel") / "data" / name).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1 : None if limit is None else limit + 1]


def write_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    # The writer's own line ending (CRLF) makes it quote a cell holding CR or LF.
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode("utf-8")


@st.composite
def table_mutant(draw: st.DrawFn, header: list[str], rows: list[list[str]]) -> Mutant:
    """A CSV table changed in one place: a cell, a column, a row, or the file's bytes."""
    kind = draw(
        st.sampled_from(
            (
                "cell",
                "cell",
                "cell",
                "respell",
                "drop_column",
                "duplicate_column",
                "extra_column",
                "ragged",
                "blank_line",
                "bytes",
                "bom",
                "lf",
                "empty",
                "header_only",
                "truncate",
            )
        )
    )
    header = list(header)
    rows = [list(r) for r in rows]
    if kind == "cell":
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(header) - 1))
        rows[r][c] = draw(st.sampled_from(BAD_CELLS) | st.text(max_size=6))
        return Mutant(write_csv(header, rows), kind, row=r + 1, column=header[c])
    if kind == "respell":
        # The same value in capitals and padded with spaces, as a hand edit might leave it.
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(header) - 1))
        rows[r][c] = f" {rows[r][c].upper()} "
        return Mutant(write_csv(header, rows), kind, row=r + 1, column=header[c])
    if kind in ("drop_column", "duplicate_column"):
        c = draw(st.integers(0, len(header) - 1))
        name = header[c]
        for row in [header, *rows]:
            if kind == "drop_column":
                del row[c]
            else:
                row.append(row[c])
        return Mutant(write_csv(header, rows), kind, column=name)
    if kind == "extra_column":
        name = draw(st.sampled_from((SURPLUS_KEY, "", " year", "Year")))
        for i, row in enumerate([header, *rows]):
            row.append(name if i == 0 else "1")
        return Mutant(write_csv(header, rows), kind, column=name)
    if kind == "ragged":
        r = draw(st.integers(0, len(rows) - 1))
        if draw(st.booleans()) and len(rows[r]) > 1:
            rows[r].pop()
        else:
            rows[r].append("1")
        return Mutant(write_csv(header, rows), kind, row=r + 1)
    content = write_csv(header, rows)
    if kind == "blank_line":
        lines = content.split(b"\r\n")
        at = draw(st.integers(1, len(lines) - 1))
        return Mutant(b"\r\n".join([*lines[:at], b"", *lines[at:]]), kind, row=at)
    if kind == "bytes":
        at = draw(st.integers(0, len(content)))
        junk = draw(st.sampled_from(NOT_UTF8) | st.binary(min_size=1, max_size=8))
        return Mutant(content[:at] + junk + content[at:], kind)
    if kind == "bom":
        return Mutant(BOM + content, kind)
    if kind == "lf":
        return Mutant(content.replace(b"\r\n", b"\n"), kind)
    if kind == "empty":
        return Mutant(draw(st.sampled_from((b"", b"\n", b"\n\n", b" "))), kind)
    if kind == "header_only":
        return Mutant(write_csv(header, []), kind)
    cut = draw(st.integers(0, len(content) - 1))
    return Mutant(content[:cut], kind)


def decision_mutant() -> st.SearchStrategy[Mutant]:
    header, rows = table_rows("example-decisions.csv", DECISION_ROWS)
    return table_mutant(header, rows)


def survey_mutant() -> st.SearchStrategy[Mutant]:
    header, rows = table_rows("survey_example.csv")
    return table_mutant(header, rows)


@cache
def decision_table() -> pa.Table:
    """The example decision rows as a typed Arrow table (as the engine writes them)."""
    header, rows = table_rows("example-decisions.csv", DECISION_ROWS)
    frame = pd.DataFrame([[cell or None for cell in row] for row in rows], columns=header)
    return pa.Table.from_pandas(validate_decisions(frame), preserve_index=False)


BAD_ARROW_VALUES: tuple[Any, ...] = (
    None,
    -1,
    2**62,
    math.nan,
    math.inf,
    1e308,
    "",
    "match-9",
    True,
)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@st.composite
def parquet_mutant(draw: st.DrawFn) -> Mutant:
    """The example decision rows as Parquet, changed in one place: a cell, a column's type, a
    missing, duplicated or all-null column, no rows, or the file's bytes."""
    table = decision_table()
    kind = draw(
        st.sampled_from(("cell", "cell", "type", "drop", "duplicate", "nulls", "empty", "bytes"))
    )
    c = draw(st.integers(0, table.num_columns - 1))
    name = table.column_names[c]
    if kind == "cell":
        r = draw(st.integers(0, table.num_rows - 1))
        values = table.column(c).to_pylist()
        values[r] = draw(st.sampled_from(BAD_ARROW_VALUES))
        try:
            array = pa.array(values)
        except (pa.ArrowException, TypeError, OverflowError):
            # Mixed types: the whole column written as text, as a spreadsheet export would.
            array = pa.array([None if v is None else str(v) for v in values])
        table = table.set_column(c, name, array)
        return Mutant(parquet_bytes(table), kind, row=r + 1, column=name)
    if kind == "type":
        target = draw(st.sampled_from((pa.string(), pa.float64(), pa.int8(), pa.list_(pa.int64()))))
        values = table.column(c).to_pylist()
        if pa.types.is_list(target):
            array = pa.array(
                [[v] if _number(v) and isinstance(v, int) else [] for v in values], target
            )
        elif pa.types.is_string(target):
            array = pa.array([None if v is None else str(v) for v in values])
        else:
            try:
                array = pa.array(values).cast(target)
            except (pa.ArrowException, TypeError):
                array = pa.array([None] * len(values), target)
        table = table.set_column(c, name, array)
        return Mutant(parquet_bytes(table), kind, column=name)
    if kind == "drop":
        return Mutant(parquet_bytes(table.remove_column(c)), kind, column=name)
    if kind == "duplicate":
        return Mutant(parquet_bytes(table.append_column(name, table.column(c))), kind, column=name)
    if kind == "nulls":
        nulls = pa.nulls(table.num_rows, table.schema.field(c).type)
        return Mutant(parquet_bytes(table.set_column(c, name, nulls)), kind, column=name)
    if kind == "empty":
        return Mutant(parquet_bytes(table.slice(0, 0)), kind)
    content = parquet_bytes(table)
    if draw(st.booleans()):
        return Mutant(content[: draw(st.integers(0, len(content) - 1))], kind)
    return Mutant(draw(st.binary(max_size=64)), kind)
