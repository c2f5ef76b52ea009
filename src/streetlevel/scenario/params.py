"""Parameters that carry their unit and source.

A scenario file never holds a bare number: every parameter is a table
``{value = ..., unit = "...", source = "..."}`` (OpenFisca's habit), and a calibrated parameter
also records the calibration that set it. Each class below fixes the unit it accepts and the
range of its value, so that a value in the wrong unit or out of range is rejected by validation
with the key path, not discovered as a strange result later.

>>> Share.model_validate({"value": 0.4, "unit": "share", "source": "assumption"}).value
0.4

A parameter may instead carry values by date, each with its own source (OpenFisca's dated
parameters); every dated value is checked against the class's own type and range, and the
dates must be 1 January (:mod:`streetlevel.scenario.dates` resolves them per calendar year):

>>> p = Share.model_validate({"unit": "share", "values": {
...     "2014-01-01": {"value": 0.5, "source": "the 2014 reform"},
...     "2006-01-01": {"value": 0.3, "source": "assumption"}}})
>>> list(p.values), p.value
(['2006-01-01', '2014-01-01'], 0.3)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
    model_validator,
)

__all__ = [
    "Calibration",
    "Caseload",
    "DatedValue",
    "Flag",
    "Loading",
    "LogOdds",
    "Membership",
    "Money",
    "Municipalities",
    "MunicipalityTable",
    "Param",
    "People",
    "Per100",
    "Positive",
    "Route",
    "SanctionType",
    "Seed",
    "Share",
    "Shift",
    "StandardDeviation",
    "SurveyAnswers",
    "VarianceShare",
    "WeeklyProbability",
    "Weeks",
    "YearlyChange",
    "YearlyRate",
    "Years",
    "parameters",
    "value_at",
]

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Calibration(BaseModel):
    """How a calibrated parameter got its value: method, targets, date, the command that ran,
    the uncertainty interval of the estimate, and its row of the estimates' covariance."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    method: str
    targets: list[str]
    date: str
    command: str
    interval: Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)] | None = None
    covariance: dict[str, FiniteFloat] | None = None
    """Covariance of this estimate with each parameter fitted with it (itself included: its
    variance), by key path (``streetlevel.validation.calibration_report.recorded_covariance``
    gathers the matrix)."""


def _first_of_january(text: str) -> str:
    """A date key of ``values``: an ISO date (``YYYY-MM-DD``) on 1 January."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD") from None
    if len(text) != len("YYYY-MM-DD"):
        raise ValueError(f"{text!r}: write the date as YYYY-MM-DD")
    if (day.month, day.day) != (1, 1):
        raise ValueError(
            f"{text!r} is not 1 January: the engine resolves dated values per calendar year, "
            f"so a value takes effect on 1 January (write {day.year}-01-01 or "
            f"{day.year + 1}-01-01)"
        )
    return text


DateKey = Annotated[str, AfterValidator(_first_of_january)]


class DatedValue(BaseModel):
    """One of a parameter's dated values: in force from its date until the next date."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    value: object
    source: Annotated[str, Field(min_length=1)]
    note: str | None = None
    calibration: Calibration | None = None


DATED_FIELDS = ("value", "source", "note", "calibration")
"""What each dated value holds; a dated parameter holds only ``unit`` and ``values``."""


