"""Scenarios that inherit: bases, removals, merge rules, errors that name the file, and
``streetlevel show`` (resolved, and the differences from the base)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streetlevel.cli.app import app
from streetlevel.errors import ScenarioError
from streetlevel.scenario.inherit import differences, merge, remove
from streetlevel.scenario.loading import (
    load_scenario,
    preset_text,
    scenario_from_dict,
    scenario_to_toml,
)
from streetlevel.scenario.show import show_scenario

BASES = {
    "denmark-2011": "denmark-2006-2014",
    "denmark-2014": "denmark-2006-2014",
    "municipality-a": "denmark-2011",
    "municipality-b": "denmark-2011",
}
"""Each preset that inherits, and its base: the timeline holds every parameter once."""
CHILDREN = list(BASES)
MUNICIPALITY_B = 'municipalities["Municipality B"]'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def dump(name: str) -> dict[str, Any]:
    return load_scenario(name).model_dump(mode="json")


def preset_file(name: str) -> dict[str, Any]:
    folder = resources.files("streetlevel.scenario") / "presets"
    return tomllib.loads((folder / f"{name}.toml").read_text(encoding="utf-8"))


def changed_keys(base: dict[str, Any], child: dict[str, Any]) -> set[str]:
    """Sections (and, for tables, section.key) in which two scenario dumps differ."""
    out = set()
    for section in base.keys() | child.keys():
        old, new = base.get(section), child.get(section)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and section != "synthetic":
            out |= {f"{section}.{k}" for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        else:
            out.add(section)
    return out


# -- the presets -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CHILDREN)
def test_child_presets_are_files_of_differences(name: str) -> None:
    """The shared parameters (calibration records included) live once, in the timeline."""
    raw = preset_file(name)
    assert raw["base"] == BASES[name]
    for section in ("attendance", "decision", "exits", "clients", "caseworkers", "attitudes"):
        assert section not in raw, section


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "denmark-2014",
            {"scenario.name", "scenario.description", "scenario.era", "categories",
             "sanctions.recompliance"},
        ),
        (
            "municipality-a",
            {"scenario.name", "scenario.description", "pressure.ranking_published",
             "regions", "municipalities"},
        ),
        (
            "municipality-b",
            {"scenario.name", "scenario.description", "pressure.ranking_published",
             "regions", "municipalities"},
        ),
    ],
)  # fmt: skip
def test_resolved_presets_are_their_base_with_the_documented_differences(
    name: str, expected: set[str]
) -> None:
    base, child = dump("denmark-2011"), dump(name)
    assert changed_keys(base, child) == expected
    if name.startswith("municipality"):
        # One of the base's municipalities, exactly as the base gives it; one region.
        letter = name[-1].upper()
        kept = [m for m in base["municipalities"] if m["name"] == f"Municipality {letter}"]
        assert child["municipalities"] == kept
        assert [r["name"] for r in child["regions"]] == [kept[0]["region"]]
        # The synthetic section stays: it describes the country the office cultures and the
        # highest-priority rule are measured against (model/culture.py).
        assert child["synthetic"] == base["synthetic"]


def test_a_recalibration_of_the_base_reaches_every_child(tmp_path: Path) -> None:
    """What the issue was about: a value changed in the timeline is every child's value,
    through a chain of bases (municipality-a <- denmark-2011 <- the timeline)."""
    old = load_scenario("denmark-2006-2014").attendance.intercept.value
    timeline = preset_text("denmark-2006-2014").replace(f"value = {old}", "value = -4.0", 1)
    write(tmp_path, "denmark-2006-2014.toml", timeline)
    for name in CHILDREN:
        text = (resources.files("streetlevel.scenario") / "presets" / f"{name}.toml").read_text(
            encoding="utf-8"
        )
        base = BASES[name]
        child = text.replace(f'base = "{base}"', f'base = "{base}.toml"', 1)
        write(tmp_path, f"{name}.toml", child)
    for name in CHILDREN:
        loaded = load_scenario(tmp_path / f"{name}.toml")
        assert loaded.attendance.intercept.value == -4.0
        assert loaded.scenario.name == name


# -- merge rules -------------------------------------------------------------------------------


def test_a_table_merges_key_by_key_and_a_parameter_is_replaced_whole(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "child.toml",
        'base = "municipality-b"\n[sanctions]\n'
        'recompliance = { value = 0.3, unit = "per week", source = "mine" }\n'
        '[decision.caseworker]\nintercept = { value = -3.0, unit = "log-odds", source = "me" }\n',
    )
    child, base = load_scenario(path), load_scenario("municipality-b")
    assert child.sanctions.recompliance.value == 0.3
    assert child.decision.caseworker.intercept.calibration is None  # not the base's record
    caseworker = child.decision.caseworker
    assert caseworker.management_strictness == base.decision.caseworker.management_strictness
    assert child.decision.benefit_office == base.decision.benefit_office
    # A parameter is replaced whole: a value alone lacks its unit and source.
    bad = 'base = "municipality-b"\n[sanctions]\nrecompliance = { value = 0.3 }\n'
    write(tmp_path, "bad.toml", bad)
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "bad.toml")
    assert "sanctions.recompliance.unit: missing" in str(err.value)
    assert "sanctions.recompliance.source: missing" in str(err.value)


def test_lists_of_named_tables_merge_by_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "child.toml",
        'base = "denmark-2011"\n'
        '[[municipalities]]\nname = "Municipality B"\n'
        'management_strictness = { value = 0.5, unit = "share", source = "mine" }\n'
        '[[municipalities]]\nname = "Municipality C"\nregion = "Nordjylland"\n'
        'population = { value = 30000, unit = "people", source = "mine" }\n'
        'recipients_per_100 = { value = 2.0, unit = "per 100 citizens", source = "mine" }\n'
        'rural = { value = true, unit = "flag", source = "mine" }\n'
        'absence_route = { value = "caseworker", unit = "route", source = "mine" }\n'
        'management_strictness = { value = 0.1, unit = "share", source = "mine" }\n'
        'pressure_response = { value = 0.5, unit = "ratio", source = "mine" }\n',
    )
    child, base = load_scenario(path), load_scenario("denmark-2011")
    assert [m.name for m in child.municipalities] == [
        "Municipality A", "Municipality B", "Municipality C",
    ]  # fmt: skip
    b = child.municipalities[1]
    assert b.management_strictness.value == 0.5
    assert b.population == base.municipalities[1].population  # the rest of B is the base's


def test_remove_then_list_replaces_a_list(tmp_path: Path) -> None:
    regions = (
        '[[regions]]\nname = "Nord"\n'
        'municipalities = { value = 1, unit = "municipalities", source = "x" }\n'
    )
    path = write(
        tmp_path,
        "child.toml",
        f'base = "municipality-b"\nremove = ["regions", "municipalities", "synthetic"]\n'
        f'{regions}[synthetic]\nseed = {{ value = 1, unit = "seed", source = "x" }}\n',
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)  # [synthetic] removed, then only its seed given
    assert "synthetic.population_mean: missing" in str(err.value)
    data = {
        "base": "denmark-2011",
        "remove": ["regions", "municipalities"],
        "regions": tomllib.loads(regions)["regions"],
    }
    loaded = scenario_from_dict(data)
    assert [r.name for r in loaded.regions] == ["Nord"] and loaded.municipalities == []
    assert loaded.synthetic == load_scenario("denmark-2011").synthetic


def test_merge_and_remove_leave_their_inputs_alone() -> None:
    base = {"a": {"x": {"value": 1, "unit": "u", "source": "s"}}, "l": [{"name": "n", "v": 1}]}
    frozen = repr(base)
    merged = merge(remove(base, ['l["n"]'], "f"), {"a": {"y": 2}})
    assert repr(base) == frozen
    assert merged == {"a": {"x": {"value": 1, "unit": "u", "source": "s"}, "y": 2}, "l": []}


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('base = "denmark-2O11"\n', "base: no preset 'denmark-2O11'"),
        ('base = "nowhere.toml"\n', "base: no such file"),
        ("base = 3\n", "base: expected the name of a preset or the path of a .toml file"),
        ('remove = ["synthetic"]\n', "remove: only a file with a base can remove from it"),
        ('base = "denmark-2011"\nremove = "synthetic"\n', "remove: expected a list of key paths"),
        ('base = "denmark-2011"\nremove = ["synthetc"]\n', "remove[0]: 'synthetc': no such key"),
        (
            f"base = \"denmark-2011\"\nremove = ['{MUNICIPALITY_B}', 'municipalities[\"C\"]']\n",
            "remove[1]: 'municipalities[\"C\"]': no entry named 'C'",
        ),
        (
            'base = "denmark-2011"\nremove = ["regions[0]"]\n',
            "remove[0]: 'regions[0]' is not a key path",
        ),
        (
            'base = "municipality-b"\n[[regions]]\nname = "X"\n[[regions]]\nname = "X"\n',
            "regions: names must be unique, ['X'] appear more than once",
        ),
    ],
)
def test_bad_bases_and_removals_name_the_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, "child.toml", text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_cycles_of_bases_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'base = "b.toml"\n')
    write(tmp_path, "b.toml", 'base = "./a.toml"\n')
    with pytest.raises(ScenarioError, match=r"makes a cycle: .*a\.toml -> .*b\.toml -> .*a\.toml"):
        load_scenario(tmp_path / "a.toml")
    write(tmp_path, "self.toml", 'base = "self.toml"\n')
    with pytest.raises(ScenarioError, match="makes a cycle"):
        load_scenario(tmp_path / "self.toml")


def test_chains_and_relative_paths(tmp_path: Path) -> None:
    """A file's base is found next to it, wherever it is loaded from; chains work."""
    (tmp_path / "bases").mkdir()
    write(
        tmp_path / "bases",
        "quick.toml",
        'base = "municipality-a"\n'
        '[scale]\nclient_scale = { value = 0.1, unit = "ratio", source = "quick" }\n',
    )
    write(tmp_path, "mine.toml", 'base = "bases/quick.toml"\n[scenario]\nname = "mine"\n')
    mine = load_scenario(tmp_path / "mine.toml")
    assert mine.scenario.name == "mine"
    assert mine.scale.client_scale.value == 0.1
    assert mine.municipalities == load_scenario("municipality-a").municipalities


