"""The policy test cases of ``tests/cases/*.toml``: their schema, and the pytest items that run
them (collected by ``tests/conftest.py``; the format is explained in tests/cases/README.md).

A case file is validated as a scenario file is: an unknown key (a misspelled ``maxx``, a
``margins``) is an error naming the file, the key path and the keys expected there, so a
check cannot silently fall away. A comparison with the variant states its margin: "lower"
passes only if the variant's figure is lower than the base run's by at least ``margin``, in
the indicator's own units (0.02 on a rate is two percentage points).
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streetlevel.errors import StreetlevelError
from streetlevel.output.run import run_scenario
from streetlevel.output.summary import Summary, summarize
from streetlevel.scenario.loading import explain, load_scenario, with_values

__all__ = [
    "CASES",
    "Case",
    "CaseError",
    "CaseFile",
    "CaseFileError",
    "CaseItem",
    "Expect",
    "load_case",
]

CASES = Path(__file__).resolve().parent / "cases"
"""The directory whose ``*.toml`` files pytest collects as cases."""


class Expect(BaseModel):
    """One ``[[expect]]``: a figure of the base run within bounds, or how the variant's
    figure compares with the base run's, by at least a margin."""

    model_config = ConfigDict(extra="forbid", strict=True)

    indicator: str = Field(description="a figure of the summary (`streetlevel run --json`)")
    why: str = Field(min_length=1, description="the source or reasoning behind the check")
    min: float | None = Field(default=None, description="lowest acceptable mean of the figure")
    max: float | None = Field(default=None, description="highest acceptable mean of the figure")
    variant: Literal["lower", "higher"] | None = Field(
        default=None, description="the direction in which the variant's figure must differ"
    )
    margin: float | None = Field(
        default=None,
        gt=0,
        description="by at least how much the variant's figure differs, in the figure's units",
    )

    @model_validator(mode="after")
    def _one_kind_of_check(self) -> Expect:
        bounded = self.min is not None or self.max is not None
        if self.variant is None and not bounded:
            raise ValueError("give min and/or max, or variant (with a margin)")
        if self.variant is not None and bounded:
            raise ValueError("give bounds or a variant comparison, not both (use two [[expect]])")
        if self.variant is not None and self.margin is None:
            raise ValueError(
                f'variant = "{self.variant}" needs a margin: by at least how much, in the '
                "indicator's units (a difference within the replications' noise proves nothing)"
            )
        if self.margin is not None and self.variant is None:
            raise ValueError("margin applies only to a variant comparison")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def check(self, base: float, variant: float | None) -> str | None:
        """The problem, if the figures fail the check (None if they pass)."""
        if self.variant is None:
            low = -float("inf") if self.min is None else self.min
            high = float("inf") if self.max is None else self.max
            if low <= base <= high:
                return None
            return f"{self.indicator}: {base:.4f} outside [{low}, {high}] ({self.why})"
        assert variant is not None and self.margin is not None  # the case's validator
        difference = variant - base if self.variant == "higher" else base - variant
        if difference >= self.margin:
            return None
        return (
            f"{self.indicator}: variant {variant:.4f} against base {base:.4f} "
            f"({variant - base:+.4f}) is not {self.variant} by at least {self.margin} ({self.why})"
        )


class Case(BaseModel):
    """A whole case file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, description="what the case checks, in a sentence")
    scenario: str = Field(description="a preset name, or a scenario file's path")
    seed: int = Field(ge=0)
    replications: int = Field(ge=1)
    set: dict[str, Any] = Field(
        default_factory=dict, description="changes to the scenario, by key path"
    )
    variant: dict[str, Any] | None = Field(
        default=None, description="a second run, with these further changes"
    )
    expect: list[Expect] = Field(min_length=1)

    @model_validator(mode="after")
    def _variant_to_compare(self) -> Case:
        if self.variant is None:
            for i, expect in enumerate(self.expect):
                if expect.variant is not None:
                    raise ValueError(
                        f"expect[{i}] compares with the variant, but the case has no [variant]"
                    )
        return self


class CaseFileError(StreetlevelError):
    """A case file that is not valid TOML or does not follow the schema."""


class CaseError(AssertionError):
    """A policy case whose figures fall outside what it expects."""


def load_case(path: Path) -> Case:
    """Read and validate the case file ``path``.

    Raises:
        CaseFileError: the file is not TOML or not a case; the message names the file and
            each key path that is wrong.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise CaseFileError(f"{path}: not valid TOML: {err}") from None
    try:
        return Case.model_validate(data)
    except ValidationError as err:
        raise CaseFileError(explain(err, str(path), Case, "the case")) from None


class CaseFile(pytest.File):
    """A ``tests/cases/*.toml`` file: one test, named by the case's ``name``."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            case = load_case(self.path)
        except CaseFileError as err:
            raise self.CollectError(str(err)) from None
        yield CaseItem.from_parent(self, name=case.name, case=case)


class CaseItem(pytest.Item):
    """One case run: the base scenario and, if the case has one, its variant."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def _summary(self, changes: dict[str, Any], tmp: Path, label: str) -> Summary:
        scenario = with_values(load_scenario(self.case.scenario), changes, f"case {label}")
        result = run_scenario(
            scenario, seed=self.case.seed, replications=self.case.replications, out=tmp / label
        )
        return summarize(result.out)

    def runtest(self) -> None:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            base = self._summary(self.case.set, tmp, "base")
            variant = (
                None
                if self.case.variant is None
                else self._summary({**self.case.set, **self.case.variant}, tmp, "variant")
            )
        known = {indicator.name for indicator in base.indicators}
        problems = []
        for expect in self.case.expect:
            if expect.indicator not in known:
                raise CaseError(f"{expect.indicator}: no such indicator in the summary")
            problem = expect.check(
                base.get(expect.indicator).mean,
                None if variant is None else variant.get(expect.indicator).mean,
            )
            if problem is not None:
                problems.append(problem)
        if problems:
            raise CaseError("; ".join(problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseError):
            return f"{self.path.name}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"case: {self.name}"
