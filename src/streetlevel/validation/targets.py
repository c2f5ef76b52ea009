"""The published figures (TARGETS.md) as data, and the rule that says whether a run meets them.

The figures live in ``data/targets.toml`` inside the package, each with its citation, kind and
the precision it was published to; :func:`load_targets` validates the file like a scenario.

>>> targets = load_targets()
>>> t = next(t for t in targets if t.name == "national_sanction_rate")
>>> t.value, t.kind, t.widening()
(0.11, 'share', 0.005)
>>> t.is_met(mean=0.112, low=0.108, high=0.116)
True
>>> t.is_met(mean=0.13, low=0.125, high=0.135)
False
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streetlevel.constants import Z95
from streetlevel.errors import StreetlevelError

__all__ = ["Target", "load_targets", "sampling_error"]

Kind = Literal["share", "count", "ratio", "positive", "range", "input", "not_modelled"]


def sampling_error(p: float, n: int) -> float:
    """Half-width of the 95 % interval of a share p estimated from n respondents.

    >>> round(sampling_error(0.359, 477), 4)
    0.043
    """
    return Z95 * math.sqrt(p * (1.0 - p) / n)


class Target(BaseModel):
    """One published figure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    kind: Kind
    source: str
    presets: list[str]
    value: float | None = None
    low: float | None = None
    high: float | None = None
    precision: float = Field(0.0, ge=0)
    precision_source: str | None = None
    sample_size: int | None = Field(None, gt=0)
    tolerance: float | None = Field(None, gt=0)
    parameter: str | None = None
    reason: str | None = None

    @property
    def published(self) -> float:
        """The figure as one number (the middle of a published range)."""
        if self.value is not None:
            return self.value
        assert self.low is not None and self.high is not None
        return (self.low + self.high) / 2

    def widening(self) -> float:
        """How far the simulated interval is widened: published precision plus the study's
        sampling error where it is a sample."""
        extra = self.precision
        if self.sample_size is not None and self.value is not None:
            extra += sampling_error(self.value, self.sample_size)
        return extra

    def is_met(self, mean: float, low: float, high: float) -> bool | None:
        """The rule of TARGETS.md for this kind; None where nothing is tested."""
        if self.kind in ("input", "not_modelled") or math.isnan(mean):
            return None
        if self.kind == "positive":
            return low > 0
        if self.kind == "range":
            assert self.low is not None and self.high is not None
            return self.low <= mean <= self.high
        w = self.widening()
        return low - w <= self.published <= high + w

    def within_tolerance(self, mean: float) -> bool | None:
        """The project's acceptance band on the simulated mean (issue 3), where one is set."""
        if self.tolerance is None or math.isnan(mean):
            return None
        return abs(mean - self.published) <= self.tolerance


class _TargetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[Target]


def load_targets(preset: str | None = None) -> list[Target]:
    """The shipped targets; with ``preset``, only those that describe it."""
    text = resources.files("streetlevel").joinpath("data/targets.toml").read_text("utf-8")
    try:
        parsed = _TargetFile.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as err:  # a packaging error, not a user's
        raise StreetlevelError(f"streetlevel/data/targets.toml: {err}") from err
    for t in parsed.targets:
        if t.kind == "range" and (t.low is None or t.high is None):
            raise StreetlevelError(f"targets.toml: {t.name}: a range needs low and high")
        if t.kind != "range" and t.value is None:
            raise StreetlevelError(f"targets.toml: {t.name}: needs a value")
    if preset is None:
        return parsed.targets
    return [t for t in parsed.targets if preset in t.presets]