def test_an_error_in_an_inherited_value_names_the_file_that_set_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.toml",
        'base = "municipality-b"\n[sanctions]\n'
        'recompliance = { value = 1.5, unit = "per week", source = "typo" }\n',
    )
    child = write(tmp_path, "child.toml", 'base = "base.toml"\n[scenario]\nname = "child"\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(child)
    message = str(err.value)
    assert message.startswith(f"{child}: 1 problem(s)")
    assert f"sanctions.recompliance.value (set in {tmp_path / 'base.toml'}):" in message
    # The same error set in the file itself names no other file.
    write(tmp_path, "own.toml", (tmp_path / "base.toml").read_text())
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "own.toml")
    assert "sanctions.recompliance.value: Input should be" in str(err.value)


# -- show --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*CHILDREN, "denmark-2011", "norway-2010"])
def test_show_prints_a_complete_file_that_loads_to_the_same_scenario(
    tmp_path: Path, name: str
) -> None:
    text = show_scenario(name)
    assert "base =" not in text and text == preset_text(name)
    assert text.startswith("# streetlevel scenario")
    assert load_scenario(write(tmp_path, "shown.toml", text)) == load_scenario(name)


@pytest.mark.parametrize("name", CHILDREN)
def test_show_diff_is_a_file_of_differences_that_loads_to_the_same_scenario(
    tmp_path: Path, name: str
) -> None:
    text = show_scenario(name, from_base=True)
    data = tomllib.loads(text)
    assert data["base"] == BASES[name]
    assert "attendance" not in data and "exits" not in data
    assert load_scenario(write(tmp_path, "diff.toml", text)) == load_scenario(name)
    # The file as written and the differences printed say the same.
    assert scenario_from_dict(preset_file(name)) == scenario_from_dict(data)


