"""Dated values: parameters whose value changes on given dates, resolved per calendar year.

A parameter may carry values by date (``params.Param.values``), each with its own source.
The engine simulates calendar years (the first reporting year is the scenario's era), so a
dated value takes effect on 1 January of its year, and the value in force in a year is the
one of the latest date on or before 1 January of that year. A year before the first date
uses the first date's value: burn-in years start before the era, and the first value is the
best guess for them. Validation refuses a date other than 1 January, and dated values in the
sections fixed when a run starts (``schema.UNDATED_SECTIONS``).

>>> from streetlevel.scenario.loading import load_scenario, with_values
>>> s = with_values(load_scenario("municipality-b"), {"sanctions.recompliance": {
...     "2006-01-01": 0.5, "2014-01-01": 0.3}}, "example")
>>> change_years(s)
[2014]
>>> at_year(s, 2013).sanctions.recompliance.value, at_year(s, 2014).sanctions.recompliance.value
(0.5, 0.3)
>>> at_year(load_scenario("municipality-b"), 2014) == load_scenario("municipality-b")
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from streetlevel.scenario.params import parameters
from streetlevel.scenario.schema import Scenario

__all__ = ["at_year", "change_years", "data_at_year", "in_force", "resolve_data", "year_of"]

T = TypeVar("T")


def year_of(date: str) -> int:
    """The calendar year of a date key (``"2014-01-01"`` -> 2014)."""
    return int(date[:4])


def in_force(dated: Mapping[str, T], year: int) -> T:
    """The entry of ``dated`` (keys ISO dates, in order) in force on 1 January ``year``.

    >>> dated = {"2006-01-01": "a", "2014-01-01": "b"}
    >>> [in_force(dated, y) for y in (2004, 2006, 2013, 2014, 2020)]
    ['a', 'a', 'a', 'b', 'b']
    """
    dates = list(dated)
    chosen = dates[0]
    for date in dates[1:]:
        if year_of(date) <= year:
            chosen = date
    return dated[chosen]


def change_years(scenario: Scenario) -> list[int]:
    """The calendar years at whose start some dated value of ``scenario`` changes.

    Every date but a parameter's first (before it, the first value holds anyway); the engine
    rebuilds what it derives from the scenario at the start of these years.
    """
    years = {
        year_of(date)
        for _, param in parameters(scenario)
        if param.values is not None
        for date in list(param.values)[1:]
    }
    return sorted(years)


def data_at_year(scenario: Scenario, year: int) -> dict[str, Any]:
    """The scenario as data (``model_dump``) with every dated parameter replaced by a plain
    ``{value, unit, source, ...}`` table: its value in force on 1 January ``year``."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    for path, param in parameters(scenario):
        if param.values is None:
            continue
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        entry = in_force(param.values, year).model_dump(mode="json", exclude_none=True)
        node[path[-1]] = {"value": entry.pop("value"), "unit": param.unit, **entry}
    return data


def at_year(scenario: Scenario, year: int) -> Scenario:
    """``scenario`` with every dated parameter at its value in force on 1 January ``year``.

    Without dated values, ``scenario`` itself. Loading checks the scenario of every year in
    :func:`change_years` (e.g. that stock shares still sum to 1), so this does not fail for
    a loaded scenario.
    """
    if not any(param.values is not None for _, param in parameters(scenario)):
        return scenario
    return Scenario.model_validate(data_at_year(scenario, year))


def resolve_data(data: Any, year: int) -> Any:
    """Parsed scenario data (dicts and lists, as a file is read) with every dated parameter
    replaced by its value in force on 1 January ``year``, with that date's source (what a
    file's ``resolve_at`` does to its base)."""
    if isinstance(data, list):
        return [resolve_data(item, year) for item in data]
    if not isinstance(data, dict):
        return data
    values = data.get("values")
    if isinstance(values, dict) and values and "value" not in data:
        entry = dict(in_force(dict(sorted(values.items())), year))
        rest = {k: v for k, v in data.items() if k != "values"}
        return {"value": entry.pop("value", None), **rest, **entry}
    return {key: resolve_data(item, year) for key, item in data.items()}
