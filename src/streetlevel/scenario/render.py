"""Scenarios written as TOML in the presets' style: a parameter a line, a section a table.

What ``streetlevel show`` prints. ``loading.scenario_to_toml`` (tomli_w) writes each
parameter as a sub-table of three to five lines; that is what a run saves and hashes, and it
stays as it is so that hashes do not change. A person reads, compares and edits the presets'
style more easily: ``key = { value = ..., unit = "...", source = "..." }``. A parameter with
values by date gets a sub-table, a date a line.

>>> print(to_toml({"sanctions": {"recompliance": {"value": 0.5, "unit": "per week",
...     "source": "assumption"}}}), end="")
[sanctions]
recompliance = { value = 0.5, unit = "per week", source = "assumption" }
"""

from __future__ import annotations

import json
import re
from typing import Any

import tomli_w

__all__ = ["inline", "to_toml"]

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
"""A TOML key that needs no quotes."""
LITERAL = re.compile(r"[^'\x00-\x1f\x7f]*")
"""Text that a TOML literal string ('...') can hold: no apostrophe, no control character."""
WAS_CHARS = 100
"""A base's value in a comment is cut to this length."""


def inline(value: Any) -> str:
    """A value as TOML writes it on one line (tables inline, lists bracketed).

    >>> inline({"value": 2, "targets": ["a", "b"], "ok": True})
    '{ value = 2, targets = ["a", "b"], ok = true }'
    """
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    if isinstance(value, str) and '"' in value and LITERAL.fullmatch(value):
        return f"'{value}'"  # a literal string: a quote inside needs no escape
    line: str = tomli_w.dumps({"v": value})
    return line.removeprefix("v = ").removesuffix("\n")


def _key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _dotted(path: list[str]) -> str:
    return ".".join(_key(k) for k in path)


def _is_parameter(node: Any) -> bool:
    return isinstance(node, dict) and ("value" in node or "values" in node)


def _is_tables(node: Any) -> bool:
    return isinstance(node, list) and bool(node) and all(isinstance(e, dict) for e in node)


def to_toml(
    data: dict[str, Any],
    *,
    header: list[str] | None = None,
    was: dict[tuple[str, ...], Any] | None = None,
    was_in: str = "base",
) -> str:
    """``data`` (parsed TOML, e.g. a scenario's ``model_dump``) as TOML in the presets' style.

    Args:
        data: the tables to write, in the order they are to appear.
        header: comment lines (each starting with ``#``) to open the file with.
        was: for some keys (a path of keys, a list entry by its name), the value they had in
            the base, written as a comment above the key.
        was_in: what the base is called in those comments.
    """
    writer = _Writer(was or {}, was_in)
    writer.lines.extend(header or [])
    writer.body([], data, ())
    text = "\n".join(writer.lines).lstrip("\n")
    return text + "\n" if text else ""


class _Writer:
    def __init__(self, was: dict[tuple[str, ...], Any], was_in: str) -> None:
        self.lines: list[str] = []
        self.was = was
        self.was_in = was_in

    def note(self, at: tuple[str, ...]) -> None:
        if at not in self.was:
            return
        old = self.was[at]
        if _is_parameter(old):
            shown = f"value = {inline(old['value'])}" if "value" in old else "values by date"
        else:
            shown = inline(old)
        if len(shown) > WAS_CHARS:
            shown = shown[: WAS_CHARS - 3] + "..."
        self.lines.append(f"# {self.was_in}: {shown}")

    def body(self, path: list[str], table: dict[str, Any], at: tuple[str, ...]) -> None:
        """A table's own lines, then its sub-tables (TOML wants them after)."""
        later: list[tuple[str, Any]] = []
        for key, value in table.items():
            dated = _is_parameter(value) and "values" in value
            section = isinstance(value, dict) and not _is_parameter(value)
            if dated or section or _is_tables(value):
                later.append((key, value))  # a table of its own, after this table's lines
            else:
                self.note((*at, key))
                self.lines.append(f"{_key(key)} = {inline(value)}")
        for key, value in later:
            here = [*path, key]
            if isinstance(value, list):
                for entry in value:
                    self.lines.extend(["", f"[[{_dotted(here)}]]"])
                    name = entry.get("name")
                    self.body(here, entry, (*at, key, name if isinstance(name, str) else ""))
            elif _is_parameter(value):
                self.lines.extend(["", f"[{_dotted(here)}]"])
                self.note((*at, key))
                for field, item in value.items():
                    if field == "values" and isinstance(item, dict):
                        for date, entry in item.items():
                            self.lines.append(f"values.{_key(date)} = {inline(entry)}")
                    else:
                        self.lines.append(f"{_key(field)} = {inline(item)}")
            else:
                self.lines.extend(["", f"[{_dotted(here)}]"])
                self.body(here, value, (*at, key))
