"""Scenario files: presets, validation errors that name file, key path and expectation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from streetlevel.errors import ScenarioError
from streetlevel.scenario.loading import (
    list_presets,
    load_scenario,
    preset_text,
    scenario_from_dict,
    scenario_hash,
    scenario_to_toml,
    with_values,
)

PRESETS = ["denmark-2011", "denmark-2014", "municipality-a", "municipality-b"]


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str, preset: str = "municipality-a") -> str:
    text = preset_text(preset)
    assert old in text, old
    return text.replace(old, new, 1)


def test_presets_listed() -> None:
    assert set(PRESETS) <= set(list_presets())


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_validates_and_round_trips(name: str) -> None:
    scenario = load_scenario(name)
    reloaded = tomllib.loads(scenario_to_toml(scenario))
    assert scenario_from_dict(reloaded) == scenario
    assert scenario_hash(scenario_from_dict(reloaded)) == scenario_hash(scenario)


@pytest.mark.parametrize("name", PRESETS)
def test_every_parameter_has_unit_and_source(name: str) -> None:
    """No bare numbers: every leaf number in a preset sits in a {value, unit, source} table."""
    data = tomllib.loads(preset_text(name))

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if "value" in node:
                assert node.get("unit") and node.get("source"), path
                return
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        else:
            assert not isinstance(node, int | float) or isinstance(node, bool), path

    walk(data, name)


def test_unknown_key_names_file_path_and_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, edited("[sanctions]\n", "[sanctions]\nrecompliance_rate = 3\n"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert str(path) in message
    assert "sanctions.recompliance_rate: unknown key" in message
    assert "expected one of: recompliance" in message


def test_unknown_key_inside_a_list_entry(tmp_path: Path) -> None:
    text = edited('name = "match-2"\n', 'name = "match-2"\ncolour = "blue"\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    assert "categories[1].colour: unknown key" in str(err.value)
    assert "stock_share" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        (
            'recompliance = { value = 0.5, unit = "per week"',
            'recompliance = { value = 0.5, unit = "per month"',
            "sanctions.recompliance.unit",
            "'per week'",
        ),
        (
            "recompliance = { value = 0.5,",
            "recompliance = { value = 1.5,",
            "recompliance.value",
            "1",
        ),
        (
            "recompliance = { value = 0.5,",
            "recompliance = { value = nan,",
            "recompliance.value",
            "finite",
        ),
        (
            "recompliance = { value = 0.5,",
            'recompliance = { value = "x",',
            "recompliance.value",
            "number",
        ),
        ("interval = { value = 13,", "interval = { value = 0,", "meetings.interval.value", "1"),
        (
            "interval = { value = 13,",
            "interval = { value = 13.5,",
            "meetings.interval.value",
            "integer",
        ),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(
    tmp_path: Path, old: str, new: str, where: str, expected: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, edited(old, new)))
    message = str(err.value)
    assert where in message
    assert expected in message.split(where, 1)[1]


def test_missing_key_and_missing_source(tmp_path: Path) -> None:
    text = edited(
        'recompliance = { value = 0.5, unit = "per week", source',
        'recompliance_x = { value = 0.5, unit = "per week", source',
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    assert "sanctions.recompliance: missing (required)" in str(err.value)
    text = edited(
        'interval = { value = 13, unit = "weeks", source = "CHM: meetings every three months '
        '(the timeliness measure)" }',
        'interval = { value = 13, unit = "weeks" }',
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    assert "meetings.interval.source: missing" in str(err.value)


def test_not_toml_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(write(tmp_path, "[scenario\nname = 1"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "kontanthjælp"'.encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="no such file and no such preset"):
        load_scenario(tmp_path / "missing.toml")


def test_cross_checks(tmp_path: Path) -> None:
    text = edited(
        'stock_share = { value = 0.20, unit = "share"',
        'stock_share = { value = 0.30, unit = "share"',
    )
    with pytest.raises(ScenarioError, match="stock_share must sum to 1"):
        load_scenario(write(tmp_path, text))
    text = edited('region = "Syddanmark"', 'region = "Atlantis"')
    with pytest.raises(ScenarioError, match="unknown region 'Atlantis'"):
        load_scenario(write(tmp_path, text))
    text = edited('era = "2011"', 'era = "2014"')
    with pytest.raises(ScenarioError, match="era 2014 has no passive category"):
        load_scenario(write(tmp_path, text))


def test_denmark_2014_has_no_passive_category() -> None:
    scenario = load_scenario("denmark-2014")
    assert scenario.scenario.era == "2014"
    assert all(c.receives_offers.value for c in scenario.categories)


def test_with_values_sets_value_and_source() -> None:
    s = with_values(load_scenario("denmark-2011"), {"categories[2].exit_other": 0.01}, "why")
    assert s.categories[2].exit_other.value == 0.01
    assert s.categories[2].exit_other.source == "why"
    with pytest.raises(ScenarioError, match="no such key"):
        with_values(s, {"sanctions.nothing_here": 1})
    with pytest.raises(ScenarioError, match=r"sanctions\.recompliance\.value"):
        with_values(s, {"sanctions.recompliance": 2.0})
