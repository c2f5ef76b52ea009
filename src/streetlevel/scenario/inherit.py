"""Scenarios that inherit: a file names a base and states only what differs from it.

A scenario file may start with ``base = "denmark-2011"`` (a preset, or a path ending in
``.toml`` relative to the file), ``remove = [...]`` (key paths of the base to drop) and
``resolve_at = "2011"`` (every dated value of the base replaced by its value in force on 1
January of that year, the source of that date kept: a timeline taken as one year). Its
tables are then merged over the base, resolved first (a base may have a base):

- a table merges key by key: the child's keys override, the base's others stay;
- a parameter (a table with ``value`` or ``values``) is replaced whole: its value, unit,
  source and calibration describe one fact, and a new value under the base's source or
  calibration record would misstate where it came from;
- a list of tables that all have a ``name`` (``[[categories]]``, ``[[regions]]``,
  ``[[municipalities]]``) merges by name: an entry with a base entry's name merges over it,
  in the base's place; an entry with a new name is added at the end. To replace a list
  whole (the 2014 category set differs entirely), remove it first;
- anything else (a text, a list of numbers) is replaced.

``remove`` takes key paths, a list entry chosen by its name:
``remove = ["synthetic", 'municipalities["Municipality B"]', "regions"]``. Removal happens
before the merge, so removing a list and listing new entries replaces it.

These functions work on parsed TOML (dicts): :mod:`~.sources` reads the files, and
:mod:`~.loading` merges them with these rules and validates the result.

>>> base = {"sanctions": {"recompliance": {"value": 0.5, "unit": "per week", "source": "a"}},
...         "regions": [{"name": "A", "n": 1}, {"name": "B", "n": 2}]}
>>> child = {"regions": [{"name": "B", "n": 3}, {"name": "C", "n": 4}]}
>>> merge(remove(base, ['regions["A"]'], "child"), child)["regions"]
[{'name': 'B', 'n': 3}, {'name': 'C', 'n': 4}]
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from streetlevel.errors import ScenarioError

__all__ = [
    "BASE_KEY",
    "REMOVE_KEY",
    "RESOLVE_KEY",
    "Differences",
    "differences",
    "is_parameter",
    "merge",
    "named_path",
    "parse_removal",
    "remove",
    "removes",
    "set_depth",
]

BASE_KEY = "base"
"""The top-level key naming a file's base."""
REMOVE_KEY = "remove"
"""The top-level key listing what to drop from the base."""
RESOLVE_KEY = "resolve_at"
"""The top-level key naming a calendar year at which the base's dated values are resolved
(a timeline taken as one year's scenario: ``denmark-2011`` is ``denmark-2006-2014`` in 2011)."""
NAME = "name"
"""The key by which entries of a list of tables are merged."""
QUOTED = r'"(?:[^"\\\n]|\\.)*"'
"""A name in double quotes, with JSON's escapes (``\\"`` for a quote in a name)."""
REMOVAL_STEP = re.compile(rf"([A-Za-z_]\w*)((?:\[{QUOTED}\])*)")
"""One dotted part of a removal path: a key, then optional ``["entry name"]`` selectors."""

Step = str | tuple[str]
"""A step of a path through parsed TOML: a key, or ``(name,)`` for the list entry so named."""
Loc = tuple[str | int, ...]


def is_parameter(node: Any) -> bool:
    """Whether ``node`` is a parameter table (replaced whole when inherited)."""
    return isinstance(node, dict) and ("value" in node or "values" in node)


def _named(node: Any) -> bool:
    """Whether ``node`` is a non-empty list of tables that all have a text ``name``."""
    return (
        isinstance(node, list)
        and bool(node)
        and all(isinstance(e, dict) and isinstance(e.get(NAME), str) for e in node)
    )


