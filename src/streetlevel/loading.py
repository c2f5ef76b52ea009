"""The one entry point for scenario files: read, parse, validate, and explain what is wrong.

>>> scenario = load_scenario("municipality-a")
>>> scenario.scenario.name
'municipality-a'
>>> "denmark-2011" in list_presets()
True
"""

from __future__ import annotations

import hashlib
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from streetlevel.errors import ScenarioError
from streetlevel.scenario import Scenario

__all__ = [
    "list_presets",
    "load_scenario",
    "preset_text",
    "scenario_from_dict",
    "scenario_hash",
    "scenario_to_toml",
    "with_overrides",
]

PRESET_SUFFIX = ".toml"


def list_presets() -> list[str]:
    """Names of the scenario presets shipped inside the package."""
    folder = resources.files("streetlevel") / "presets"
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
    path = resources.files("streetlevel") / "presets" / f"{name}{PRESET_SUFFIX}"
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
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte {err.start} is {raw[err.start]:#04x})"
        ) from err
    return _parse(text, str(path))


def scenario_from_dict(data: dict[str, Any], origin: str = "<dict>") -> Scenario:
    """Validate an already-parsed scenario (e.g. a preset changed in a notebook)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_explain(err, origin)) from None


def with_overrides(scenario: Scenario, *, reporting_years: int | None = None) -> Scenario:
    """A copy of ``scenario`` with command-line overrides applied and re-validated."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    if reporting_years is not None:
        data["time"]["reporting_years"]["value"] = reporting_years
        data["time"]["reporting_years"]["source"] = "command line (--years)"
    return scenario_from_dict(data, "command-line overrides")


def scenario_to_toml(scenario: Scenario) -> str:
    """The resolved scenario as TOML; loading it again gives an equal scenario."""
    return tomli_w.dumps(scenario.model_dump(mode="json", exclude_none=True))


def scenario_hash(scenario: Scenario) -> str:
    """A SHA-256 of the resolved scenario, written into every run's manifest."""
    return hashlib.sha256(scenario_to_toml(scenario).encode("utf-8")).hexdigest()


def _parse(text: str, origin: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{origin}: not valid TOML: {err}") from None
    return scenario_from_dict(data, origin)


def _explain(err: ValidationError, origin: str) -> str:
    lines = [f"{origin}: {err.error_count()} problem(s) in the scenario:"]
    for e in err.errors(include_url=False):
        loc = e["loc"]
        where = _key_path(loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            expected = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            lines.append(f"  {where}: unknown key{expected}")
        elif e["type"] == "missing":
            lines.append(f"  {where}: missing (required)")
        else:
            got = e.get("input")
            shown = repr(got) if not isinstance(got, dict) else "a table"
            if len(shown) > 80:
                shown = shown[:77] + "..."
            lines.append(f"  {where}: {e['msg']} (got {shown})")
    return "\n".join(lines)


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Walk the schema along ``loc`` to list the keys allowed where an unknown one was found."""
    node: Any = Scenario
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
