"""The catalogue of indicators: every figure's label, unit and definition, once.

The entries are data (``streetlevel/data/indicators.toml``); this module reads them, resolves a
name (or a patterned one, such as ``sanction_rate_category_2``) to its entry, and shows a value
in its unit. Every place that shows an indicator takes its label and unit from here: the CLI's
tables and ``--json``, the figures and HTML reports, and the dashboard.

>>> r = lookup("sanction_rate_category_2")
>>> r.label, r.unit.name, r.format(0.1234)
('sanction rate, category 2', 'share', '12.3 %')
>>> lookup("young_share_gap").format(0.021)
'+2.1 pp'
>>> lookup("national_sanction_rate").format_difference(0.005, signed=False)
'0.5 pp'
>>> lookup("sanction_rate_municipality_a", municipality="Municipality A").label
'sanction rate, Municipality A'
>>> lookup("rate", scope="benchmark").definition.split(" / ")[1]
'full-year recipients, as the national database publishes it'
>>> lookup("sanction_rat")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streetlevel.output.catalogue.UnknownIndicatorError: 'sanction_rat': not an indicator of ...
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from rich.table import Table

from streetlevel.errors import StreetlevelError
from streetlevel.model.codes import AGE_GROUPS, DESTINATIONS
from streetlevel.model.tally import PROFILE

__all__ = [
    "MEAN_CI",
    "SCOPES",
    "SPREAD",
    "SPREAD_PERCENTILES",
    "SPREAD_PREDICTION",
    "UNITS",
    "Entry",
    "Resolved",
    "Unit",
    "UnknownIndicatorError",
    "catalogue_table",
    "entries",
    "find",
    "label",
    "lookup",
]

SCOPES = ("run", "benchmark")
"""Where a name is looked up: ``run`` (municipality-years, the summary, an experiment's
outcomes, validation) or ``benchmark`` (its tables; a name not there is looked up in ``run``)."""
MISSING = "-"
"""How a value that was not measured (NaN, None) is shown."""

# -- the vocabulary of uncertainty: two different intervals, named once for every place that
# shows one (the CLI's tables, --json keys, reports, the dashboard; docs/validation.md).
SPREAD = "spread of replications"
"""Where one replication's figure falls: what a published figure, itself one realisation of
its year, is compared with. Not a confidence interval: more replications pin its ends down,
they do not narrow it. JSON keys and table columns: ``spread_low``, ``spread_high``."""
SPREAD_PERCENTILES = f"{SPREAD} (2.5–97.5 %)"
"""The spread as the 2.5th and 97.5th percentiles of the replications' figures (``run``,
``summary``, ``compare``, the dashboard)."""
SPREAD_PREDICTION = f"{SPREAD} (95 % prediction)"
"""The spread as ``validate`` estimates it: a 95 % prediction interval for one replication
(Student's t on the replications' standard deviation, plus the calibrated parameters'
variance where drawn; docs/validation.md)."""
MEAN_CI = "95 % CI of the mean"
"""How well the replications pin the mean down: mean ± t(0.975, n − 1)·sd/√n over the n
replications; it narrows as they grow. JSON keys and table columns: ``mean_ci_low``,
``mean_ci_high``."""


@dataclass(frozen=True)
class Unit:
    """How the values of a unit are shown."""

    name: str
    description: str
    symbol: str = ""
    """Written after a value, and beside an axis's label."""
    scale: float = 1.0
    """A value is shown as ``scale`` times itself (100 for a share shown in %)."""
    digits: int = 2
    separators: bool = False
    """Thousands separators (12,345)."""
    signed: bool = False
    """A difference: its sign is always shown (+2.1 pp)."""
    difference: str = ""
    """The unit of a difference of two values (a share's is percentage points); "" for itself."""
    kind: str = "number"
    """``number``, ``flag`` (yes / no) or ``key`` (an identifier, shown as it is)."""

    def format(
        self,
        value: Any,
        digits: int | None = None,
        signed: bool | None = None,
        symbol: bool = True,
    ) -> str:
        """``value`` in this unit (with its symbol unless ``symbol`` is false); ``-`` for a
        value that was not measured.

        >>> UNITS["count"].format(13730.0), UNITS["share"].format(float("nan"))
        ('13,730', '-')
        """
        if self.kind == "key":
            return MISSING if value is None else str(value)
        try:
            number = float(value)
        except (TypeError, ValueError):  # None, pandas' NA
            return MISSING
        if math.isnan(number):
            return MISSING
        if self.kind == "flag":
            return "yes" if number else "no"
        sign = "+" if (self.signed if signed is None else signed) else ""
        comma = "," if self.separators else ""
        places = self.digits if digits is None else digits
        text = f"{self.scale * number:{sign}{comma}.{places}f}"
        return f"{text} {self.symbol}" if self.symbol and symbol else text


