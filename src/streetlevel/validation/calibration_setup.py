"""Calibration set-ups: which parameters a calibration fits, their bounds, units and sources,
as data.

A set-up file (``data/calibration-<name>.toml`` in the package, or a user's own) names the
scenarios it serves (by their ``[scenario] country``), the preset whose published figures it
fits, and one ``[[parameters]]`` table per free parameter: its key path, bounds, unit, source
(why the bounds are there) and the target it mainly moves. A key path addresses an element of
a list of tables by its name, never by its position, so a set-up stays right when a
municipality or category is added before it:

>>> from streetlevel.scenario.loading import load_scenario
>>> setup = load_setup("denmark")
>>> path = next(p.path for p in setup.parameters if p.path.startswith("categories"))
>>> path
'categories["match-3"].exit_other'
>>> resolve_path(load_scenario("denmark-2011"), path)
'categories[2].exit_other'
>>> parameter_of(load_scenario("denmark-2011"), path).unit
'per week'

Set-up files are validated like scenario files: every problem is reported at once, with the
file, the key path and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from streetlevel.errors import StreetlevelError
from streetlevel.scenario.loading import explain, not_utf8, parse_toml
from streetlevel.scenario.params import Param
from streetlevel.scenario.schema import Name, Scenario, Section
from streetlevel.validation.targets import load_targets

__all__ = [
    "CalibrationSetup",
    "FreeParameter",
    "SetupError",
    "check_against",
    "key_parts",
    "list_setups",
    "load_setup",
    "parameter_of",
    "resolve_path",
    "setup_for",
]

SHIPPED = "calibration-"
"""Prefix of the set-up files shipped in ``streetlevel/data`` (``calibration-denmark.toml``)."""


class SetupError(StreetlevelError):
    """A calibration set-up is missing, does not validate, or does not fit the scenario."""


@dataclass(frozen=True)
class FreeParameter:
    """A parameter to fit: its key path, bounds (in ``unit``), the target it mainly moves (for
    the identification report), and why the bounds are there.

    ``path`` is written as in ``--set`` (``attendance.intercept``), and may address an element
    of a list by name (``categories["match-3"].exit_other``)."""

    path: str
    lower: float
    upper: float
    moves: str
    unit: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class CalibrationSetup:
    """A set-up file, validated: what a calibration of the scenarios it serves fits."""

    name: str
    description: str
    countries: tuple[str, ...]
    targets: str
    """The preset whose published figures are fitted, unless the scenario's own name has some."""
    parameters: tuple[FreeParameter, ...]
    origin: str


# -- the file's schema ------------------------------------------------------------------------


class _Meta(Section):
    name: Name
    description: str
    countries: Annotated[list[Name], Field(min_length=1)]
    targets: Name


class _Parameter(Section):
    path: Name
    lower: float
    upper: float
    unit: Name
    moves: Name
    source: Annotated[str, Field(min_length=1)]


class _SetupFile(Section):
    setup: _Meta
    parameters: Annotated[list[_Parameter], Field(min_length=1)]


# -- key paths by name ------------------------------------------------------------------------

_TOKEN = re.compile(r'(?P<dot>^|\.)(?P<key>[A-Za-z_]\w*)|\[(?P<index>\d+)\]|\["(?P<name>[^"]+)"\]')


def key_parts(path: str) -> list[str | int | tuple[str]]:
    """A key path as keys (str), positions (int) and names in a list ((name,)).

    >>> key_parts('municipalities["Municipality B"].management_strictness')
    ['municipalities', ('Municipality B',), 'management_strictness']
    >>> key_parts("categories[2].exit_other")
    ['categories', 2, 'exit_other']
    """
    parts: list[str | int | tuple[str]] = []
    at = 0
    while at < len(path):
        found = _TOKEN.match(path, at)
        if found is None or (found["key"] and bool(found["dot"]) != bool(parts)):
            raise SetupError(
                f'{path}: not a key path (keys joined by dots; a list element as [2] or ["name"])'
            )
        if found["key"]:
            parts.append(found["key"])
        elif found["index"]:
            parts.append(int(found["index"]))
        else:
            parts.append((found["name"],))
        at = found.end()
    if not parts or not isinstance(parts[0], str):
        raise SetupError(f"{path!r}: not a key path")
    return parts


def resolve_path(scenario: Scenario, path: str) -> str:
    """``path`` with every list element named by its position in ``scenario`` (the form
    :func:`streetlevel.scenario.loading.with_values` takes).

    Raises:
        SetupError: no element of that name, or no such key.
    """
    node: Any = scenario
    out = ""
    for part in key_parts(path):
        if isinstance(part, str):
            node = getattr(node, part, None)
            if node is None:
                where = out or "the top"
                raise SetupError(
                    f"{path}: no key {part!r} at {where} of scenario {scenario.scenario.name}"
                )
            out += f".{part}" if out else part
            continue
        if not isinstance(node, list):
            raise SetupError(f"{path}: {out} is not a list in scenario {scenario.scenario.name}")
        if isinstance(part, int):
            if part >= len(node):
                raise SetupError(
                    f"{path}: {out} has {len(node)} elements in scenario {scenario.scenario.name}"
                )
            index = part
        else:
            names = [getattr(item, "name", None) for item in node]
            if part[0] not in names:
                raise SetupError(
                    f"{path}: no element of {out} named {part[0]!r} in scenario "
                    f"{scenario.scenario.name} (it has: {', '.join(map(str, names))})"
                )
            index = names.index(part[0])
        node = node[index]
        out += f"[{index}]"
    return out


