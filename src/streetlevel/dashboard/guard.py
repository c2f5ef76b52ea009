"""What a request to the dashboard may ask.

The page only ever sends the directories, levels and numbers it offers. Anything else is a
forged or broken request: it is refused with HTTP 400 and a one-line reason, before any file
is opened or any run is started. A directory is named by the exact text the dashboard lists
(its label), never by a path that is joined or resolved, so ``../``, absolute paths, encoded
dots, NUL bytes and symlinks inside a served directory name nothing that is served.

Nothing here imports the web framework: the checks are plain functions over the JSON body,
tested without a server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from streetlevel.errors import StreetlevelError

__all__ = [
    "MAX_BODY_BYTES",
    "BadRequestError",
    "Kind",
    "RefusedError",
    "check_body",
    "checked_body",
    "choice",
    "count",
    "item",
    "number",
    "optional",
    "text",
    "texts",
]

T = TypeVar("T")
MAX_BODY_BYTES = 1 << 20
"""The largest request body accepted (1 MiB, answered 413 beyond). The largest the page sends
is the municipalities view's list of a whole country's names, a few kilobytes."""


class RefusedError(StreetlevelError):
    """A request the server will not carry out; answered with HTTP :attr:`status` and this
    message (one line, never a stack trace)."""

    status = 400


class BadRequestError(RefusedError):
    """A request the page never sends; answered with HTTP 400 and this message."""

    status = 400


@dataclass(frozen=True)
class Kind:
    """What a component's property may hold in a request: ``accepts(value)`` and, for the
    message, what was expected."""

    accepts: Callable[[Any], bool]
    expected: str


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_count(value: Any) -> bool:
    # bool is an int in Python; JSON true is never a count.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


text = Kind(_is_text, "a string")
count = Kind(_is_count, "a whole number >= 0")
number = Kind(_is_number, "a finite number")
texts = Kind(lambda v: isinstance(v, list) and all(map(_is_text, v)), "a list of strings")


def optional(kind: Kind) -> Kind:
    """``kind`` or nothing (JSON null, or the value left out: a property the page has not
    set yet)."""
    return Kind(lambda v: v is None or kind.accepts(v), f"{kind.expected} or null")


def choice(value: Any, offered: Collection[str], what: str) -> str:
    """``value`` if the page offered it, else :class:`BadRequestError` (without echoing a long
    value back).

    >>> choice("runs/dk", ["runs/dk"], "run directory")
    'runs/dk'
    >>> try:
    ...     choice("runs/dk/../other", ["runs/dk"], "run directory")
    ... except BadRequestError as err:
    ...     print(err)
    'runs/dk/../other': not a run directory the dashboard offers
    """
    if isinstance(value, str) and value in offered:
        return value
    raise BadRequestError(f"{_shown(value)}: not a {what} the dashboard offers")


def item(value: Any, offered: Sequence[T], what: str) -> T:
    """The entry of ``offered`` at place ``value`` if the page offered it (a whole number
    below its length), else :class:`BadRequestError`: the page names a file by its place in
    the server's own list, so no value it could send is a path.

    >>> item(1, ["counts.csv", "units.csv"], "file")
    'units.csv'
    >>> try:
    ...     item("/etc/passwd", ["counts.csv"], "file")
    ... except BadRequestError as err:
    ...     print(err)
    '/etc/passwd': not a file the dashboard offers
    """
    if _is_count(value) and value < len(offered):
        return offered[int(value)]
    raise BadRequestError(f"{_shown(value)}: not a {what} the dashboard offers")


def _shown(value: Any) -> str:
    # A forged value may be long: never echoed back whole.
    return repr(value) if len(repr(value)) <= 80 else f"{repr(value)[:77]}..."


def _specs(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    specs = body.get(key, [])
    if not isinstance(specs, list) or not all(
        isinstance(s, dict) and _is_text(s.get("id")) and _is_text(s.get("property")) for s in specs
    ):
        raise BadRequestError(f"{key}: expected a list of {{id, property, value}} objects")
    return specs


def _bare(prop: str) -> str:
    # An output that other callbacks also write is named "children@<hash>".
    return prop.split("@", 1)[0]


def checked_body(
    data: bytes, callbacks: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, Kind]
) -> Any:
    """The callback request ``data`` parsed and checked (:func:`check_body`), or
    :class:`BadRequestError` with a one-line reason for anything that goes wrong on the way.

    Any exception counts, not only the parser's ``ValueError``: JSON nested deeper than
    Python's recursion limit raises ``RecursionError``, and a value nested just below it can
    raise it in the checks (a ``repr`` for the message), which would otherwise be a 500.

    >>> try:
    ...     checked_body(b'{"output": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}, {})
    ... except BadRequestError as err:
    ...     print(err)
    the request body is not valid JSON (RecursionError)
    >>> try:
    ...     checked_body(bytes([0x7B, 0xFF, 0x7D]), {}, {})
    ... except BadRequestError as err:
    ...     print(err)
    the request body is not valid JSON (UnicodeDecodeError)
    """
    try:
        body = json.loads(data)
    except Exception as err:  # every failure to parse is the client's
        problem = type(err).__name__
        raise BadRequestError(f"the request body is not valid JSON ({problem})") from None
    try:
        check_body(body, callbacks, kinds)
    except BadRequestError:
        raise
    except Exception as err:  # see the docstring
        problem = type(err).__name__
        raise BadRequestError(f"the request could not be checked ({problem})") from None
    return body


def check_body(
    body: Any, callbacks: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, Kind]
) -> None:
    """Refuse a callback request (``POST /_dash-update-component``) that the page would not
    send: not a JSON object, an output no callback writes, outputs, inputs or state other
    than the callback's, or a value not of its property's kind (``kinds``, keyed by
    ``"id.property"``). ``callbacks`` is the Dash app's ``callback_map``.

    >>> check_body([], {}, {})
    Traceback (most recent call last):
    ...
    streetlevel.dashboard.guard.BadRequestError: the request body is not a JSON object
    """
    if not isinstance(body, dict):
        raise BadRequestError("the request body is not a JSON object")
    output = body.get("output")
    callback = callbacks.get(output) if isinstance(output, str) else None
    if callback is None:
        raise BadRequestError("output: not an output of any callback of this page")
    declared = callback["output"]
    declared = list(declared) if isinstance(declared, list | tuple) else [declared]
    outputs = body.get("outputs")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    wanted = [(o.component_id, _bare(o.component_property)) for o in declared]
    given = [
        (o.get("id"), _bare(o["property"]) if _is_text(o.get("property")) else None)
        for o in outputs
        if isinstance(o, dict)
    ]
    if given != wanted:
        raise BadRequestError("outputs: not the outputs of the callback named by output")
    for key in ("inputs", "state"):
        specs = _specs(body, key)
        if [(s["id"], s["property"]) for s in specs] != [
            (d["id"], d["property"]) for d in callback[key]
        ]:
            raise BadRequestError(f"{key}: not the {key} of the callback named by output")
        for spec in specs:
            name = f"{spec['id']}.{spec['property']}"
            kind = kinds.get(name)
            if kind is None or not kind.accepts(spec.get("value")):
                expected = kind.expected if kind is not None else "nothing"
                raise BadRequestError(f"{name}: expected {expected}")
    changed = body.get("changedPropIds", [])
    names = {f"{s['id']}.{s['property']}" for s in body.get("inputs", [])}
    if not isinstance(changed, list) or not all(_is_text(c) and c in names for c in changed):
        raise BadRequestError("changedPropIds: expected a list of the callback's inputs")
