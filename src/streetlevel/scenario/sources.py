"""Where a scenario comes from: a preset or a file, read and parsed, and its chain of bases.

Reads each file of the chain as it is written (:class:`Layer`), without merging or
validating: :mod:`~.loading` does that, by the rules of :mod:`~.inherit`. A base is a preset,
or a path ending in ``.toml`` relative to the file that names it.

>>> [layer.name for layer in load_layers("municipality-a")]
['denmark-2006-2014', 'denmark-2011', 'municipality-a']
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from streetlevel.errors import ScenarioError, StreetlevelError
from streetlevel.scenario import inherit

__all__ = [
    "Layer",
    "list_presets",
    "load_layers",
    "not_utf8",
    "parse_toml",
    "read_user_text",
    "shown",
    "split",
]

PRESET_SUFFIX = ".toml"
SHOWN_CHARS = 80
"""A bad value is shown in a message up to this length."""


def list_presets() -> list[str]:
    """Names of the scenario presets shipped inside the package."""
    folder = resources.files("streetlevel.scenario") / "presets"
    return sorted(
        p.name.removesuffix(PRESET_SUFFIX)
        for p in folder.iterdir()
        if p.name.endswith(PRESET_SUFFIX)
    )


@dataclass(frozen=True)
class Layer:
    """One file of a scenario's chain of bases, as it is written."""

    origin: str
    """The file as messages name it: ``preset denmark-2011``, or its path."""
    name: str
    """A short name: the preset's, or the file's name."""
    data: dict[str, Any]
    """Its tables, without ``base`` and ``remove``."""
    base: str | None = None
    """Its ``base``, as written."""
    remove: tuple[str, ...] = ()
    folder: Path | None = None
    """Where a base given as a path is looked for (None: a preset, whose bases are presets)."""
    header: tuple[str, ...] = ()
    """Its opening comment lines."""
    identity: str = ""
    """What it is, for finding cycles of bases: a preset's name, a file's resolved path."""
    resolve_at: int | None = None
    """Its ``resolve_at``: the year at which its base's dated values are resolved."""


def load_layers(source: str | Path) -> list[Layer]:
    """A preset or a file and its chain of bases, the first base first, not yet merged.

    Raises:
        ScenarioError: for a file that cannot be read or parsed, a base that does not exist,
            or bases that form a cycle.
    """
    if isinstance(source, str) and source in list_presets():
        return chain(_preset_layer(source))
    path = Path(source)
    if not path.exists():
        raise ScenarioError(
            f"{source}: no such file and no such preset (presets: {', '.join(list_presets())})"
        )
    return chain(_file_layer(path, str(path)))


def _preset_layer(name: str) -> Layer:
    path = resources.files("streetlevel.scenario") / "presets" / f"{name}{PRESET_SUFFIX}"
    origin = f"preset {name}"
    return _layer(path.read_text(encoding="utf-8"), origin, name, None, origin)


def _file_layer(path: Path, origin: str) -> Layer:
    text = read_user_text(path, origin, ScenarioError)
    return _layer(text, origin, path.name, path.parent, str(path.resolve()))


def _layer(text: str, origin: str, name: str, folder: Path | None, identity: str) -> Layer:
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    data = parse_toml(text, origin, ScenarioError)
    return split(data, origin, name, folder, tuple(header), identity)


