"""What the tests share: small scenarios built from the presets, subprocess helpers, the
dashboard's server and browser, the test tiers (markers), and the collector of the policy test
cases in ``tests/cases``.

The tiers (``[tool.pytest.ini_options]`` in pyproject.toml registers the markers; the README's
"Tests" section says when to run which):

- ``slow``: a test of about 2.5 s or more alone on the 2-core machine, or a whole module that
  is slow (the fuzzers, the faults); ``-m "not slow and not browser"`` is the quick tier for
  development, under 2 minutes.
- ``browser``: drives the system's chromium. Every test that asks for the :func:`browser`
  fixture gets the marker here, so none can be forgotten. Without chromium such a test is
  skipped, with the reason in pytest's summary, and the tests that need no browser still run;
  with ``STREETLEVEL_REQUIRE_BROWSER=1`` (what ``.ci/run`` sets) it fails instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from streetlevel.model.engine import Simulation
from streetlevel.scenario.loading import load_scenario, with_values
from streetlevel.scenario.schema import Scenario
from tests.policy_cases import CASES, CaseFile

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium, which the browser tests drive (Playwright cannot download one here, and
the tests never run ``playwright install``)."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_BROWSER = "STREETLEVEL_REQUIRE_BROWSER"
"""Set to 1, a browser test without a browser fails instead of being skipped (CI sets it, so
that a CI machine that lost its chromium cannot pass by skipping)."""
DASHBOARD_START_S = 60.0
"""How long `streetlevel dashboard` may take to listen (it imports Dash and reads the runs)."""
POLL_S = 0.2


# -- scenarios ---------------------------------------------------------------------------------


def small(preset: str = "denmark-2011", scale: float = 0.05, **values: Any) -> Scenario:
    """A preset at ``scale`` clients per recipient, with values set by key path.

    Key paths use ``__`` for dots in keyword form: ``decision__caseworker__intercept=-3``.
    """
    changes = {"scale.client_scale": scale}
    changes.update({k.replace("__", "."): v for k, v in values.items()})
    return with_values(load_scenario(preset), changes, "test")


def tiny_scenario(preset: str = "municipality-b") -> Scenario:
    """A one-municipality preset alone, one burn-in and one reporting year: a run takes a
    fraction of a second."""
    return small(preset, scale=1.0, time__burn_in_years=1, time__reporting_years=1)


def simulation(scenario: Scenario, seed: int = 1, replications: int = 2) -> Simulation:
    return Simulation(scenario, seed, list(range(replications)))


@pytest.fixture
def tiny() -> Scenario:
    """Municipality B as :func:`tiny_scenario` makes it."""
    return tiny_scenario()


@pytest.fixture(scope="module")
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that the tests of one module share (named after the module)."""
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))


# -- the tiny experiment (tests/test_experiments.py, tests/test_faults.py) ---------------------

TINY = """
[experiment]
name = "tiny"
scenario = "municipality-b"
seed = 5
replications = 3

[design]
kind = "full_factorial"

[constants]
"scale.client_scale" = 0.5
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[levers]]
name = "route"
[levers.levels.caseworker]
"municipalities[*].absence_route" = "caseworker"
[levers.levels.benefit_office]
"municipalities[*].absence_route" = "benefit_office"

[[levers]]
name = "ranking"
key = "pressure.ranking_published"
values = [true, false]

[[uncertainties]]
name = "recompliance"
key = "sanctions.recompliance"
values = [0.2, 0.4, 0.8]
"""
"""Municipality B at half scale, one burn-in and one reporting year: a point takes a fraction
of a second, and a sweep is dominated by starting its cluster."""
TINY_POINTS = 2 * 2 * 3
TINY_REPLICATIONS = 3


@pytest.fixture(scope="module")
def tiny_file(folder: Path) -> Path:
    """The tiny experiment as a file in the module's :func:`folder`."""
    path = folder / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


# -- processes ---------------------------------------------------------------------------------


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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` that nothing listens on now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def accepts(host: str, port: int) -> bool:
    """Whether something listens on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@contextmanager
def dashboard(
    args: Sequence[str], logs: Path, *, host: str = "127.0.0.1", cwd: Path | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``streetlevel dashboard ARGS`` in a subprocess on a free port of ``host``, as a user
    starts it, yielded (port, process) once it listens; stopped on leaving.

    Its output goes to ``logs/server-PORT.log``: the server logs every request, and a pipe
    nobody reads fills and blocks it.
    """
    port = free_port(host)
    command = [sys.executable, "-m", "streetlevel", "dashboard", *args, "--port", str(port)]
    log = logs / f"server-{port}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink, cwd=cwd)
    try:
        deadline = time.monotonic() + DASHBOARD_START_S
        while not accepts(host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start: {log.read_text()}")
            time.sleep(POLL_S)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- the browser -------------------------------------------------------------------------------


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None if they can)."""
    if find_spec("playwright") is None:
        return "the browser tests need Playwright: pip install -e '.[test]'"
    if not CHROMIUM.exists():
        return f"the browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium, driven by Playwright (a test that asks for it is marked ``browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def browser_required() -> bool:
    return os.environ.get(REQUIRE_BROWSER) == "1"


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for the browser ``browser``; without a browser, skip it
    (each skip is listed under its test in pytest's summary) unless a browser is required."""
    missing = browser_missing()
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if missing and not browser_required() and item.get_closest_marker("browser"):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"{missing} (with {REQUIRE_BROWSER}=1, as in .ci/run: fails)"
                )
            )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """With STREETLEVEL_REQUIRE_BROWSER=1, fail a browser test that has no browser, before its
    fixtures (a country run, a sweep, a server) are set up for nothing."""
    if item.get_closest_marker("browser") is None or not browser_required():
        return
    missing = browser_missing()
    if missing is not None:
        pytest.fail(
            f"{missing} ({REQUIRE_BROWSER}=1: a browser test may not be skipped)", pytrace=False
        )


# -- policy test cases (tests/cases/*.toml; see tests/cases/README.md) -------------------------


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and file_path.parent == CASES:
        return CaseFile.from_parent(parent, path=file_path)
    return None


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
