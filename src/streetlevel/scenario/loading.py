"""The one entry point for scenario files: read, parse, validate, and explain what is wrong.

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
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from streetlevel.errors import ScenarioError, StreetlevelError
from streetlevel.scenario.schema import Scenario

__all__ = [
    "list_presets",
    "load_scenario",
    "not_utf8",
    "parse_assignment",
    "parse_toml",
    "preset_text",
    "scenario_from_dict",
    "scenario_hash",
    "scenario_to_toml",
    "with_overrides",
    "with_values",
]

PRESET_SUFFIX = ".toml"
KEY_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*")
"""A key path as error messages write it: ``municipalities[1].management_strictness``."""
SCALAR_TAGS = ("bool", "int", "float", "str")
"""The last part of pydantic's location of an error in a union of scalar types (an
experiment's values and constants); no streetlevel key has these names."""
SHOWN_CHARS = 80
"""A bad value is shown in a message up to this length."""
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
"""A TOML key that needs no quotes."""


def list_presets() -> list[str]:
    """Names of the scenario presets shipped inside the package."""
    folder = resources.files("streetlevel.scenario") / "presets"
    return sorted(
        p.name.removesuffix(PRESET_SUFFIX)
        for p in folder.iterdir()
        if p.name.endswith(PRESET_SUFFIX)
    )


def preset_text(name: str) -> str:
    """The TOML text of a preset, comments included, for a user to copy and edit."""
    if name not in list_presets():
        raise ScenarioError(
            f"{name}: no such preset (expected one of: {', '.join(list_presets())})"
        )
    path = resources.files("streetlevel.scenario") / "presets" / f"{name}{PRESET_SUFFIX}"
    return path.read_text(encoding="utf-8")


def load_scenario(source: str | Path) -> Scenario:
    """Load a preset by name or a scenario file by path, validated.

    Raises:
        ScenarioError: naming the file, the key path and what was expected.
    """
    if isinstance(source, str) and source in list_presets():
        return _parse(preset_text(source), f"preset {source}")
    path = Path(source)
    if not path.exists():
        raise ScenarioError(
            f"{source}: no such file and no such preset (presets: {', '.join(list_presets())})"
        )
    if path.exists() and not path.is_file():
        # A directory, or a device or pipe that would never end (/dev/zero, /dev/stdin).
        raise ScenarioError(f"{path}: not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror}") from err
    try:
        # A byte-order mark (Windows editors write one) is not part of the TOML.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{path}: {not_utf8(raw, err)}") from None
    return _parse(text, str(path))


def not_utf8(raw: bytes, err: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8 text, for a message that names the line.

    >>> raw = b"a = 1\\nb = '\\xff'"
    >>> try:
    ...     raw.decode("utf-8")
    ... except UnicodeDecodeError as err:
    ...     print(not_utf8(raw, err))
    line 2: not UTF-8 text (byte 11 is 0xff)
    """
    line = raw.count(b"\n", 0, err.start) + 1
    return f"line {line}: not UTF-8 text (byte {err.start} is {raw[err.start]:#04x})"


def scenario_from_dict(data: dict[str, Any], origin: str = "<dict>") -> Scenario:
    """Validate an already-parsed scenario (e.g. a preset changed in a notebook)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_explain(err, origin)) from None


def with_overrides(scenario: Scenario, *, reporting_years: int | None = None) -> Scenario:
    """A copy of ``scenario`` with the run command's options applied and re-validated."""
    if reporting_years is None:
        return scenario
    return with_values(scenario, {"time.reporting_years": reporting_years}, "--years")


def with_values(scenario: Scenario, values: dict[str, Any], origin: str = "override") -> Scenario:
    """A copy of ``scenario`` with parameters set by key path, re-validated.

    Key paths are written as in error messages: ``decision.caseworker.intercept``,
    ``categories[2].exit_other``, ``municipalities[1].management_strictness``. A parameter's
    source becomes ``origin`` so the run's resolved scenario says where the value came from.

    >>> s = with_values(load_scenario("municipality-a"), {"sanctions.recompliance": 0.3})
    >>> s.sanctions.recompliance.value, s.sanctions.recompliance.source
    (0.3, 'override')
    """
    data = scenario.model_dump(mode="json", exclude_none=True)
    for path, value in values.items():
        parent, key = _walk(data, path, origin)
        if isinstance(parent.get(key), dict) and "value" in parent[key]:
            parent[key]["value"] = value
            parent[key]["source"] = origin
            parent[key].pop("calibration", None)
        elif key in parent:
            parent[key] = value
        else:
            raise ScenarioError(f"{origin}: {path}: no such key in the scenario")
    return scenario_from_dict(data, origin)


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
    if not KEY_PATH.fullmatch(path):
        raise ScenarioError(
            f"{origin}: {path}: not a key path (expected keys joined by dots, each with "
            "optional list indices: categories[2].exit_other)"
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


def _parse(text: str, origin: str) -> Scenario:
    return scenario_from_dict(parse_toml(text, origin, ScenarioError), origin)


def parse_toml(text: str, origin: str, error: type[StreetlevelError]) -> dict[str, Any]:
    """Parse a streetlevel TOML file; a syntax error, or nesting too deep for Python's
    recursive parser, is ``error`` naming ``origin``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{origin}: not valid TOML: {err}") from None
    except RecursionError:
        raise error(f"{origin}: not valid TOML: arrays or tables nested too deep") from None


def _explain(
    err: ValidationError,
    origin: str,
    model: type[BaseModel] = Scenario,
    what: str = "the scenario",
) -> str:
    """One line per problem, each naming its key path; unknown keys list those of ``model``
    that were expected there (shared by every file validated with pydantic)."""
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
                    f"(got {_shown(e.get('input'))})"
                )
            continue
        where = _key_path(loc) or "(top level)"
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
        else:
            problems.append(f"  {where}: {e['msg']} (got {_shown(e.get('input'))})")
    return "\n".join([f"{origin}: {len(problems)} problem(s) in {what}:", *problems])


def _shown(value: Any) -> str:
    """A value as a message shows it: a table by that word, anything long cut short."""
    shown = repr(value) if not isinstance(value, dict) else "a table"
    return shown if len(shown) <= SHOWN_CHARS else shown[: SHOWN_CHARS - 3] + "..."


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