def merge(base: dict[str, Any], child: dict[str, Any], path: str = "") -> dict[str, Any]:
    """``child`` merged over ``base`` (neither is changed), by the rules of this module.

    Raises:
        ValueError: naming the key path, for two entries of one list with the same name
            (which of them would merge over the base's entry?).
    """
    out = copy.deepcopy(base)
    for key, value in child.items():
        old = out.get(key)
        here = f"{path}{key}"
        if isinstance(value, dict) and isinstance(old, dict):
            replace = is_parameter(value) or is_parameter(old)
            out[key] = copy.deepcopy(value) if replace else merge(old, value, f"{here}.")
        elif isinstance(old, list) and _named(value) and _named(old):
            out[key] = _merge_named(old, value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_named(base: list[dict[str, Any]], child: list[dict[str, Any]], here: str) -> list[Any]:
    names = [entry[NAME] for entry in child]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{here}: names must be unique, {twice} appear more than once")
    by_name = {entry[NAME]: entry for entry in child}
    merged = [
        merge(entry, by_name.get(entry[NAME], {}), f"{here}[{i}].") for i, entry in enumerate(base)
    ]
    known = {entry[NAME] for entry in base}
    return merged + [copy.deepcopy(e) for e in child if e[NAME] not in known]


def parse_removal(text: str) -> list[Step]:
    """A removal path as steps.

    >>> parse_removal('municipalities["Municipality B"].capital')
    ['municipalities', ('Municipality B',), 'capital']
    """
    steps: list[Step] = []
    for part in _split_dots(text):
        match = REMOVAL_STEP.fullmatch(part)
        if match is None:
            raise ValueError(
                f"{text!r} is not a key path (expected keys joined by dots, a list entry "
                'chosen by its name: municipalities["Municipality B"])'
            )
        steps.append(match.group(1))
        steps.extend((json.loads(name),) for name in re.findall(QUOTED, match.group(2)))
    return steps


def _split_dots(text: str) -> list[str]:
    """Split at dots outside quotes (an entry's name may hold a dot)."""
    parts, current, quoted, escaped = [], "", False, False
    for char in text:
        if char == "." and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
    return [*parts, current]


def remove(data: dict[str, Any], paths: list[str], origin: str) -> dict[str, Any]:
    """A copy of ``data`` without the keys and list entries at ``paths``.

    Raises:
        ScenarioError: naming ``origin`` and the path, for a path that names nothing (a
            misspelt removal would otherwise keep what it meant to drop).
    """
    out = copy.deepcopy(data)
    for i, text in enumerate(paths):
        where = f"{origin}: {REMOVE_KEY}[{i}]: {text!r}"
        try:
            steps = parse_removal(text)
        except ValueError as err:
            raise ScenarioError(f"{origin}: {REMOVE_KEY}[{i}]: {err}") from None
        node: Any = out
        for step in steps[:-1]:
            node = _step(node, step)
            if node is None:
                raise ScenarioError(f"{where}: no such key in the base")
        last = steps[-1]
        if isinstance(last, tuple) and isinstance(node, list):
            kept = [e for e in node if not (isinstance(e, dict) and e.get(NAME) == last[0])]
            if len(kept) == len(node):
                raise ScenarioError(f"{where}: no entry named {last[0]!r} in the base")
            node[:] = kept
        elif isinstance(last, str) and isinstance(node, dict) and last in node:
            del node[last]
        else:
            raise ScenarioError(f"{where}: no such key in the base")
    return out


def _step(node: Any, step: Step) -> Any:
    """The child of ``node`` at ``step``; None if there is none."""
    if isinstance(step, tuple):
        if not isinstance(node, list):
            return None
        found = [e for e in node if isinstance(e, dict) and e.get(NAME) == step[0]]
        return found[0] if found else None
    return node.get(step) if isinstance(node, dict) else None


def named_path(data: dict[str, Any], loc: Loc) -> list[Step | int]:
    """A location in ``data`` (keys and list indices, as pydantic reports an error) with each
    index of a named list entry replaced by that entry's name, which is how files that
    inherit refer to entries."""
    steps: list[Step | int] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            entry = node[part]
            named = isinstance(entry, dict) and isinstance(entry.get(NAME), str)
            steps.append((entry[NAME],) if named else part)
            node = entry
        elif isinstance(part, str) and isinstance(node, dict):
            steps.append(part)
            node = node.get(part)
        else:
            steps.append(part)
            node = None
    return steps


def set_depth(layer: dict[str, Any], steps: list[Step | int]) -> tuple[int, bool]:
    """How many leading ``steps`` a file's own data (without its base) holds, and whether it
    replaced what its bases held there (a parameter or a value, replaced whole by a merge):
    the file that holds the most of a location, or replaced it, set what is there."""
    node: Any = layer
    for depth, step in enumerate(steps):
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
        else:
            node = _step(node, step)
        if node is None:
            return depth, False
        if (
            is_parameter(node)
            or not isinstance(node, dict | list)
            or (isinstance(node, list) and not _named(node))
        ):
            return depth + 1, True
    return len(steps), True


def removes(paths: list[str], steps: list[Step | int]) -> bool:
    """Whether one of the removal ``paths`` drops ``steps`` or a table above it."""
    for text in paths:
        try:
            removed = parse_removal(text)
        except ValueError:
            continue
        if len(removed) <= len(steps) and list(steps[: len(removed)]) == removed:
            return True
    return False


@dataclass
class Differences:
    """What a child changes in its base: the tables to merge over it, the key paths to remove
    first, and for each changed key the base's value (a step path to its text)."""

    changed: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    was: dict[tuple[str, ...], Any] = field(default_factory=dict)


def differences(base: dict[str, Any], child: dict[str, Any]) -> Differences:
    """The smallest ``remove`` and tables that turn ``base`` into ``child``: merging
    ``changed`` over ``base`` without ``removed`` gives ``child`` again.

    >>> d = differences({"a": {"x": 1, "y": 2}, "b": {"z": 3}}, {"a": {"x": 1, "y": 5}})
    >>> d.changed, d.removed
    ({'a': {'y': 5}}, ['b'])
    """
    out = Differences()
    out.changed = _diff_table(base, child, "", (), out)
    return out


def _diff_table(
    base: dict[str, Any], child: dict[str, Any], path: str, at: tuple[str, ...], out: Differences
) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for key in base:
        if key not in child:
            out.removed.append(f"{path}{key}")
    for key, value in child.items():
        if key not in base:
            changed[key] = copy.deepcopy(value)
            continue
        old = base[key]
        if old == value:
            continue
        here = f"{path}{key}"
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and not (is_parameter(value) or is_parameter(old))
        ):
            table = _diff_table(old, value, f"{here}.", (*at, key), out)
            if table:
                changed[key] = table
        elif _named(value) and _named(old) and _keeps_order(old, value):
            entries = _diff_named(old, value, here, (*at, key), out)
            if entries:
                changed[key] = entries
        else:
            if _named(old) and _named(value):
                out.removed.append(here)  # a list replaced whole: remove, then list anew
            else:
                out.was[(*at, key)] = old
            changed[key] = copy.deepcopy(value)
    return changed


