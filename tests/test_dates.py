"""Dated values: parsing and validation, resolution per calendar year, round trips, and a
dated value taking effect in the engine from the first week of its year and not before."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from streetlevel.errors import ScenarioError
from streetlevel.output.run import run_scenario
from streetlevel.scenario.dates import at_year, change_years, in_force
from streetlevel.scenario.loading import (
    load_scenario,
    scenario_from_dict,
    scenario_hash,
    scenario_to_toml,
    with_values,
)
from streetlevel.scenario.show import show_scenario
from tests.conftest import small

RECOMPLIANCE = (
    'base = "municipality-b"\n'
    "[sanctions.recompliance]\n"
    'unit = "per week"\n'
    'values.2014-01-01 = { value = 0.3, source = "the 2014 reform" }\n'
    'values.2006-01-01 = { value = 0.5, source = "assumption", note = "before the reform" }\n'
)


def write(folder: Path, text: str, name: str = "dated.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(folder: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(folder, text))
    return str(err.value)


def test_a_dated_parameter_loads_in_date_order(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, RECOMPLIANCE))
    p = s.sanctions.recompliance
    assert p.values is not None and list(p.values) == ["2006-01-01", "2014-01-01"]
    # .value and .source are the first date's, so code that does not resolve years works.
    assert (p.value, p.source, p.note) == (0.5, "assumption", "before the reform")
    assert p.values["2014-01-01"].source == "the 2014 reform"
    assert change_years(s) == [2014]
    assert change_years(load_scenario("denmark-2011")) == []


BAD_DATED = [
    ("value = 0.3,", "value = 1.3,", "values.2014-01-01.value: Input should be less than or"),
    ("value = 0.3,", 'value = "0.3",', "values.2014-01-01.value: Input should be a valid number"),
    ('source = "the 2014 reform"', 'source = ""', "2014-01-01.source: String should have at"),
    ("values.2014-01-01", "values.2014-07-01", "values.2014-07-01: '2014-07-01' is not 1 January"),
    ("values.2014-01-01", 'values."2014-1-1"', "'2014-1-1' is not a date written YYYY-MM-DD"),
    ("values.2014-01-01", 'values."1 Jan 2014"', "is not a date written YYYY-MM-DD"),
    ('unit = "per week"', 'unit = "per month"', "recompliance.unit: Input should be 'per week'"),
    ('unit = "per week"', 'unit = "per week"\nvalue = 0.4', "value cannot also stand beside"),
    (
        ", note =",
        ", colour = 1, note =",
        "values.2006-01-01.colour: unknown key (expected one of: value, source, note, calibration)",
    ),
]
"""(old, new, expected): an edit of :data:`RECOMPLIANCE` and what its message must say."""


@pytest.mark.parametrize(("old", "new", "expected"), BAD_DATED)
def test_bad_dated_values_name_the_key_and_what_was_expected(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in RECOMPLIANCE
    message = refused(tmp_path, RECOMPLIANCE.replace(old, new, 1))
    assert expected in message


def test_no_dates_and_dates_where_they_cannot_take_effect_are_refused(tmp_path: Path) -> None:
    empty = (
        'base = "municipality-b"\n[sanctions]\nrecompliance = { unit = "per week", values = {} }\n'
    )
    message = refused(tmp_path, empty)
    assert "sanctions.recompliance.values: Dictionary should have at least 1 item" in message
    message = refused(
        tmp_path,
        'base = "municipality-b"\n[time.weeks_per_year]\nunit = "weeks"\n'
        'values.2006-01-01 = { value = 52, source = "x" }\n'
        'values.2012-01-01 = { value = 26, source = "x" }\n',
    )
    assert "time.weeks_per_year: values by date are not allowed in [time]" in message


def test_the_scenario_of_every_change_year_is_checked(tmp_path: Path) -> None:
    """Cross-checks hold in every year: here the stock shares sum to 1.1 from 2014."""
    text = (
        'base = "municipality-b"\n[[categories]]\nname = "match-1"\n'
        '[categories.stock_share]\nunit = "share"\n'
        'values.2006-01-01 = { value = 0.2, source = "x" }\n'
        'values.2014-01-01 = { value = 0.3, source = "x" }\n'
    )
    message = refused(tmp_path, text)
    assert "must sum to 1 in 2014, got 1.1" in message


def test_at_year_takes_the_latest_date_on_or_before_1_january(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, RECOMPLIANCE))
    by_year = {y: at_year(s, y).sanctions.recompliance for y in (2004, 2006, 2013, 2014, 2030)}
    # Before the first date (burn-in years may start before it), the first value holds.
    assert [p.value for p in by_year.values()] == [0.5, 0.5, 0.5, 0.3, 0.3]
    assert by_year[2014].source == "the 2014 reform" and by_year[2014].values is None
    assert by_year[2004].note == "before the reform"
    # Everything else is the scenario as loaded.
    assert at_year(s, 2014).attendance == s.attendance
    plain = load_scenario("municipality-b")
    assert at_year(plain, 2014) is plain
    assert in_force({"2006-01-01": 1}, 1900) == 1


@pytest.mark.parametrize("write_as", ["tomli_w", "show"])
def test_dated_values_round_trip(tmp_path: Path, write_as: str) -> None:
    s = load_scenario(write(tmp_path, RECOMPLIANCE))
    text = scenario_to_toml(s) if write_as == "tomli_w" else show_scenario(tmp_path / "dated.toml")
    again = load_scenario(write(tmp_path, text, "again.toml"))
    assert again == s and scenario_hash(again) == scenario_hash(s)
    dumped = tomllib.loads(text)["sanctions"]["recompliance"]
    assert set(dumped) == {"unit", "values"}  # as written: no first value beside the dates


def test_undated_scenarios_dump_as_before() -> None:
    """No ``values`` key appears in a scenario without dates (so hashes do not change)."""
    data: dict[str, Any] = load_scenario("denmark-2011").model_dump()
    assert "values" not in data["sanctions"]["recompliance"]
    assert data["sanctions"]["recompliance"]["note"] is None


def test_with_values_on_dated_parameters(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, RECOMPLIANCE))
    plain = with_values(s, {"sanctions.recompliance": 0.4}, "sweep")
    p = plain.sanctions.recompliance
    assert (p.value, p.source, p.values) == (0.4, "sweep", None)  # for the whole run
    assert change_years(plain) == []
    dated = with_values(s, {"attendance.intercept": {"2012-01-01": -4.0, "2010-01-01": -5.0}})
    assert change_years(dated) == [2012, 2014]
    assert at_year(dated, 2012).attendance.intercept.value == -4.0
    with pytest.raises(ScenarioError, match=r"attendance\.intercept\.values\.x"):
        with_values(s, {"attendance.intercept": {"x": 1.0}}, "--set")


def test_a_dated_value_takes_effect_from_the_first_week_of_its_year(tmp_path: Path) -> None:
    """Absence is all but impossible until 2012, then common: no absence in the reported
    year 2011, absences in the first week of 2012 (the engine rebuilds its coefficients at
    the start of a year in which a dated value changes)."""
    change = 2012
    base = small(
        "municipality-b", scale=1.0, time__burn_in_years=1, time__reporting_years=2
    )  # calendar years 2010 (burn-in), 2011 and 2012
    scenario = with_values(
        base, {"attendance.intercept": {"2006-01-01": -50.0, f"{change}-01-01": -1.0}}, "test"
    )
    assert change_years(scenario) == [change]
    out = run_scenario(scenario, seed=5, replications=2, out=tmp_path / "run").out
    events = pq.read_table(out / "events.parquet").to_pandas()
    absences = events[events.event == "absence"]
    assert set(events.year) == {change - 1, change}
    assert (absences.year < change).sum() == 0
    assert ((absences.year == change) & (absences.week == 1)).sum() > 0
    # The same run without dates, at the later value throughout, has absences in 2011.
    steady = with_values(base, {"attendance.intercept": -1.0}, "test")
    out = run_scenario(steady, seed=5, replications=2, out=tmp_path / "steady").out
    steady_events = pq.read_table(out / "events.parquet").to_pandas()
    assert ((steady_events.event == "absence") & (steady_events.year < change)).sum() > 0


def test_scenario_from_dict_with_dates_and_a_base() -> None:
    data = {
        "base": "municipality-b",
        "sanctions": {
            "recompliance": {
                "unit": "per week",
                "values": {"2006-01-01": {"value": 0.5, "source": "a"}},
            }
        },
    }
    s = scenario_from_dict(data)
    assert s.sanctions.recompliance.value == 0.5 and change_years(s) == []