class Param(BaseModel):
    """A value with its unit and source; subclasses fix the unit and the range.

    Validation is strict: a number written as a string ("0.5") or a boolean where a number
    belongs is an error, not silently converted. Whole numbers are accepted where a real
    number is expected.

    A dated parameter is written ``{unit = ..., values = {"2006-01-01" = {value = ...,
    source = ...}, ...}}``. Its ``value``, ``source``, ``note`` and ``calibration`` are then
    those of its first date, so code that reads ``.value`` keeps working; the engine resolves
    the value of each calendar year with :func:`streetlevel.scenario.dates.at_year`. It is
    written back (``model_dump``) as it was given: ``unit`` and ``values`` only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    value: object
    unit: str
    source: Annotated[str, Field(min_length=1)]
    note: str | None = None
    calibration: Calibration | None = None
    values: dict[str, DatedValue] | None = None
    """The dated values in date order (``None``: not dated)."""

    @model_validator(mode="before")
    @classmethod
    def _dated(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "values" not in data:
            return data
        beside = [key for key in DATED_FIELDS if key in data]
        if beside:
            raise ValueError(
                f"a parameter with values by date gives each date its own value and source; "
                f"{', '.join(beside)} cannot also stand beside values"
            )
        # Each dated value is checked with this class's own type and range; the errors keep
        # their place (values."2014-01-01".value) because pydantic nests them under ours.
        checked: Any = _dated_model(cls).model_validate({"values": data["values"]})
        dated: dict[str, DatedValue] = checked.values
        ordered = {date: dated[date] for date in sorted(dated)}
        first = next(iter(ordered.values()))
        return {**data, **{key: getattr(first, key) for key in DATED_FIELDS}, "values": ordered}

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.values is None:
            data.pop("values", None)
            return data
        return {"unit": data["unit"], "values": data["values"]}


@cache
def _dated_model(cls: type[Param]) -> type[BaseModel]:
    """A model of ``{values = {date = {value, source, ...}}}`` whose values have the type and
    range of ``cls``'s own ``value``."""
    field = cls.model_fields["value"]
    # A value without constraints (a flag, a choice of names) has no metadata to annotate.
    value: Any = (
        Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    )
    entry = create_model(
        f"Dated{cls.__name__}", __base__=DatedValue, __module__=__name__, value=(value, ...)
    )
    values: Any = Annotated[dict[DateKey, entry], Field(min_length=1)]
    model = create_model(
        f"{cls.__name__}Values",
        __config__=ConfigDict(extra="forbid", strict=True),
        __module__=__name__,
        values=(values, ...),
    )
    # Module attributes, so that a scenario with dated values pickles (to the worker
    # processes of a run) and unpickles where this module is imported afresh.
    globals()[entry.__name__] = entry
    globals()[model.__name__] = model
    return model


def parameters(
    node: BaseModel, prefix: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Param]]:
    """Every parameter below ``node`` with its key path (field names and list indices).

    >>> p = Share.model_validate({"value": 0.4, "unit": "share", "source": "assumption"})
    >>> [path for path, _ in parameters(p, ("clients", "male"))]
    [('clients', 'male')]
    """
    if isinstance(node, Param):
        yield prefix, node
        return
    for name in type(node).model_fields:
        child = getattr(node, name)
        items = list(enumerate(child)) if isinstance(child, list) else [(None, child)]
        for index, item in items:
            if isinstance(item, BaseModel):
                path = (*prefix, name) if index is None else (*prefix, name, index)
                yield from parameters(item, path)


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


class Shift(Param):
    """A shift of a standard normal latent variable, in its standard deviations (either sign)."""

    value: Annotated[float, Field(ge=-10.0, le=10.0, allow_inf_nan=False)]
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


class VarianceShare(Param):
    """The share of a latent variable's variance that one of its components carries, in [0, 1)."""

    value: Annotated[float, Field(ge=0.0, le=0.99, allow_inf_nan=False)]
    unit: Literal["share of variance"]


class YearlyRate(Param):
    """The share of a gap closed in a year, in [0, 1]."""

    value: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    unit: Literal["per year"]


class YearlyChange(Param):
    """A change per year on a 0-1 scale (e.g. management strictness), either way."""

    value: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
    unit: Literal["share per year"]


class Membership(Param):
    """Who belongs to a category: ``by_share`` (clients drawn by the categories' stock
    shares), ``none`` (no one: a category not, or no longer, in force) or
    ``under_30_low_education`` (every client under 30 without an education: the 2014
    reform's education-ready group)."""

    value: Literal["by_share", "none", "under_30_low_education"]
    unit: Literal["rule"]


def value_at(param: Param, year: int) -> Any:
    """A parameter's value in force on 1 January ``year`` (its only value if not dated; before
    its first date, the first date's value)."""
    if param.values is None:
        return param.value
    chosen = next(iter(param.values.values()))
    for date, dated in param.values.items():
        if int(date[:4]) <= year:
            chosen = dated
    return chosen.value


class SurveyAnswers(Param):
    """A published survey whose answer counts a model reproduces (package data)."""

    value: Literal["djuve-kavli-2011"]
    unit: Literal["survey"]


class MunicipalityTable(Param):
    """A packaged table of real municipalities (``streetlevel/data/<name>.csv``: official
    code, name, region, population), cited column by column in its sidecar ``<name>.toml``."""

    value: Literal["denmark-municipalities"]
    unit: Literal["table"]


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


# Every kind's dated models exist from import on: a worker process unpickling a scenario
# looks them up here before anything has validated a dated value.
for _kind in Param.__subclasses__():
    _dated_model(_kind)
