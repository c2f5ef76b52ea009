"""The dashboard end to end: `streetlevel dashboard` in a subprocess, driven by Playwright in
the system's headless chromium (installed by .ci/run; never `playwright install`). The same
tests write the screenshots in docs/img/dashboard-*.png when STREETLEVEL_SCREENSHOTS=1.

A test that asks for the ``page`` (so the ``browser``) is marked ``browser`` by
tests/conftest.py: without chromium it is skipped, or fails with STREETLEVEL_REQUIRE_BROWSER=1;
the tests that need no browser run either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streetlevel.analysis.benchmark import benchmark
from streetlevel.experiments import load_experiment, run_sweep
from streetlevel.experiments.compare import comparison
from streetlevel.output.catalogue import lookup
from streetlevel.output.run import run_scenario
from streetlevel.scenario.loading import load_scenario, with_values
from tests.conftest import dashboard

DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    """Take the page's screenshot: into docs/img with STREETLEVEL_SCREENSHOTS=1 (to refresh
    the README's pictures), else into the test's own directory, so that running the tests
    leaves the working tree as it was."""
    folder = DOCS_IMG if os.environ.get("STREETLEVEL_SCREENSHOTS") == "1" else tmp_path
    path = folder / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


VIEWPORT = {"width": 1200, "height": 900}
WAIT_MS = 30_000
RUN_WAIT_MS = 120_000
CHOSEN = "Sjælland 03"
LONG_RUN_SCALE = 0.5
LONG_RUN_REPLICATIONS = 4
"""A run of several seconds (the whole country at half scale), long enough for another page
to be answered while it goes on if the server is not blocked."""
OTHER = "Nordjylland 02"
FRAME_WAIT_MS = 5_000
"""Time given to a framed dashboard to appear (it appears within a second or two when not
framed)."""

SWEEP = """
[experiment]
name = "dashboard-tiny"
scenario = "municipality-b"
seed = 7
replications = 2

[design]
kind = "full_factorial"

[constants]
"scale.client_scale" = 0.3
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[levers]]
name = "route"
[levers.levels.caseworker]
"municipalities[*].absence_route" = "caseworker"
[levers.levels.benefit_office]
"municipalities[*].absence_route" = "benefit_office"

[[levers]]
name = "pressure"
key = "pressure.ranking_published"
values = [true, false]
"""


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small run of a whole country, a tiny sweep, an empty and a missing directory."""
    root = tmp_path_factory.mktemp("dashboard")
    scenario = with_values(
        load_scenario("denmark-2011"),
        {"scale.client_scale": 0.02, "time.burn_in_years": 1, "time.reporting_years": 2},
    )
    run_scenario(scenario, seed=11, replications=1, out=root / "run")
    spec = root / "tiny.toml"
    spec.write_text(SWEEP, encoding="utf-8")
    run_sweep(load_experiment(spec), root / "sweep", workers=1)
    (root / "empty").mkdir()
    # A sweep started but with no point finished: its experiment record and design only.
    (root / "pending").mkdir()
    for name in ("experiment.json", "design.parquet"):
        shutil.copy(root / "sweep" / name, root / "pending" / name)
    return {
        "run": root / "run",
        "sweep": root / "sweep",
        "empty": root / "empty",
        "pending": root / "pending",
        "missing": root / "missing",
        "work": root / "work",
    }


@pytest.fixture(scope="module")
def server(dirs: dict[str, Path]) -> Iterator[str]:
    # Started in their parent with relative names, as a user would (and the screenshots
    # show short names, not temporary paths).
    names = [dirs[k].name for k in ("run", "sweep", "pending", "empty", "missing")]
    root = dirs["work"].parent
    args = [*names, "--work-dir", dirs["work"].name]
    with dashboard(args, root, cwd=root) as (port, _):
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A page of the dashboard; on leaving, the test fails if the browser blocked anything
    under the page's content security policy or a script failed: every browser test is also
    a test that the page works under its own policy."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda err: problems.append(f"script error: {err}"))
    page.goto(server)
    yield page
    page.close()
    assert problems == []


