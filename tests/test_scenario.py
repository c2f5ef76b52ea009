"""Scenario files: presets, validation errors that name file, key path and expectation."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
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
from streetlevel.scenario.params import Param
from streetlevel.scenario.show import show_scenario

PRESETS = ["denmark-2011", "denmark-2014", "municipality-a", "municipality-b"]


def preset_file(name: str) -> str:
    """A preset's file as it is written (its differences from its base, if it has one)."""
    folder = resources.files("streetlevel.scenario") / "presets"
    return (folder / f"{name}.toml").read_text(encoding="utf-8")


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
@pytest.mark.parametrize("form", ["resolved", "file"])
def test_every_parameter_has_unit_and_source(name: str, form: str) -> None:
    """No bare numbers: every leaf number in a preset, resolved or as its file is written (a
    file of differences from its base), sits in a {value, unit, source} table."""
    text = preset_text(name) if form == "resolved" else preset_file(name)
    data = tomllib.loads(text)

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
        'stock_share = { value = 0.2, unit = "share"',
        'stock_share = { value = 0.3, unit = "share"',
    )
    with pytest.raises(
        ScenarioError, match=r"stock_share of the categories drawn by share must sum to 1"
    ):
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


# -- docs/scenarios.md, checked against the presets so that it cannot drift -------------------

DOCS = Path(__file__).parent.parent / "docs" / "scenarios.md"
PRESET_COLUMNS = {
    "dk-2006-2014": "denmark-2006-2014",
    "dk-2011": "denmark-2011",
    "norway-2010": "norway-2010",
}
"""Columns of the key tables that give a preset's value (of a dated value, its first date's:
the cell writes it first)."""
ENTRY_SECTIONS = ("categories", "municipalities")
"""Sections whose key tables have a column per entry of denmark-2011 (``match-1``, ...)."""
DESCRIPTIVE = {"description", "note"}
"""Keys whose cell paraphrases a long text."""


def doc_rows(text: str) -> list[tuple[str, dict[str, str]]]:
    """(section, {column: cell}) for each row of a key table (``| `key` | kind | ... |``)."""
    rows: list[tuple[str, dict[str, str]]] = []
    section, columns = "", None
    for line in text.splitlines():
        heading = re.match(r"### `\[\[?([\w.]+)\]\]?`", line)
        if heading:
            section, columns = heading.group(1), None
        elif line.startswith("| key |"):
            columns = [c.strip() for c in line.strip().strip("|").split("|")]
        elif line.startswith("| `") and columns and section:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append((section, dict(zip(columns, cells, strict=True))))
        elif not line.startswith("|"):
            columns = None
    return rows


def value_at(node: object, parts: list[str]) -> object:
    for part in parts:
        node = getattr(node, part, None)
        if node is None:
            return None
    return node.value if isinstance(node, Param) else node


def cell_says(cell: str, value: object) -> bool:
    """Whether a table cell states ``value`` (its first word or number; "–" for none)."""
    cell = cell.replace("−", "-").replace("`", "").replace('"', "").strip()
    if value is None:
        return cell in ("–", "-")
    if isinstance(value, list):
        return [c.strip() for c in cell.split(",")] == [str(v) for v in value]
    if isinstance(value, bool):
        return cell.split()[0] == str(value).lower()
    if isinstance(value, int | float):
        number = re.match(r"-?[\d.]+(e-?\d+)?", cell)
        return number is not None and float(number.group(0)) == value
    return cell == value or cell.split(" (")[0] == value


def test_the_docs_key_tables_give_the_presets_values() -> None:
    checked, wrong = 0, []
    for section, row in doc_rows(DOCS.read_text(encoding="utf-8")):
        key = row["key"].strip("`")
        if key in DESCRIPTIVE or not re.fullmatch(r"[\w.]+", key):
            continue  # e.g. overrule.<covariate>
        for column, cell in row.items():
            if column in PRESET_COLUMNS:
                scenario = load_scenario(PRESET_COLUMNS[column])
                if section == "regions":
                    value: object = [value_at(r, [key]) for r in scenario.regions]
                else:
                    value = value_at(scenario, [*section.split("."), *key.split(".")])
            elif section in ENTRY_SECTIONS and column not in ("key", "kind", "meaning"):
                entries = {e.name: e for e in getattr(load_scenario("denmark-2011"), section)}
                value = value_at(entries[column], key.split("."))
            else:
                continue
            checked += 1
            if not cell_says(cell, value):
                wrong.append(f"[{section}] {key}, column {column}: {cell!r}, preset {value!r}")
    assert checked > 100, checked
    assert not wrong, "\n".join(wrong)


def test_the_docs_examples_run(tmp_path: Path) -> None:
    """Every TOML example of a file with a base loads; the printed --diff is what show prints."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w*)\n(.*?)```", text, flags=re.DOTALL)
    examples = [body for lang, body in blocks if lang == "toml" and body.startswith("base =")]
    assert len(examples) >= 4
    for i, body in enumerate(examples):
        load_scenario(write(tmp_path, body, f"example{i}.toml"))
    command = "$ streetlevel show municipality-b --diff\n"
    printed = [body for _, body in blocks if body.startswith(command)]
    assert printed == [command + show_scenario("municipality-b", from_base=True)]
