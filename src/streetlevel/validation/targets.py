"""The published figures (docs/targets.md) as data, their roles, and the rule that says whether a
run meets them.

The figures live in ``data/targets.toml`` inside the package, each with its citation, its
``kind`` (how it is compared), its ``role`` (what a match would show) and the precision it was
published to; :func:`load_targets` validates the file like a scenario.

Roles (docs/validation.md, "Four tiers"): ``input`` (read back from the scenario: shown, never
counted as met), ``fitted`` (a moment a calibration set-up fits), ``derived`` (follows from
fitted moments or from how the model is built) and ``check`` (a figure the model could miss).

The rule (docs/validation.md): the simulated interval is a prediction interval for one
realisation, ``mean ± q sqrt(s^2 (1 + 1/R) + var_param)``, with ``s`` the spread of the R
replications, ``q`` Student's t 97.5 % quantile on R - 1 degrees of freedom (fewer
replications widen it) and ``var_param`` the variance the calibrated parameters' uncertainty
adds (:mod:`streetlevel.validation.uncertainty`); a figure is met when it lies inside that
interval widened by its published precision and the study's sampling error.

>>> targets = load_targets()
>>> t = next(t for t in targets if t.name == "national_sanction_rate")
>>> t.value, t.kind, t.role, t.year, t.widening()
(0.11, 'share', 'fitted', 2011, 0.005)
>>> low, high, q = prediction_interval(0.112, spread=0.002, replications=20)
>>> round(q, 3), t.is_met(0.112, low, high)
(2.093, True)
>>> t.is_met(0.13, *prediction_interval(0.13, 0.002, 20)[:2])
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
from streetlevel.output.uncertainty import t_quantile

__all__ = ["ROLES", "Target", "load_targets", "prediction_interval", "sampling_error"]

Kind = Literal["share", "count", "ratio", "positive", "above", "range", "input", "not_modelled"]
Role = Literal["input", "fitted", "derived", "check"]
ROLES: tuple[Role, ...] = ("input", "fitted", "derived", "check")
"""The roles, in the order ``validate`` prints their groups."""


def prediction_interval(
    mean: float, spread: float, replications: int, parameter_var: float = 0.0
) -> tuple[float, float, float]:
    """The spread of replications (95 % prediction), in which one realisation falls:
    ``mean ± q sqrt(spread^2 (1 + 1/R) + parameter_var)``, ``q`` the t quantile on R - 1
    degrees of freedom; also ``q``.

    Fewer replications widen it, never narrow it: ``q`` and ``1 + 1/R`` both grow as R falls.
    With fewer than two replications there is no spread to judge by (NaN).

    >>> [round(h - 0.1, 4) for _, h, _ in
    ...  (prediction_interval(0.1, 0.01, r) for r in (2, 5, 20, 1000))]
    [0.1556, 0.0304, 0.0214, 0.0196]
    """
    if replications < 2 or math.isnan(mean) or math.isnan(spread):
        return float("nan"), float("nan"), float("nan")
    q = t_quantile(replications - 1)
    half = q * math.sqrt(spread**2 * (1 + 1 / replications) + max(parameter_var, 0.0))
    return mean - half, mean + half, q


def sampling_error(p: float, n: int) -> float:
    """Half-width of the 95 % CI of a share p estimated from n respondents.

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
    role: Role = "check"
    """What a match shows. A target built in code (a calibration's synthetic one) is a check
    unless told otherwise; every target of ``data/targets.toml`` states its role."""
    role_source: str | None = None
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
    year: int | None = None
    """The calendar year the figure describes: compared with that year of a run."""
    year_source: str | None = None

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
        """The rule for this kind, on the simulated interval [low, high]; None where nothing
        is tested: an input (never counted as met), a figure not modelled, or one not
        measured."""
        if self.role == "input" or self.kind in ("input", "not_modelled"):
            return None
        if math.isnan(mean) or math.isnan(low):
            return None
        if self.kind == "positive":
            return low > 0
        if self.kind == "above":
            assert self.value is not None
            return low > self.value
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
        if "role" not in t.model_fields_set:
            raise StreetlevelError(
                f"targets.toml: {t.name}: needs a role (input, fitted, derived or check)"
            )
        if t.kind == "range" and (t.low is None or t.high is None):
            raise StreetlevelError(f"targets.toml: {t.name}: a range needs low and high")
        if t.kind != "range" and t.value is None:
            raise StreetlevelError(f"targets.toml: {t.name}: needs a value")
    if preset is None:
        return parsed.targets
    return [t for t in parsed.targets if preset in t.presets]