def choose(page: Any, dropdown: str, option: str) -> None:
    """Pick ``option`` in a Dash dropdown as a user does: open it, search, click."""
    page.click(f"#{dropdown}")
    page.fill(".dash-dropdown-search", option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def rows(page: Any, table: str) -> list[list[str]]:
    return [
        [c.strip() for c in r.split("\t")]
        for r in page.inner_text(f"#{table} tbody").strip().split("\n")
    ]


def test_municipality_view_shows_its_figures(
    page: Any, dirs: dict[str, Path], tmp_path: Path
) -> None:
    page.wait_for_selector("#muni-figures")
    choose(page, "municipality", CHOSEN)
    page.wait_for_function(
        "n => document.querySelector('#ranking tr.highlight')?.innerText.includes(n)", arg=CHOSEN
    )
    expected = benchmark(dirs["run"], by_category=True).indicators
    expected = expected[expected["municipality"] == CHOSEN].sort_values(["category", "year"])
    shown = rows(page, "muni-figures")
    assert len(shown) == len(expected) > 0
    for cells, row in zip(shown, expected.itertuples(), strict=True):
        # In the catalogue's units, as the CLI shows them: the rate in %.
        counts = [lookup(n).format(getattr(row, n)) for n in ("recipients", "sanctioned")]
        assert cells[:4] == [str(row.year), row.category, *counts]
        assert cells[4] == lookup("rate", "benchmark").format(row.rate)
        assert cells[4].endswith(" %")
    legend = page.locator("#rates-graph .legendtext").all_text_contents()
    assert f"{CHOSEN}: match-1" in legend
    assert "region Sjælland: match-1" in legend
    overall = benchmark(dirs["run"])
    ranking = overall.ranking[overall.ranking["municipality"] == CHOSEN].iloc[0]
    highlighted = page.inner_text("#ranking tr.highlight").split("\t")
    assert highlighted[:2] == [str(ranking["rank"]), CHOSEN]
    assert page.get_attribute("#funnel-img", "src").startswith("data:image/png;base64,")
    screenshot(page, "municipalities", tmp_path)

    choose(page, "compare-with", OTHER)
    page.wait_for_function(
        "n => [...document.querySelectorAll('#rates-graph .legendtext')]"
        ".some(e => e.textContent.startsWith(n))",
        arg=OTHER,
    )


def test_policy_view_puts_two_policies_side_by_side(
    page: Any, dirs: dict[str, Path], tmp_path: Path
) -> None:
    page.click("text=Policies")
    page.wait_for_selector("#policy-side")
    choose(page, "policy-a", "route = benefit_office, pressure = true")
    choose(page, "policy-b", "route = caseworker, pressure = false")
    page.wait_for_function(
        "() => document.querySelector('#policy-compare p')?.innerText"
        ".includes('A: route = benefit_office, pressure = true. "
        "B: route = caseworker, pressure = false.')"
    )
    table = comparison(dirs["sweep"])
    a = table[(table["route"] == "benefit_office") & table["pressure"].astype(bool)]
    b = table[(table["route"] == "caseworker") & ~table["pressure"].astype(bool)]
    # Outcomes by their labels; means in their units; B - A in percentage points.
    shown = {r[0]: r for r in rows(page, "policy-side")}
    assert set(shown) == {lookup(o).label for o in a["outcome"]}
    for outcome in ("national_sanction_rate", "exit_unknown_rate"):
        entry = lookup(outcome)
        mean_a = float(a[a["outcome"] == outcome]["mean"].iloc[0])
        mean_b = float(b[b["outcome"] == outcome]["mean"].iloc[0])
        assert shown[entry.label][1] == entry.format(mean_a)
        assert shown[entry.label][3] == entry.format(mean_b)
        assert shown[entry.label][5] == entry.format_difference(mean_b - mean_a)
        assert shown[entry.label][5].endswith(" pp")
    policies = table.drop_duplicates(["route", "pressure"])
    assert page.locator("#policy-graph .point").count() == len(policies) == 4
    screenshot(page, "policies", tmp_path)


def test_run_one_finishes_and_shows_results(
    page: Any, dirs: dict[str, Path], tmp_path: Path
) -> None:
    page.click("text=Run one")
    choose(page, "lever-route", "benefit_office")
    page.fill("#run-scale", "0.02")
    page.click("#run-start")
    page.wait_for_selector("#run-done", timeout=RUN_WAIT_MS)
    assert page.get_attribute("#run-progress", "value") == "100"
    names = [r[0] for r in rows(page, "run-table")]
    assert lookup("national_sanction_rate").label in names
    runs = list(dirs["work"].iterdir())
    assert len(runs) == 1 and (runs[0] / "manifest.json").is_file()
    scenario = load_scenario(runs[0] / "scenario.toml")
    assert scenario.municipalities[0].absence_route.value == "benefit_office"
    assert scenario.synthetic is not None
    assert scenario.synthetic.benefit_office_route.value == 1.0
    screenshot(page, "run", tmp_path)

    page.click("text=Municipalities")
    choose(page, "run-dir", f"{dirs['work'].name}/{runs[0].name}")
    page.wait_for_function(
        "n => document.querySelector('#ranking-title')?.innerText.includes(n)", arg="2013"
    )


def test_a_run_does_not_block_other_users(browser: Any, page: Any, server: str) -> None:
    """While a longer run goes on, the progress bar moves and another user's page answers."""
    page.click("text=Run one")
    page.fill("#run-scale", str(LONG_RUN_SCALE))
    page.fill("#run-replications", str(LONG_RUN_REPLICATIONS))
    page.click("#run-start")
    page.wait_for_function(
        "() => document.querySelector('#run-status')?.innerText.startsWith('running')"
    )
    other = browser.new_page(viewport=VIEWPORT)
    other.set_default_timeout(WAIT_MS)
    other.goto(server)
    other.wait_for_selector("#muni-figures")
    choose(other, "municipality", OTHER)
    other.wait_for_function(
        "n => document.querySelector('#ranking tr.highlight')?.innerText.includes(n)", arg=OTHER
    )
    other.close()
    assert page.inner_text("#run-status").startswith("running")
    assert 0 <= int(page.get_attribute("#run-progress", "value")) < 100
    page.wait_for_selector("#run-done", timeout=RUN_WAIT_MS)


def test_a_sweep_with_no_finished_point_says_so(page: Any) -> None:
    page.click("text=Policies")
    page.wait_for_selector("#policy-side")
    choose(page, "sweep-dir", "pending")
    page.wait_for_selector("#policy-error .error")
    assert "pending: no point has finished yet" in page.inner_text("#policy-error")
    assert "Traceback" not in page.content()


def test_the_page_needs_no_internet(browser: Any, server: str) -> None:
    """Every request of the page (scripts, styles, Plotly.js) goes to the dashboard itself."""
    page = browser.new_page(viewport=VIEWPORT)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server)
    page.wait_for_selector("#rates-graph .legendtext", timeout=WAIT_MS)
    page.close()
    assert any(url.endswith(".js") or ".js?" in url for url in requested)
    assert [url for url in requested if not url.startswith(server)] == []


