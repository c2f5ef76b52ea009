"""Shared helpers (small scenarios built from the presets) and the collector of the policy
test cases in ``tests/cases``."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streetlevel.model.engine import Simulation
from streetlevel.output.run import run_scenario
from streetlevel.output.summary import Summary, summarize
from streetlevel.scenario.loading import load_scenario, with_values
from streetlevel.scenario.schema import Scenario


def small(preset: str = "denmark-2011", scale: float = 0.05, **values: Any) -> Scenario:
    """A preset at ``scale`` clients per recipient, with values set by key path.

    Key paths use ``__`` for dots in keyword form: ``decision__caseworker__intercept=-3``.
    """
    changes = {"scale.client_scale": scale}
    changes.update({k.replace("__", "."): v for k, v in values.items()})
    return with_values(load_scenario(preset), changes, "test")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m streetlevel ARGS`` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "streetlevel", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def simulation(scenario: Scenario, seed: int = 1, replications: int = 2) -> Simulation:
    return Simulation(scenario, seed, list(range(replications)))


@pytest.fixture
def tiny() -> Scenario:
    """Municipality B alone, one burn-in and one reporting year: a run takes a fraction of a
    second."""
    return small("municipality-b", scale=1.0, time__burn_in_years=1, time__reporting_years=1)


# -- policy test cases (tests/cases/*.toml; see tests/cases/README.md) -------------------------


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and file_path.parent.name == "cases":
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        with open(self.path, "rb") as f:
            case = tomllib.load(f)
        yield CaseItem.from_parent(self, name=str(case.get("name", self.path.stem)), case=case)


class CaseError(AssertionError):
    """A policy case whose figures fall outside what it expects."""


class CaseItem(pytest.Item):
    def __init__(self, *, case: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def _summary(self, changes: dict[str, Any], tmp: Path, label: str) -> Summary:
        scenario = with_values(load_scenario(self.case["scenario"]), changes, f"case {label}")
        result = run_scenario(
            scenario,
            seed=int(self.case["seed"]),
            replications=int(self.case["replications"]),
            out=tmp / label,
        )
        return summarize(result.out)

    def runtest(self) -> None:
        base_changes = dict(self.case.get("set", {}))
        variant_changes = self.case.get("variant")
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            base = self._summary(base_changes, tmp, "base")
            variant = (
                self._summary({**base_changes, **variant_changes}, tmp, "variant")
                if variant_changes
                else None
            )
        problems = []
        for expect in self.case.get("expect", []):
            name = expect["indicator"]
            got = base.get(name).mean
            if "variant" in expect:
                if variant is None:
                    raise CaseError(f"{name}: 'variant' expected but the case has no [variant]")
                other = variant.get(name).mean
                ok = other < got if expect["variant"] == "lower" else other > got
                if not ok:
                    problems.append(
                        f"{name}: variant {other:.4f} is not {expect['variant']} than "
                        f"base {got:.4f} ({expect.get('why', '')})"
                    )
            else:
                low, high = expect.get("min", -np.inf), expect.get("max", np.inf)
                if not low <= got <= high:
                    problems.append(
                        f"{name}: {got:.4f} outside [{low}, {high}] ({expect.get('why', '')})"
                    )
        if problems:
            raise CaseError("; ".join(problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseError):
            return f"{self.path.name}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"case: {self.name}"


# -- fuzz case counts (tests/test_fuzz.py) ------------------------------------------------------


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many fuzz cases each front door loaded and refused (the issue asks for the
    counts in CI output)."""
    strategies = sys.modules.get("tests.fuzz_strategies")
    if strategies is None or not strategies.COUNTS:
        return
    terminalreporter.write_sep("-", "fuzz cases per front door")
    for door, counts in strategies.COUNTS.items():
        total = counts["loaded"] + counts["refused"]
        terminalreporter.write_line(
            f"{door}: {total} cases, {counts['loaded']} loaded, {counts['refused']} refused"
        )


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def ended(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has ended, only not been reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