UNITS = {
    u.name: u
    for u in (
        Unit("share", "a ratio of two counts, shown in per cent", "%", 100.0, 1,
             difference="percentage_points"),
        Unit("percentage_points", "a difference of two shares", "pp", 100.0, 1, signed=True),
        Unit("count", "people, events or client-weeks", digits=0, separators=True),
        Unit("currency", "an amount of the benefit's currency", digits=0, separators=True),
        Unit("weeks", "weeks", "weeks", digits=2),
        Unit("ratio", "a ratio of two counts (1 = as many)", digits=2),
        Unit("score", "a number on the model's or the method's own scale", digits=2),
        Unit("per_100", "per 100 citizens", digits=2),
        Unit("rank", "a place, 1 = the first", digits=0),
        Unit("flag", "yes or no", kind="flag"),
        Unit("key", "an identifier: what a row is about", kind="key"),
    )
}  # fmt: skip
"""The units an entry may have, by name."""


@dataclass(frozen=True)
class _Field:
    pattern: str
    shown: Callable[[str], str] = str


_TRAITS = {"young": AGE_GROUPS[0], "male": "male", "low_education": "low-educated"}
assert tuple(_TRAITS) == PROFILE  # the traits whose profile the engine counts
_LEVELS = {"95": "95 %", "998": "99.8 %"}
_FIELDS = {
    "category": _Field("[0-9]+"),
    "year": _Field("[0-9]{4}"),
    "years": _Field("[0-9]+"),
    "destination": _Field("|".join(DESTINATIONS)),
    "trait": _Field("|".join(_TRAITS), _TRAITS.__getitem__),
    "level": _Field("|".join(_LEVELS), _LEVELS.__getitem__),
    # The summary names a listed municipality by its name in lower case, non-letters as _.
    "municipality": _Field("[a-z0-9_]+", lambda slug: slug.replace("_", " ")),
}
"""The varying parts a patterned name may have: what they match, and how they are shown."""
_DEFAULTS = {"currency": "currency", "area": "country"}
"""Shown for a placeholder of a label that the name does not give (and the caller did not):
the ``area`` a national figure covers is the country unless a run simulated less of it."""


@dataclass(frozen=True)
class Entry:
    """One indicator, or one pattern of indicators, as the catalogue file gives it."""

    name: str
    label: str
    unit: str
    definition: str
    scope: str = "run"
    digits: int | None = None
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    """For a patterned name: the regular expression its names match."""


@dataclass(frozen=True)
class Resolved:
    """An indicator's name resolved to its entry, with the label and definition filled in."""

    name: str
    entry: Entry
    fields: dict[str, str]
    """What the label's and the definition's placeholders are filled with."""
    parts: dict[str, str] = field(default_factory=dict)
    """The varying parts of a patterned name, as the name has them (``municipality_a``)."""

    @property
    def unit(self) -> Unit:
        return UNITS[self.entry.unit]

    @property
    def label(self) -> str:
        return self.entry.label.format_map(self.fields)

    @property
    def definition(self) -> str:
        return self.entry.definition.format_map(self.fields)

    @property
    def axis_label(self) -> str:
        """The label with the unit's symbol, for an axis whose values are :meth:`scaled`."""
        symbol = self.unit.symbol
        return f"{self.label} ({symbol})" if symbol else self.label

    def format(self, value: Any) -> str:
        """``value`` as people read it: a share in %, a gap in pp, a count with separators."""
        return self.unit.format(value, self.entry.digits)

    def format_interval(self, low: Any, high: Any) -> str:
        """``low - high`` in the unit, its symbol once (``-`` when neither was measured).

        >>> lookup("young_share_gap").format_interval(-0.014, 0.016)
        '-1.4 - 1.6 pp'
        """
        ends = [self.unit.format(v, self.entry.digits, False, symbol=False) for v in (low, high)]
        if ends == [MISSING, MISSING]:
            return MISSING
        symbol = f" {self.unit.symbol}" if self.unit.symbol else ""
        return f"{ends[0]} - {ends[1]}{symbol}"

    def format_difference(self, value: Any, signed: bool = True) -> str:
        """A difference of two values of this indicator, in the unit of a difference (a
        share's is percentage points), with its sign unless ``signed`` is false."""
        unit = UNITS[self.unit.difference or self.unit.name]
        return unit.format(value, self.entry.digits, signed)

    def scaled(self, value: Any) -> Any:
        """``value`` on an axis labelled :attr:`axis_label` (a share times 100)."""
        return value * self.unit.scale


