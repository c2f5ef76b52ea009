"""The one entry point for scenario files: read, parse, validate, and explain what is wrong.

A file may name a base and state only its differences (:mod:`~.inherit`); loading reads the
chain of bases (:mod:`~.sources`), merges it, validates the result once, and names in each
message the file that set the value in question.

>>> scenario = load_scenario("municipality-a")
>>> scenario.scenario.name
'municipality-a'
>>> "denmark-2011" in list_presets()
True
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from streetlevel.errors import ScenarioError
from streetlevel.scenario import inherit
from streetlevel.scenario.dates import change_years, data_at_year, resolve_data
from streetlevel.scenario.render import to_toml
from streetlevel.scenario.schema import Scenario
from streetlevel.scenario.sources import (
    Layer,
    chain,
    list_presets,
    load_layers,
    not_utf8,
    parse_toml,
    read_user_text,
    shown,
    split,
)

__all__ = [
    "WILDCARD",
    "expand_key",
    "explain",
    "list_presets",
    "load_scenario",
    "not_utf8",
    "parse_assignment",
    "parse_toml",
    "preset_text",
    "read_user_text",
    "resolve",
    "resolved_text",
    "scenario_from_dict",
    "scenario_hash",
    "scenario_to_toml",
    "with_overrides",
    "with_values",
]

Loc = tuple[int | str, ...]
KEY_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*")
"""A key path as error messages write it: ``municipalities[1].management_strictness``."""
WILDCARD = "[*]"
"""In a key path given to :func:`with_values` (``--set``, experiment files): every entry of
that list, ``municipalities[*].absence_route``."""
SCALAR_TAGS = ("bool", "int", "float", "str")
"""The last part of pydantic's location of an error in a union of scalar types (an
experiment's values and constants); no streetlevel key has these names."""
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
"""A TOML key that needs no quotes."""


def preset_text(name: str) -> str:
    """A preset as a complete scenario file, to copy and edit: its base merged in, every
    value written out, a parameter a line, and its opening comments (what ``streetlevel show
    NAME`` prints)."""
    if name not in list_presets():
        raise ScenarioError(
            f"{name}: no such preset (expected one of: {', '.join(list_presets())})"
        )
    return resolved_text(load_layers(name))


def resolved_text(layers: list[Layer]) -> str:
    """The scenario of a chain of files (:func:`load_layers`) as one TOML file in the
    presets' style, validated; the opening comments are the last file's."""
    scenario = _validate(layers)
    top = layers[-1]
    header = list(top.header)
    if top.base is not None:
        lineage = " <- ".join(layer.name for layer in reversed(layers))
        header += [
            *(["#"] if header else []),
            f"# Resolved ({lineage}): every value written out, those of the bases included.",
        ]
    return to_toml(scenario.model_dump(mode="json", exclude_none=True), header=header)


def load_scenario(source: str | Path) -> Scenario:
    """Load a preset by name or a scenario file by path, its bases merged in, validated.

    Raises:
        ScenarioError: naming the file, the key path and what was expected.
    """
    return _validate(load_layers(source))


def resolve(layers: list[Layer]) -> dict[str, Any]:
    """The merged data of a chain of files: each file's resolution of dated values and its
    removals, then its tables, over the bases before it (:mod:`~.inherit`)."""
    data: dict[str, Any] = {}
    for layer in layers:
        if layer.resolve_at is not None:
            data = resolve_data(data, layer.resolve_at)
        try:
            data = inherit.merge(inherit.remove(data, list(layer.remove), layer.origin), layer.data)
        except ValueError as err:
            raise ScenarioError(f"{layer.origin}: {err}") from None
    return data


def _validate(layers: list[Layer]) -> Scenario:
    """The merged chain validated, and so is the scenario of each year a dated value
    changes in; every message names the top file, and the base a value came from."""
    origin = layers[-1].origin
    data = resolve(layers)
    scenario = _checked(data, origin, layers)
    for year in change_years(scenario):
        _checked(data_at_year(scenario, year), f"{origin} (in force from {year}-01-01)", layers)
    return scenario