def test_show_diff_of_a_user_file(tmp_path: Path) -> None:
    text = (
        'base = "denmark-2011"\nremove = [\'municipalities["Municipality A"]\']\n'
        '[exits]\npost_effect = { value = 1.5, unit = "ratio", source = "mine" }\n'
        # Equal to the base's: not a difference.
        '[meetings]\ninterval = { value = 13, unit = "weeks", source = "CHM: meetings every '
        'three months (the timeliness measure)" }\n'
    )
    path = write(tmp_path, "mine.toml", text)
    shown = show_scenario(path, from_base=True)
    data = tomllib.loads(shown)
    assert data == {
        "base": "denmark-2011",
        "remove": ['municipalities["Municipality A"]'],
        "exits": {"post_effect": {"value": 1.5, "unit": "ratio", "source": "mine"}},
    }
    assert "# denmark-2011: value = 1.35" in shown
    with pytest.raises(ScenarioError, match="names no base"):
        show_scenario("denmark-2006-2014", from_base=True)


def test_differences_merge_back_into_the_child() -> None:
    """``differences`` is the inverse of remove-then-merge, for the kinds of change a file
    can make: a value, a new key, a removed key, entries dropped, added, changed, reordered."""
    base = tomllib.loads(scenario_to_toml(load_scenario("denmark-2011")))
    edits = [
        lambda d: d["exits"]["post_effect"].update(value=2.0),
        lambda d: d.pop("attitudes"),
        lambda d: d["municipalities"][0].update(capital=dict(value=True, unit="flag", source="x")),
        lambda d: d["municipalities"][1].pop("pressure_response"),
        lambda d: d["regions"].reverse(),
        lambda d: d["categories"].pop(1),
        lambda d: d["categories"].append({"name": "new", "stock_share": 0.1}),
        lambda d: d["scenario"].update(name="other"),
    ]
    for edit in edits:
        child = tomllib.loads(scenario_to_toml(load_scenario("denmark-2011")))
        edit(child)
        found = differences(base, child)
        assert merge(remove(base, found.removed, "diff"), found.changed) == child


def test_show_command(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["show", "municipality-a", "--diff"])
    assert done.exit_code == 0, done.output
    assert tomllib.loads(done.stdout)["base"] == "denmark-2011"
    whole = runner.invoke(app, ["show", str(write(tmp_path, "m.toml", done.stdout))])
    assert whole.exit_code == 0, whole.output
    assert "# Resolved (m.toml <- denmark-2011 <- denmark-2006-2014)" in whole.stdout
    assert load_scenario(write(tmp_path, "whole.toml", whole.stdout)) == load_scenario(
        "municipality-a"
    )
    missing = runner.invoke(app, ["show", "narnia-2020"])
    assert isinstance(missing.exception, ScenarioError)  # main() makes it a message, status 2
    assert "no such preset" in str(missing.exception)
