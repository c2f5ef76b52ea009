"""Parameters that carry their unit and source.

A scenario file never holds a bare number: every parameter is a table
``{value = ..., unit = "...", source = "..."}`` (OpenFisca's habit), and a calibrated parameter
also records the calibration that set it. Each class below fixes the unit it accepts and the
range of its value, so that a value in the wrong unit or out of range is rejected by validation
with the key path, not discovered as a strange result later.

>>> Share.model_validate({"value": 0.4, "unit": "share", "source": "assumption"}).value
0.4
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Calibration",
    "Caseload",
    "Flag",
    "Loading",
    "LogOdds",
    "Money",
    "Municipalities",
    "Param",
    "People",
    "Per100",
    "Positive",
    "Route",
    "SanctionType",
    "Seed",
    "Share",
    "StandardDeviation",
    "SurveyAnswers",
    "WeeklyProbability",
    "Weeks",
    "Years",
]

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Calibration(BaseModel):
    """How a calibrated parameter got its value: method, targets, date, the command that ran,
    and the uncertainty interval of the estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    method: str
    targets: list[str]
    date: str
    command: str
    interval: Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)] | None = None


class Param(BaseModel):
    """A value with its unit and source; subclasses fix the unit and the range.

    Validation is strict: a number written as a string ("0.5") or a boolean where a number
    belongs is an error, not silently converted. Whole numbers are accepted where a real
    number is expected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    value: object
    unit: str
    source: Annotated[str, Field(min_length=1)]
    note: str | None = None
    calibration: Calibration | None = None


class Share(Param):
    """A share or probability in [0, 1]."""

    value: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    unit: Literal["share"]


class WeeklyProbability(Param):
    """The probability that something happens in a given week."""

    value: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    unit: Literal["per week"]


class LogOdds(Param):
    """A coefficient or intercept of a logistic model (log-odds per unit of its covariate)."""

    value: Annotated[float, Field(ge=-50.0, le=50.0, allow_inf_nan=False)]
    unit: Literal["log-odds"]


class Positive(Param):
    """A non-negative multiplier, ratio or relative change (e.g. 0.75 = +75 %)."""

    value: Annotated[float, Field(ge=0.0, le=1e3, allow_inf_nan=False)]
    unit: Literal["ratio"]


class StandardDeviation(Param):
    """The standard deviation of a distribution, in the unit of the quantity it spreads."""

    value: Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)]
    unit: Literal["standard deviation"]


class Weeks(Param):
    """A duration in weeks (at least one)."""

    value: Annotated[int, Field(ge=1, le=5200)]
    unit: Literal["weeks"]


class Years(Param):
    """A whole number of years."""

    value: Annotated[int, Field(ge=0, le=200)]
    unit: Literal["years"]


class People(Param):
    """A number of people (e.g. a municipality's population)."""

    value: Annotated[int, Field(ge=0, le=10**10)]
    unit: Literal["people"]


class Municipalities(Param):
    """A number of municipalities."""

    value: Annotated[int, Field(ge=0, le=10**6)]
    unit: Literal["municipalities"]


class Caseload(Param):
    """Clients per caseworker."""

    value: Annotated[int, Field(ge=1, le=10**6)]
    unit: Literal["clients per caseworker"]


class Per100(Param):
    """Benefit recipients per 100 citizens."""

    value: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]
    unit: Literal["per 100 citizens"]


class Money(Param):
    """An amount per week in a named currency."""

    value: Annotated[float, Field(ge=0.0, le=1e7, allow_inf_nan=False)]
    unit: Literal["DKK per week", "NOK per week", "EUR per week"]


class Loading(Param):
    """A factor loading: the correlation of a latent response with a latent factor, in [0, 1)."""

    value: Annotated[float, Field(ge=0.0, le=0.99, allow_inf_nan=False)]
    unit: Literal["correlation"]


class SurveyAnswers(Param):
    """A published survey whose answer counts a model reproduces (package data)."""

    value: Literal["djuve-kavli-2011"]
    unit: Literal["survey"]


class Flag(Param):
    """A yes/no choice."""

    value: bool
    unit: Literal["flag"]


class Seed(Param):
    """A seed for a random draw that is part of the scenario itself (e.g. a synthetic country)."""

    value: Annotated[int, Field(ge=0, le=2**63 - 1)]
    unit: Literal["seed"]


class Route(Param):
    """How absence reports travel: CHM Fig. 1 (``caseworker``) or Fig. 2 (``benefit_office``)."""

    value: Literal["caseworker", "benefit_office"]
    unit: Literal["route"]


class SanctionType(Param):
    """``periodical``: benefit stopped until the client complies; ``deduction``: a fixed cut."""

    value: Literal["periodical", "deduction"]
    unit: Literal["sanction type"]