def _keeps_order(base: list[dict[str, Any]], child: list[dict[str, Any]]) -> bool:
    """Whether to write ``child`` as changes by name to ``base``: it keeps at least as many
    of the base's entries as it drops (else listing it anew is shorter and clearer), the
    entries it keeps come first and in the base's order, and the new ones after them (which
    is all a merge by name can give)."""
    names = [e[NAME] for e in base]
    mine = [e[NAME] for e in child]
    shared = [n for n in mine if n in names]
    kept_enough = 2 * len(shared) >= len(names)
    return kept_enough and mine[: len(shared)] == shared == [n for n in names if n in mine]


def _diff_named(
    base: list[dict[str, Any]],
    child: list[dict[str, Any]],
    here: str,
    at: tuple[str, ...],
    out: Differences,
) -> list[dict[str, Any]]:
    mine = {e[NAME]: e for e in child}
    entries: list[dict[str, Any]] = []
    for entry in base:
        name = entry[NAME]
        selector = f"{here}[{json.dumps(name, ensure_ascii=False)}]"
        if name not in mine:
            out.removed.append(selector)
        elif mine[name] != entry:
            diff = _diff_table(entry, mine[name], f"{selector}.", (*at, name), out)
            entries.append({NAME: name, **diff})
    known = {e[NAME] for e in base}
    return entries + [copy.deepcopy(e) for e in child if e[NAME] not in known]