class UnknownIndicatorError(KeyError, StreetlevelError):
    """A name the catalogue has no entry for."""

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(name: str, scope: str = "run", **fields: str) -> Resolved:
    """The entry of ``name`` in ``scope`` (:data:`SCOPES`), its label and definition filled
    with the name's varying parts, or with ``fields`` where given (a municipality's real
    name, the scenario's currency).

    Raises:
        UnknownIndicatorError: (a ``KeyError``) no entry has that name or a pattern matching it.
    """
    entry, matched = _find(name, scope)
    shown = {**_DEFAULTS, **{k: _FIELDS[k].shown(v) for k, v in matched}, **fields}
    return Resolved(name, entry, shown, dict(matched))


def find(name: str, scope: str = "run", **fields: str) -> Resolved | None:
    """:func:`lookup`, or None for a name that is not an indicator (a table's other columns)."""
    try:
        return lookup(name, scope, **fields)
    except UnknownIndicatorError:
        return None


def label(name: str, scope: str = "run") -> str:
    """The label of ``name`` (see :func:`lookup`)."""
    return lookup(name, scope).label


def entries(scope: str | None = None) -> list[Entry]:
    """The catalogue's entries in file order (of one scope, when given)."""
    return [e for e in _load() if scope is None or e.scope == scope]


def catalogue_table(scope: str) -> Table:
    """The entries of ``scope`` as a table (``streetlevel indicators``)."""
    table = Table(title=f"indicators: {scope}")
    table.add_column("name", no_wrap=True)  # whole, to be found and copied
    table.add_column("label", ratio=1)
    table.add_column("unit", no_wrap=True)
    table.add_column("definition", ratio=2)
    for e in entries(scope):
        table.add_row(e.name, e.label, e.unit, e.definition)
    return table


@lru_cache(maxsize=4096)
def _find(name: str, scope: str) -> tuple[Entry, tuple[tuple[str, str], ...]]:
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r}: expected one of {SCOPES}")
    # A benchmark's name not in its own scope means what it means in a run.
    for where in dict.fromkeys((scope, "run")):
        candidates = entries(where)
        for e in candidates:
            if e.regex is None and e.name == name:
                return e, ()
        for e in candidates:
            if e.regex is not None and (m := e.regex.fullmatch(name)):
                return e, tuple(m.groupdict().items())
    raise UnknownIndicatorError(
        f"{name!r}: not an indicator of the catalogue (scope {scope!r}; "
        "streetlevel/data/indicators.toml, `streetlevel indicators`)"
    )


def _placeholders(template: str) -> set[str]:
    return {part[1] for part in string.Formatter().parse(template) if part[1] is not None}


_KEYS = {"name", "label", "unit", "definition", "scope", "digits"}


CATALOGUE = "data/indicators.toml"
"""The catalogue file, in the package."""


@cache
def _load() -> tuple[Entry, ...]:
    text = resources.files("streetlevel").joinpath(CATALOGUE).read_text("utf-8")
    return _parse(text, f"streetlevel/{CATALOGUE}")


def _parse(text: str, where: str) -> tuple[Entry, ...]:
    """The entries of a catalogue file, checked: a mistake in it is a packaging error, named
    by ``where`` and the entry's name."""
    try:
        raw = tomllib.loads(text)["indicator"]
    except (tomllib.TOMLDecodeError, KeyError) as err:
        raise StreetlevelError(f"{where}: {err}") from err
    found: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    for item in raw:
        name = str(item.get("name", "?"))
        problem = ""
        names = _placeholders(name)
        if set(item) - _KEYS or not {"name", "label", "unit", "definition"} <= set(item):
            problem = f"keys {sorted(item)}, expected {sorted(_KEYS)} (digits, scope optional)"
        elif item["unit"] not in UNITS:
            problem = f"unit {item['unit']!r}, expected one of {list(UNITS)}"
        elif item.get("scope", "run") not in SCOPES:
            problem = f"scope {item['scope']!r}, expected one of {SCOPES}"
        elif not names <= set(_FIELDS):
            problem = f"varying parts {sorted(names - set(_FIELDS))}, expected {list(_FIELDS)}"
        elif not _placeholders(item["label"] + item["definition"]) <= names | set(_DEFAULTS):
            problem = "its label or definition names a part its name has not"
        elif (item.get("scope", "run"), name) in seen:
            problem = "given twice"
        if problem:
            raise StreetlevelError(f"{where}: {name}: {problem}")
        seen.add((item.get("scope", "run"), name))
        regex = None
        if names:
            parts = []
            for literal, part, _, _ in string.Formatter().parse(name):
                parts.append(re.escape(literal))
                if part is not None:
                    parts.append(f"(?P<{part}>{_FIELDS[part].pattern})")
            regex = re.compile("".join(parts))
        found.append(
            Entry(
                name=name,
                label=item["label"],
                unit=item["unit"],
                definition=item["definition"],
                scope=item.get("scope", "run"),
                digits=item.get("digits"),
                regex=regex,
            )
        )
    return tuple(found)