def test_the_page_cannot_be_framed(browser: Any, server: str) -> None:
    """Another site cannot put the page in a frame (and have a user click "Start run"
    unawares): the browser refuses to show it, by the page's own headers."""
    page = browser.new_page(viewport=VIEWPORT)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame" in m.text else None)
    page.set_content(f'<iframe id="f" src="{server}" width="800" height="600"></iframe>')
    page.wait_for_timeout(FRAME_WAIT_MS)
    frame = page.frame_locator("#f")
    # A framed dashboard would show its title and tabs within this time (the same page, not
    # framed, shows them: the other tests).
    assert frame.locator("#tabs").count() == 0
    page.close()
    assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in refused), refused


def test_the_queue_is_shown_before_a_run_is_started(page: Any) -> None:
    page.click("text=Run one")
    page.wait_for_function(
        "() => document.querySelector('#run-queue')?.innerText.startsWith('Queue:')"
    )
    assert "running" in page.inner_text("#run-queue")
    assert page.get_attribute("#run-start", "disabled") is None


def test_bad_directories_are_messages_not_stack_traces(page: Any, dirs: dict[str, Path]) -> None:
    page.wait_for_selector("#problems .error")
    problems = page.inner_text("#problems")
    assert f"{dirs['empty'].name}: the directory is empty" in problems
    assert f"{dirs['missing'].name}: no such directory" in problems
    assert "Traceback" not in page.content()


def test_missing_extra_is_a_clear_error(tmp_path: Path) -> None:
    """Without Dash, the command says how to install it and exits with status 2."""
    hide = "import sys; sys.modules['dash'] = None; "
    run = "from streetlevel.cli.app import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide + run, "dashboard", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "pip install 'streetlevel[dashboard]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_else_imports_the_framework() -> None:
    """The CLI and the package load without Dash; only streetlevel/dashboard names it."""
    code = (
        "import sys, streetlevel.cli.app, streetlevel.analysis.benchmark, streetlevel.experiments; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dash', 'plotly')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
    src = Path(__file__).resolve().parents[1] / "src" / "streetlevel"
    naming = [
        path.relative_to(src)
        for path in src.rglob("*.py")
        if "dashboard" not in path.parts
        and any(
            line.lstrip().startswith(("import dash", "from dash", "import plotly", "from plotly"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert naming == []