def _checked(data: dict[str, Any], origin: str, layers: list[Layer]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(explain(err, origin, set_in=_set_in(data, layers))) from None


def _set_in(data: dict[str, Any], layers: list[Layer]) -> Callable[[Loc], str | None]:
    """Which base set the value at a location of the merged ``data`` (None: the top file)."""

    def find(loc: Loc) -> str | None:
        steps = inherit.named_path(data, loc)
        best, depth = layers[-1], -1
        for layer in reversed(layers):
            held, replaced = inherit.set_depth(layer.data, steps)
            if held > depth:
                best, depth = layer, held
            if replaced or inherit.removes(list(layer.remove), steps):
                break  # what the bases held there was replaced or dropped by this file
        return None if best is layers[-1] or depth <= 0 else best.origin

    return find


def scenario_from_dict(data: dict[str, Any], origin: str = "<dict>") -> Scenario:
    """Validate an already-parsed scenario (e.g. a preset changed in a notebook).

    It may name a base (``{"base": "denmark-2011", "scale": {...}}``); a base given as a
    path is relative to the current folder.
    """
    return _validate(chain(split(data, origin, origin, Path.cwd())))


def with_overrides(scenario: Scenario, *, reporting_years: int | None = None) -> Scenario:
    """A copy of ``scenario`` with the run command's options applied and re-validated."""
    if reporting_years is None:
        return scenario
    return with_values(scenario, {"time.reporting_years": reporting_years}, "--years")


def with_values(scenario: Scenario, values: dict[str, Any], origin: str = "override") -> Scenario:
    """A copy of ``scenario`` with parameters set by key path, re-validated.

    Key paths are written as in error messages: ``decision.caseworker.intercept``,
    ``categories[2].exit_other``, ``municipalities[1].management_strictness``; ``[*]`` stands
    for every entry of a list (:func:`expand_key`). A parameter's
    source becomes ``origin`` so the run's resolved scenario says where the value came from.
    A value replaces a parameter's values by date, if it has them, for the whole run; a table
    of dates (``{"2006-01-01": 0.3, "2014-01-01": 0.5}``) gives it values by date.

    >>> s = with_values(load_scenario("municipality-a"), {"sanctions.recompliance": 0.3})
    >>> s.sanctions.recompliance.value, s.sanctions.recompliance.source
    (0.3, 'override')
    """
    data = scenario.model_dump(mode="json", exclude_none=True)
    expanded = {p: v for k, v in values.items() for p in expand_key(data, k)}
    for path, value in expanded.items():
        parent, key = _walk(data, path, origin)
        node: Any = parent.get(key)
        if inherit.is_parameter(node) and isinstance(value, dict):
            # Values by date: {"2006-01-01": 0.3, "2014-01-01": 0.5}, each from ``origin``.
            dated = {str(d): {"value": v, "source": origin} for d, v in value.items()}
            parent[key] = {"unit": node["unit"], "values": dated}
        elif inherit.is_parameter(node) and "values" in node:
            # A plain value replaces the dates: it holds for the whole run.
            parent[key] = {"value": value, "unit": node["unit"], "source": origin}
        elif inherit.is_parameter(node):
            node["value"] = value
            node["source"] = origin
            node.pop("calibration", None)
        elif key in parent:
            parent[key] = value
        else:
            raise ScenarioError(f"{origin}: {path}: no such key in the scenario")
    return scenario_from_dict(data, origin)


def expand_key(data: dict[str, Any], key: str) -> list[str]:
    """Expand ``[*]`` in a key path to every index of that list in the scenario ``data``.

    >>> expand_key({"m": [{"x": 1}, {"x": 2}]}, "m[*].x")
    ['m[0].x', 'm[1].x']
    >>> expand_key({"m": []}, "m[*].x")
    []
    >>> expand_key({"m": []}, "m[3].n[*].x")
    ['m[3].n[*].x']
    """
    if WILDCARD not in key:
        return [key]
    head, _, tail = key.partition(WILDCARD)
    node: Any = data
    try:
        for part in re.findall(r"[^.\[\]]+", head):
            node = node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        return [key]  # no such list: with_values names the key as unknown
    if not isinstance(node, list):
        return [key]
    return [path for i in range(len(node)) for path in expand_key(data, f"{head}[{i}]{tail}")]


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``key.path=value`` (the value as a TOML value, or a bare string).

    >>> parse_assignment("decision.caseworker.intercept=-3.2")
    ('decision.caseworker.intercept', -3.2)
    >>> parse_assignment("municipalities[0].absence_route=caseworker")
    ('municipalities[0].absence_route', 'caseworker')
    """
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ScenarioError(f"--set {text!r}: expected KEY.PATH=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path.strip(), value


def _walk(data: dict[str, Any], path: str, origin: str) -> tuple[dict[str, Any], str]:
    """The table holding the last key of ``path``, and that key."""
    if not KEY_PATH.fullmatch(path.replace(WILDCARD, "[0]")):
        raise ScenarioError(
            f"{origin}: {path}: not a key path (expected keys joined by dots, each with "
            "optional list indices: categories[2].exit_other, or [*] for every entry)"
        )
    if WILDCARD in path:  # left by expand_key: what comes before it is not a list
        raise ScenarioError(
            f"{origin}: {path}: not a list before {WILDCARD}: the scenario has no list at "
            f"{path.partition(WILDCARD)[0]}"
        )
    parts: list[str | int] = []
    for token in path.replace("]", "").split("."):
        name, *indices = token.split("[")
        parts.append(name)
        parts.extend(int(i) for i in indices)
    node: Any = data
    try:
        for part in parts[:-1]:
            node = node[part]
    except (KeyError, IndexError, TypeError):
        raise ScenarioError(f"{origin}: {path}: no such key in the scenario") from None
    last = parts[-1] if parts else ""
    if not isinstance(node, dict) or not isinstance(last, str):
        raise ScenarioError(f"{origin}: {path}: not a key of a table")
    return node, last


def scenario_to_toml(scenario: Scenario) -> str:
    """The resolved scenario as TOML; loading it again gives an equal scenario."""
    return tomli_w.dumps(scenario.model_dump(mode="json", exclude_none=True))


def scenario_hash(scenario: Scenario) -> str:
    """A SHA-256 of the resolved scenario, written into every run's manifest."""
    return hashlib.sha256(scenario_to_toml(scenario).encode("utf-8")).hexdigest()


def explain(
    err: ValidationError,
    origin: str,
    model: type[BaseModel] = Scenario,
    what: str = "the scenario",
    *,
    set_in: Callable[[Loc], str | None] | None = None,
) -> str:
    """One line per problem, each naming its key path; unknown keys list those of ``model``
    that were expected there (shared by every file validated with pydantic). ``set_in``
    names the file (a base) that set what is at a location, when it is not ``origin``."""
    problems: list[str] = []
    scalar_at: set[tuple[int | str, ...]] = set()
    for e in err.errors(include_url=False):
        loc = e["loc"]
        if loc and loc[-1] in SCALAR_TAGS:
            # Pydantic reports a value that is none of a union's types once per type; one
            # line says the same.
            if loc[:-1] not in scalar_at:
                scalar_at.add(loc[:-1])
                problems.append(
                    f"  {_key_path(loc[:-1])}: expected true or false, a number or text "
                    f"(got {shown(e.get('input'))})"
                )
            continue
        where = _key_path(loc) or "(top level)"
        base = set_in(loc) if set_in is not None and loc else None
        if base is not None:
            where = f"{where} (set in {base})"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1], model)
            expected = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            problems.append(f"  {where}: unknown key{expected}")
        elif e["type"] == "missing":
            problems.append(f"  {where}: missing (required)")
        elif e["type"] == "value_error" and isinstance(e.get("input"), dict):
            # A cross-check of a whole table: its message names the keys involved.
            message = str(e["msg"]).removeprefix("Value error, ")
            problems.append(f"  {message}" if not loc else f"  {where}: {message}")
        elif e["type"] == "value_error":
            # Our own check of one value (a date of a dated parameter): it says what it got.
            problems.append(f"  {where}: {str(e['msg']).removeprefix('Value error, ')}")
        else:
            problems.append(f"  {where}: {e['msg']} (got {shown(e.get('input'))})")
    return "\n".join([f"{origin}: {len(problems)} problem(s) in {what}:", *problems])


def _key_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a TOML key path; a key that is not a bare TOML key (empty,
    dotted) is quoted, and pydantic's ``[key]`` marker (the key itself is wrong) dropped.

    >>> _key_path(("levers", 0, "levels", "", "[key]"))
    'levers[0].levels.""'
    >>> _key_path(("constants", "a.b"))
    'constants."a.b"'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            key = part if BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += f".{key}" if out else key
    return out


def _allowed_keys(loc: tuple[int | str, ...], model: type[BaseModel] = Scenario) -> list[str]:
    """Walk the schema along ``loc`` to list the keys allowed where an unknown one was found."""
    node: Any = model
    for part in loc:
        node = _unwrap(node)
        if isinstance(part, int):
            args = typing.get_args(node)
            node = args[0] if args else None
        elif typing.get_origin(node) is dict:
            # A dated parameter's values: any date leads to a dated value.
            node = typing.get_args(node)[1]
        elif isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(part)
            node = field.annotation if field else None
        else:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def _unwrap(node: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` so the walk reaches the model or list inside."""
    while True:
        origin = typing.get_origin(node)
        if origin is typing.Annotated:
            node = typing.get_args(node)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(node) if a is not type(None)]
            node = options[0]
        else:
            return node