def parameter_of(scenario: Scenario, path: str) -> Param:
    """The parameter at a key path (``categories[2].exit_other`` or
    ``categories["match-3"].exit_other``)."""
    node: Any = scenario
    for part in key_parts(resolve_path(scenario, path)):
        node = node[part] if isinstance(part, int) else getattr(node, str(part))
    if not isinstance(node, Param):
        raise SetupError(f"{path}: not a parameter")
    return node


def check_against(
    parameters: Sequence[FreeParameter], scenario: Scenario, origin: str = "calibrate"
) -> list[str]:
    """The positional key path of each free parameter in ``scenario``.

    Raises:
        SetupError: a parameter is not in the scenario, is not a number, or is in another
            unit than its bounds (``origin`` names the set-up in the message).
    """
    problems: list[str] = []
    paths: list[str] = []
    for i, p in enumerate(parameters):
        try:
            param = parameter_of(scenario, p.path)
        except SetupError as err:
            problems.append(f"  parameters[{i}].path: {err}")
            continue
        if p.unit is not None and param.unit != p.unit:
            problems.append(
                f"  parameters[{i}].unit: the bounds are in {p.unit!r}, but {p.path} in "
                f"scenario {scenario.scenario.name} is in {param.unit!r}"
            )
        if not isinstance(param.value, int | float) or isinstance(param.value, bool):
            problems.append(f"  parameters[{i}].path: {p.path} is not a number")
        paths.append(resolve_path(scenario, p.path))
    if problems:
        lines = "\n".join(problems)
        raise SetupError(
            f"{origin}: {len(problems)} problem(s) with scenario {scenario.scenario.name}:\n{lines}"
        )
    return paths


# -- loading ----------------------------------------------------------------------------------


def list_setups() -> list[str]:
    """The names of the shipped set-ups."""
    folder = resources.files("streetlevel").joinpath("data")
    return sorted(
        entry.name.removeprefix(SHIPPED).removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.startswith(SHIPPED) and entry.name.endswith(".toml")
    )


def load_setup(source: str | Path) -> CalibrationSetup:
    """A shipped set-up by name (``denmark``) or a set-up file, validated.

    Raises:
        SetupError: naming the file, the key path and what was expected, for every problem
            at once.
    """
    if isinstance(source, str) and source in list_setups():
        entry = resources.files("streetlevel").joinpath(f"data/{SHIPPED}{source}.toml")
        return _parse(entry.read_bytes(), f"streetlevel/data/{SHIPPED}{source}.toml")
    path = Path(source)
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such calibration set-up"
        raise SetupError(f"{source}: {what} (shipped: {', '.join(list_setups())})")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SetupError(f"{path}: cannot read: {err.strerror}") from None
    return _parse(raw, str(path))


def _parse(raw: bytes, origin: str) -> CalibrationSetup:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SetupError(f"{origin}: {not_utf8(raw, err)}") from None
    data = parse_toml(text, origin, SetupError)
    problems: list[str] = []
    spec: _SetupFile | None = None
    try:
        spec = _SetupFile.model_validate(data)
    except ValidationError as err:
        # Its first line is a heading; the problems follow, one a line.
        problems += explain(err, origin, _SetupFile, "the calibration set-up").splitlines()[1:]
    problems += _check_parameters(data.get("parameters"))
    targets = data.get("setup", {}).get("targets") if isinstance(data.get("setup"), dict) else None
    if isinstance(targets, str) and not load_targets(targets):
        problems.append(f"  setup.targets: no published figures describe {targets!r}")
    if problems or spec is None:
        lines = "\n".join(problems)
        raise SetupError(
            f"{origin}: {len(problems)} problem(s) in the calibration set-up:\n{lines}"
        )
    return CalibrationSetup(
        name=spec.setup.name,
        description=spec.setup.description,
        countries=tuple(spec.setup.countries),
        targets=spec.setup.targets,
        parameters=tuple(
            FreeParameter(p.path, p.lower, p.upper, p.moves, p.unit, p.source)
            for p in spec.parameters
        ),
        origin=origin,
    )


def _check_parameters(parameters: Any) -> list[str]:
    """What the schema cannot see in ``[[parameters]]``: a key path's syntax, a path listed
    twice, bounds in the wrong order, a target that is not published."""
    if not isinstance(parameters, list):
        return []
    known = {t.name for t in load_targets()}
    problems: list[str] = []
    seen: set[str] = set()
    for i, p in enumerate(parameters):
        if not isinstance(p, dict):
            continue
        path, lower, upper, moves = (p.get(k) for k in ("path", "lower", "upper", "moves"))
        if isinstance(path, str):
            try:
                key_parts(path)
            except SetupError as err:
                problems.append(f"  parameters[{i}].path: {err}")
            if path in seen:
                problems.append(f"  parameters[{i}].path: {path} is listed twice")
            seen.add(path)
        if isinstance(lower, int | float) and isinstance(upper, int | float) and lower >= upper:
            problems.append(f"  parameters[{i}]: lower ({lower}) must be below upper ({upper})")
        if isinstance(moves, str) and moves not in known:
            problems.append(
                f"  parameters[{i}].moves: no published figure {moves!r} "
                "(expected a target of streetlevel/data/targets.toml)"
            )
    return problems


def setup_for(scenario: Scenario) -> CalibrationSetup:
    """The shipped set-up that serves ``scenario``: the one that lists its country.

    Raises:
        SetupError: none does (pass a set-up file instead).
    """
    country = scenario.scenario.country
    for name in list_setups():
        setup = load_setup(name)
        if country in setup.countries:
            return setup
    raise SetupError(
        f"calibrate {scenario.scenario.name}: no calibration set-up serves country "
        f"{country!r} (shipped: {', '.join(list_setups())}); pass one with --setup FILE"
    )
