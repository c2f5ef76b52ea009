"""The presets' reference tables: every parameter's value in each preset, its unit and source.

``docs/scenarios.md`` holds these tables between two markers; they are built from the presets,
never written by hand, and ``tests/test_doc_tables.py`` fails when the page differs from what
:func:`reference_markdown` prints. Refresh the page with::

    python -m streetlevel.scenario.reference --write docs/scenarios.md

A row is a key path as ``--set`` and error messages write it, with list entries by name
(``categories["match-1"].exit_work``); a dated value is written as its values by date.

>>> row = reference_rows(["denmark-2011"])["sanctions"][0]
>>> row.key, row.unit, row.values
('sanctions.recompliance', 'per week', ['0.5'])
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streetlevel.errors import ScenarioError
from streetlevel.scenario.loading import resolve
from streetlevel.scenario.sources import load_layers

__all__ = [
    "END",
    "GROUPS",
    "START",
    "Row",
    "markdown_cell",
    "reference_markdown",
    "reference_rows",
    "replace_between_markers",
]

START = "<!-- generated: scenario-reference start -->"
END = "<!-- generated: scenario-reference end -->"
COMMAND = "python -m streetlevel.scenario.reference --write docs/scenarios.md"
"""The command that refreshes the page, named in the page and in the test's message."""

GROUPS: dict[str, list[str]] = {
    "Danish presets": [
        "denmark-2006-2014",
        "denmark-2011",
        "denmark-2011-municipalities",
        "denmark-2014",
        "municipality-a",
        "municipality-b",
    ],
    "Norwegian preset": ["norway-2010"],
}
"""Presets tabled together: the Danish ones share a timeline, so mostly sources too."""

SKIPPED = frozenset({"description", "note", "label"})
"""Free-text keys: their text is in the presets (``streetlevel show``), not a value to table."""
NONE = "–"
"""A cell for a key the preset does not have."""


@dataclass
class Row:
    """One key path of a group of presets: its value in each, its unit, its sources."""

    key: str
    unit: str = NONE
    values: list[str] = field(default_factory=list)
    sources: list[list[tuple[str, str]]] = field(default_factory=list)
    """Per preset, (date or "", source) of each value; empty where the preset lacks the key."""


def reference_rows(presets: list[str]) -> dict[str, list[Row]]:
    """The rows of each top-level section, over ``presets`` (first appearance sets the order).

    Raises:
        ScenarioError: for a name that is not a preset.
    """
    found: dict[str, Row] = {}
    sections: dict[str, list[Row]] = {}
    for i, preset in enumerate(presets):
        for key, node in _flatten(resolve(load_layers(preset)), []):
            row = found.get(key)
            if row is None:
                row = found[key] = Row(key, values=[NONE] * len(presets))
                row.sources = [[] for _ in presets]
                sections.setdefault(key.split(".")[0].split("[")[0], []).append(row)
            row.values[i], row.sources[i] = _cell(node)
            if isinstance(node, dict):
                row.unit = str(node.get("unit", NONE))
    return sections


def _flatten(node: Any, path: list[str]) -> list[tuple[str, Any]]:
    """(key path, parameter table or plain value) for every leaf of a resolved scenario."""
    if isinstance(node, dict) and ("value" in node or "values" in node):
        return [(".".join(path), node)]
    if isinstance(node, dict):
        leaves: list[tuple[str, Any]] = []
        for key, value in node.items():
            if key not in SKIPPED:
                leaves.extend(_flatten(value, [*path, key]))
        return leaves
    if isinstance(node, list) and node and all(isinstance(e, dict) for e in node):
        leaves = []
        for entry in node:
            named = f'{path[-1]}["{entry.get("name", "")}"]'
            leaves.extend(
                _flatten({k: v for k, v in entry.items() if k != "name"}, [*path[:-1], named])
            )
        return leaves
    return [(".".join(path), node)]


def _cell(node: Any) -> tuple[str, list[tuple[str, str]]]:
    """A value as a table cell, and the sources of its values."""
    if not isinstance(node, dict):
        return _shown(node), []
    if "values" in node:
        dated = sorted(node["values"].items())
        cell = ", ".join(f"{_shown(e['value'])} ({date[:4]})" for date, e in dated)
        return cell, [(date[:4], str(e.get("source", ""))) for date, e in dated]
    return _shown(node["value"]), [("", str(node.get("source", "")))]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return repr(value)


def _sources(row: Row, presets: list[str]) -> str:
    """One source if the presets share it; otherwise each, after the presets that give it."""
    users: dict[str, list[str]] = {}
    for preset, sources in zip(presets, row.sources, strict=True):
        for date, source in sources:
            users.setdefault(source, []).append(f"{preset} ({date})" if date else preset)
    if not users:
        return NONE  # a plain value (a name, the era): no source
    if len(users) == 1:
        return next(iter(users))
    return "; ".join(f"{', '.join(who)}: {source}" for source, who in users.items())


def markdown_cell(text: str) -> str:
    """``text`` as one cell of a Markdown table: on one line, its pipes escaped.

    >>> markdown_cell("a | b\\n c")
    'a \\\\| b c'
    """
    return " ".join(text.split()).replace("|", "\\|")


def reference_markdown() -> str:
    """The reference tables of every preset group, as Markdown (what the page holds)."""
    lines = [
        f"<!-- Built from the presets by `{COMMAND}`; edit the presets, not this table. -->",
    ]
    for title, presets in GROUPS.items():
        lines.extend(["", f"### {title}"])
        header = ["key path", "unit", *presets, "source"]
        for section, rows in reference_rows(presets).items():
            lines.extend(["", f"#### {title.split()[0]}: `{section}`", ""])
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            for row in rows:
                cells = [f"`{row.key}`", row.unit, *row.values, _sources(row, presets)]
                lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, body: str, origin: str) -> str:
    """``text`` with what stands between :data:`START` and :data:`END` replaced by ``body``.

    Raises:
        ScenarioError: if ``text`` lacks the markers, in that order, once each.
    """
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ScenarioError(f"{origin}: expected one {START!r} and, after it, one {END!r}")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{body}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Print the reference tables, or ``--write`` them into a page between its markers."""
    parser = argparse.ArgumentParser(prog="python -m streetlevel.scenario.reference")
    parser.add_argument("--write", type=Path, help="the page to refresh in place")
    args = parser.parse_args(argv)
    body = reference_markdown()
    if args.write is None:
        sys.stdout.write(body)
        return 0
    try:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(replace_between_markers(text, body, str(args.write)), "utf-8")
    except (OSError, ScenarioError) as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