def split(
    data: dict[str, Any],
    origin: str,
    name: str,
    folder: Path | None,
    header: tuple[str, ...] = (),
    identity: str = "",
) -> Layer:
    """A file's data as a layer: its ``base`` and ``remove`` taken out and checked.

    ``identity`` tells the file apart from the others of its chain (default: ``origin``
    among data that is not a file, e.g. a dict in a notebook).
    """
    data = dict(data)
    base = data.pop(inherit.BASE_KEY, None)
    removed = data.pop(inherit.REMOVE_KEY, None)
    resolve_at = data.pop(inherit.RESOLVE_KEY, None)
    if resolve_at is not None:
        if base is None:
            raise ScenarioError(
                f"{origin}: {inherit.RESOLVE_KEY}: only a file with a base can resolve its "
                "dated values"
            )
        # Written as text, as the era is: a year names the scenario, it is not a quantity.
        if not isinstance(resolve_at, str) or not re.fullmatch(r"[0-9]{4}", resolve_at):
            raise ScenarioError(
                f'{origin}: {inherit.RESOLVE_KEY}: expected a calendar year such as "2011" '
                f"(got {shown(resolve_at)})"
            )
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise ScenarioError(
            f"{origin}: base: expected the name of a preset or the path of a .toml file "
            f"(got {shown(base)})"
        )
    if removed is not None:
        if base is None:
            raise ScenarioError(f"{origin}: remove: only a file with a base can remove from it")
        if not isinstance(removed, list) or not all(isinstance(r, str) for r in removed):
            raise ScenarioError(
                f"{origin}: remove: expected a list of key paths (got {shown(removed)})"
            )
    identity = identity or f"data {origin}"
    year = int(resolve_at) if resolve_at is not None else None
    return Layer(origin, name, data, base, tuple(removed or ()), folder, header, identity, year)


def chain(top: Layer) -> list[Layer]:
    """``top`` and its bases, the first base first; a cycle or a missing base is an error."""
    layers = [top]
    seen = [top.identity]
    while layers[0].base is not None:
        child = layers[0]
        base = _base_of(child)
        if base.identity in seen:
            cycle = " -> ".join([*(layer.origin for layer in reversed(layers)), base.origin])
            raise ScenarioError(f"{child.origin}: base: {child.base!r} makes a cycle: {cycle}")
        seen.append(base.identity)
        layers.insert(0, base)
    return layers


def _base_of(child: Layer) -> Layer:
    """The file that ``child`` names as its base: a preset, or a ``.toml`` file (its path
    relative to ``child``'s folder)."""
    ref = child.base
    assert ref is not None
    is_path = ref.endswith(PRESET_SUFFIX) or "/" in ref or "\\" in ref
    if not is_path:
        if ref not in list_presets():
            raise ScenarioError(
                f"{child.origin}: base: no preset {ref!r} (presets: {', '.join(list_presets())}; "
                "a file's path ends in .toml)"
            )
        return _preset_layer(ref)
    if child.folder is None:
        raise ScenarioError(f"{child.origin}: base: a preset's base must be a preset, not {ref!r}")
    path = child.folder / ref
    if not path.exists():
        raise ScenarioError(f"{child.origin}: base: no such file {str(path)!r}")
    if not path.is_file():
        raise ScenarioError(f"{child.origin}: base: {str(path)!r} is not a regular file")
    return _file_layer(path, str(path))


def read_user_text(
    path: Path, origin: str, error: type[StreetlevelError], missing: str = "no such file"
) -> str:
    """The text of a user's UTF-8 file, a byte-order mark dropped (Windows editors write one).

    Raises:
        error: naming ``origin``, when the path is not a regular file (a directory, or a device
            or pipe that would never end: /dev/zero, /dev/stdin), is ``missing``, cannot be read
            or is not UTF-8 (where, and how to convert it).
    """
    if not path.is_file():
        raise error(f"{origin}: {'not a regular file' if path.exists() else missing}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error(f"{origin}: cannot read: {err.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{origin}: {not_utf8(raw, err)}") from None


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


def parse_toml(text: str, origin: str, error: type[StreetlevelError]) -> dict[str, Any]:
    """Parse a streetlevel TOML file; a syntax error, or nesting too deep for Python's
    recursive parser, is ``error`` naming ``origin``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{origin}: not valid TOML: {err}") from None
    except RecursionError:
        raise error(f"{origin}: not valid TOML: arrays or tables nested too deep") from None


def shown(value: Any) -> str:
    """A value as a message shows it: a table by that word, anything long cut short."""
    shown = repr(value) if not isinstance(value, dict) else "a table"
    return shown if len(shown) <= SHOWN_CHARS else shown[: SHOWN_CHARS - 3] + "..."
