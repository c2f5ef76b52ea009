"""Real municipalities as data: a packaged table of a country's municipalities (official code,
name, region, population and its date) that a scenario's ``synthetic.municipality_table`` names.

The municipalities of the table stand where a scenario would otherwise draw its unlisted ones:
their code, name, region and population are the table's, the rest of their organisation is
drawn from ``[synthetic]`` as for any unlisted municipality (``model/country.py``). The code is
carried into a run's ``municipality_years`` (``municipality_code``), so that a run joins to a
published table by code. Each table ships with a sidecar ``<name>.toml`` that cites where every
column comes from (``streetlevel/data/denmark-municipalities.toml``).

The table is read through the one reader of users' tables (:mod:`~.tables`), so a broken
table is reported as a user's would be: file, row, line and column.

>>> rows = municipality_table("denmark-municipalities")
>>> len(rows), rows[0].code, rows[0].name, rows[0].region
(98, '101', 'København', 'Hovedstaden')
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources

from streetlevel.errors import ScenarioError
from streetlevel.scenario.tables import CellProblems, check_columns, parse_csv

__all__ = [
    "COLUMNS",
    "MunicipalityRow",
    "municipality_table",
    "parse_municipality_table",
    "region_counts",
]

COLUMNS = ("code", "name", "region", "population", "population_date")
"""The table's columns, all required."""
DATA_PACKAGE = "streetlevel.data"


@dataclass(frozen=True)
class MunicipalityRow:
    """One real municipality."""

    code: str
    """The official municipality code, as text (a code is a name, not a number: Norway's
    ``0301`` keeps its zero)."""
    name: str
    region: str
    population: int
    population_date: str
    """The date of the population count, ISO 8601."""


@cache
def municipality_table(name: str) -> tuple[MunicipalityRow, ...]:
    """The packaged table ``streetlevel/data/<name>.csv``, checked: every column present,
    codes and names unique and non-empty, populations whole numbers above 0, dates ISO.

    Raises:
        ScenarioError: no such table, or a cell that is not as described (naming the file,
            the row, the line and the column).
    """
    origin = f"streetlevel/data/{name}.csv"
    entry = resources.files(DATA_PACKAGE) / f"{name}.csv"
    if not entry.is_file():
        raise ScenarioError(f"{origin}: no such municipality table")
    return parse_municipality_table(entry.read_text(encoding="utf-8-sig"), origin)


def parse_municipality_table(text: str, origin: str) -> tuple[MunicipalityRow, ...]:
    """A municipality table's CSV text, checked as :func:`municipality_table` describes.

    >>> try:
    ...     parse_municipality_table("code,name,region,population,population_date\\n"
    ...                              "1,A,R,-5,2012-01-01\\n", "t.csv")
    ... except ScenarioError as err:
    ...     print(err)
    t.csv: row 1 (line 2), column 'population': '-5' is not a whole number above 0
    """
    table = parse_csv(text, origin, ScenarioError)
    check_columns(table.columns, COLUMNS, (), origin, ScenarioError)
    frame = table.frame
    problems = CellProblems(table)
    rows = []
    for i, cells in enumerate(frame.itertuples(index=False)):
        code, mname, region, population, date = (getattr(cells, c) for c in COLUMNS)
        for column, text in (("code", code), ("name", mname), ("region", region)):
            if not text or not str(text).strip():
                problems.add([i], column, "is empty (expected a text)")
        people = _whole(population)
        if people is None or people <= 0:
            problems.add([i], "population", f"{population!r} is not a whole number above 0")
        if not _iso_date(date):
            problems.add([i], "population_date", f"{date!r} is not a date (YYYY-MM-DD)")
        rows.append(MunicipalityRow(str(code), str(mname), str(region), people or 0, str(date)))
    for column in ("code", "name"):
        seen = Counter(getattr(r, column) for r in rows)
        twice = [i for i, r in enumerate(rows) if seen[getattr(r, column)] > 1]
        problems.add(twice, column, "is given to more than one municipality")
    problems.raise_if_any(ScenarioError)
    if not rows:
        raise ScenarioError(f"{origin}: no municipalities (expected a row per municipality)")
    return tuple(rows)


def region_counts(rows: tuple[MunicipalityRow, ...]) -> dict[str, int]:
    """The number of the table's municipalities in each region, in the table's order."""
    return dict(Counter(r.region for r in rows))


def _whole(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _iso_date(text: str | None) -> bool:
    try:
        dt.date.fromisoformat(str(text).strip())
    except ValueError:
        return False
    return True
