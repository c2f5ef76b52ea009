"""Tables in docs/ that restate the code's data are built from it: a test fails when they differ.

Each test names the command that refreshes the page, so the fix for a failure is one command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streetlevel.errors import ScenarioError
from streetlevel.scenario import reference
from streetlevel.validation import targets_page
from streetlevel.validation.targets import ROLES, load_targets

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def between_markers(text: str) -> str:
    return text.split(reference.START, 1)[1].split(reference.END, 1)[0].removeprefix("\n")


def test_the_scenario_reference_is_what_the_presets_give() -> None:
    page = (DOCS / "scenarios.md").read_text(encoding="utf-8")
    assert between_markers(page) == reference.reference_markdown(), (
        f"docs/scenarios.md differs from the presets: run `{reference.COMMAND}`"
    )


def test_the_scenario_reference_tables_every_preset_and_key() -> None:
    text = reference.reference_markdown()
    for presets in reference.GROUPS.values():
        assert f"| key path | unit | {' | '.join(presets)} | source |" in text
    # Keys that only one preset has are there, with "–" for the others.
    assert '| `municipalities["Municipality B"].population` | people |' in text
    row = next(line for line in text.splitlines() if "`sanctions.recompliance`" in line)
    assert "0.5 (2006), 0.4 (2013)" in row  # the timeline's values by date
    assert "(2013), denmark-2014:" in row  # the later source, after the presets that give it


def test_writing_replaces_only_what_stands_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        f"before\n{reference.START}\nOLD-TABLE\n{reference.END}\nafter\n", encoding="utf-8"
    )
    assert reference.main(["--write", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"before\n{reference.START}\n<!-- Built from the presets")
    assert text.endswith(f"{reference.END}\nafter\n")
    assert "OLD-TABLE" not in text
    with pytest.raises(ScenarioError, match=r"page\.md: expected one"):
        reference.replace_between_markers("no markers", "x", "page.md")


def test_the_targets_page_is_what_targets_toml_gives() -> None:
    page = (DOCS / "targets.md").read_text(encoding="utf-8")
    assert page == targets_page.targets_markdown(), (
        "docs/targets.md differs from src/streetlevel/data/targets.toml: "
        f"run `{targets_page.COMMAND}`"
    )


def test_the_targets_page_lists_every_target_with_its_source() -> None:
    page = targets_page.targets_markdown()
    for target in load_targets():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{target.name}` |"))
        assert target.source.split(":")[0] in row, target.name
    assert all(f"## {role.capitalize()} targets" in page for role in ROLES)


PRIVATE_NOTES = ("TARGETS" + ".md", "MODEL" + ".md")
"""The design notes the project was started from, which do not ship: no file may send a reader
to them (spelled in two parts so that this file does not name them)."""
TEXT_SUFFIXES = {".md", ".py", ".toml", ".csv", ".txt", ".json", ".yml", ".yaml", ".cfg"}


def _generated(part: str) -> bool:
    return part == "__pycache__" or part.endswith(".egg-info")


def test_no_file_cites_the_unshipped_design_notes() -> None:
    places = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for folder in ("docs", "src", "tests", "benchmarks"):
        places.extend(
            p
            for p in (ROOT / folder).rglob("*")
            if p.suffix in TEXT_SUFFIXES and not any(_generated(part) for part in p.parts)
        )
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}"
        for path in places
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(name in line for name in PRIVATE_NOTES)
    ]
    assert found == [], (
        "cite the studies, docs/model.md (the model) or docs/targets.md (the figures) instead:\n"
        + "\n".join(found)
    )
