"""The dashboard's files view (issue 19): aggregated counts (``--aggregated``) and per-unit
files (``--funnel``) given on its command line, shown with what ``streetlevel benchmark`` and
``streetlevel funnel`` give for them; read at start-up (a bad file stops the command with the
reader's message); named by the page only by their place in the server's list.

Callbacks through Flask's test client (no browser), the command in-process and once in a
subprocess, and one browser test in the system's chromium (marked ``browser`` by
tests/conftest.py), which also takes the docs' screenshot with STREETLEVEL_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import streetlevel.dashboard as dashboard_package
from streetlevel.analysis.aggregate import AggregateDataError, read_aggregates
from streetlevel.analysis.funnel_report import FunnelDataError, read_units
from streetlevel.analysis.standardise import benchmark_source
from streetlevel.cli.app import app as cli_app
from streetlevel.cli.app import main
from streetlevel.dashboard.app import create_app
from streetlevel.dashboard.file_views import NO_FILE
from streetlevel.dashboard.files import FunnelOptions, ServedFile, load_files
from streetlevel.output.catalogue import lookup
from tests.conftest import dashboard, free_port
from tests.test_dashboard import VIEWPORT, WAIT_MS, choose, rows, screenshot
from tests.test_dashboard_security import body, post

EXAMPLE = Path(str(resources.files("streetlevel") / "data" / "example-aggregated.csv"))
UNITS = """trust;deaths;expected_deaths;admissions
North;30;20,5;400
South;12;14;300
East;64;30;520
West;8;9,5;210
Central;20;21;350
Harbour;3;10;180
Hill;17;16;260
Vale;25;27;450
"""
"""A small per-unit file as a Danish spreadsheet writes it (``;``, decimal commas): East is
far above what is expected, Harbour below."""
COLUMNS = {"unit": "trust", "observed": "deaths", "expected": "expected_deaths"}
"""The columns, as `streetlevel funnel` names them (``--unit trust``...)."""
FUNNEL_COLUMNS = [a for k, v in COLUMNS.items() for a in (f"--funnel-{k}", v)]
"""The same for the dashboard (``--funnel-unit trust``...): its ``--unit`` is the aggregated
files' own, as in ``streetlevel benchmark``."""


@pytest.fixture(scope="module")
def units_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "units.csv"
    path.write_text(UNITS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(units_csv: Path) -> list[ServedFile]:
    return load_files(
        [EXAMPLE], [units_csv], funnel_options=FunnelOptions("trust", "deaths", "expected_deaths")
    )


@pytest.fixture(scope="module")
def client(served: list[ServedFile], tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = create_app([], tmp_path_factory.mktemp("work") / "work", files=served)
    return app.server.test_client(), app.callback_map


def view(client: Any, value: Any) -> Any:
    """The files view's callback as the page sends it for the file at ``value``."""
    test_client, callbacks = client
    return post(test_client, body(callbacks, "file-view.children", {"file.value": value}))


def component(tree: Any, wanted: str) -> dict[str, Any] | None:
    """The component with id ``wanted`` in a Dash response's JSON."""
    if isinstance(tree, dict):
        if tree.get("props", {}).get("id") == wanted:
            return tree
        found = (component(v, wanted) for v in tree.values())
    elif isinstance(tree, list):
        found = (component(v, wanted) for v in tree)
    else:
        return None
    return next((f for f in found if f is not None), None)


def text(tree: Any) -> str:
    """The text of a component and everything in it."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return text(tree.get("props", {}).get("children"))
    if isinstance(tree, list):
        return "".join(text(t) for t in tree)
    return "" if tree is None else str(tree)


def table(tree: Any, wanted: str) -> pd.DataFrame:
    """A table of the response by its id: its header and its cells as text."""
    found = component(tree, wanted)
    assert found is not None, wanted
    head, rows_ = found["props"]["children"]
    header = [text(c) for c in head["props"]["children"]["props"]["children"]]
    cells = [[text(c) for c in r["props"]["children"]] for r in rows_["props"]["children"]]
    return pd.DataFrame(cells, columns=header)


def shown(client: Any, value: int) -> Any:
    response = view(client, value)
    assert response.status_code == 200, response.text[:300]
    return json.loads(response.text)["response"]


# -- the views ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_aggregated_view_shows_what_benchmark_writes(client: Any, tmp_path: Path) -> None:
    """The example file's view against the files `streetlevel benchmark` writes for it."""
    done = CliRunner().invoke(cli_app, ["benchmark", str(EXAMPLE), "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    adjusted = pd.read_csv(tmp_path / "risk_adjusted.csv").sort_values("ratio", ascending=False)
    ranking = pd.read_csv(tmp_path / "ranking.csv").sort_values(["region", "rank"])
    written = json.loads((tmp_path / "benchmark.json").read_text(encoding="utf-8"))
    page = shown(client, 0)
    assert text(component(page, "file-title")).startswith(
        f"Benchmark {written['year']}: {written['units']} units"
    )
    summary = text(component(page, "file-summary"))
    assert f"outside the 95 % limits after risk adjustment: {written['outside_95']} " in summary
    assert f"outside the 99.8 % limits after risk adjustment: {written['outside_998']} " in summary
    ratio = lookup("ratio", "benchmark")
    ratios = table(page, "file-ratios")
    assert ratios["municipality"].tolist() == adjusted["municipality"].tolist()
    assert ratios[ratio.label].tolist() == [ratio.format(v) for v in adjusted["ratio"]]
    assert ratios["outside 95 %"].tolist() == [
        lookup("outside_95", "benchmark").format(v) for v in adjusted["outside_95"]
    ]
    published = table(page, "file-ranking")
    assert published["municipality"].tolist() == ranking["municipality"].tolist()
    assert published["rank in region"].tolist() == [str(r) for r in ranking["rank"]]
    # Three years in the file: the ratios over the years, as the CLI writes them.
    persistent = pd.read_csv(tmp_path / "persistent.csv")
    assert table(page, "file-persistent")["municipality"].tolist() == (
        persistent["municipality"].tolist()
    )
    assert len(persistent) > 0
    for figure in ("file-funnel", "file-raw-funnel", "file-years"):
        found = component(page, figure)
        assert found is not None and found["props"]["src"].startswith("data:image/png;base64,")


def test_the_funnel_view_shows_what_funnel_prints(client: Any, units_csv: Path) -> None:
    done = CliRunner().invoke(
        cli_app,
        [
            "funnel",
            str(units_csv),
            *(a for k, v in COLUMNS.items() for a in (f"--{k}", v)),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    printed = sorted(json.loads(done.output)["units"], key=lambda u: -u["ratio"])
    page = shown(client, 1)
    every = table(page, "file-units")
    assert every["unit"].tolist() == [u["unit"] for u in printed]
    assert every["ratio"].tolist() == [f"{u['ratio']:.3f}" for u in printed]
    assert every["expected"].tolist() == [f"{u['expected']:.4g}" for u in printed]
    flags = [
        "99.8 %" if u["outside_998_overdispersed"] else "95 %" if u["outside_95_overdispersed"]
        else "" for u in printed
    ]  # fmt: skip
    assert every["flag"].tolist() == flags
    outliers = table(page, "file-outliers")
    flagged = [u["unit"] for u in printed if any(u[k] for k in u if k.startswith("outside_"))]
    assert outliers["unit"].tolist() == flagged
    assert "East" in flagged and "Central" not in flagged
    summary = text(component(page, "file-summary"))
    assert summary.startswith(f"{len(printed)} units, ratios (exact Poisson limits)")
    assert "Funnel plot of" in text(component(page, "file-title"))
    assert str(units_csv) in text(component(page, "file-title"))
    figure = component(page, "file-funnel")
    assert figure is not None and figure["props"]["src"].startswith("data:image/png;base64,")


def test_a_funnel_file_with_a_denominator_is_proportions(units_csv: Path) -> None:
    options = FunnelOptions("trust", "deaths", "expected_deaths", "admissions")
    [served] = load_files(funnels=[units_csv], funnel_options=options)
    assert served.funnel.proportion
    app = create_app([], units_csv.parent / "work", files=[served])
    page = shown((app.server.test_client(), app.callback_map), 0)
    every = table(page, "file-units")
    units = read_units(units_csv, "trust", "deaths", "expected_deaths", "admissions")
    assert sorted(every["denominator"].tolist()) == sorted(f"{v:g}" for v in units["denominator"])
    assert "proportions (binomial limits)" in text(component(page, "file-summary"))


def test_with_no_file_the_view_says_how_to_give_one(tmp_path: Path) -> None:
    app = create_app([], tmp_path / "work")
    response = view((app.server.test_client(), app.callback_map), None)
    assert response.status_code == 200
    assert (
        NO_FILE
        in json.loads(response.text)["response"]["file-error"]["children"]["props"]["children"]
    )


# -- what a request may name -------------------------------------------------------------------


def forged_files(served: list[ServedFile]) -> list[Any]:
    """Values the page never sends for a file: paths (of a served file too), numbers out
    of the list's range, and values of other kinds."""
    return [
        str(EXAMPLE),
        served[1].label,
        "/etc/passwd",
        "../" * 8 + "etc/passwd",
        "%2e%2e%2fetc%2fpasswd",
        "0",
        "",
        len(served),
        99,
        2**70,
        -1,
        1.5,
        True,
        [0],
        {"index": 0},
    ]


def test_a_forged_file_is_refused(client: Any, served: list[ServedFile]) -> None:
    """A path, an index out of range or a value of another kind: 400, with nothing of a
    file in the answer; the files offered still answer afterwards."""
    for forged in forged_files(served):
        response = view(client, forged)
        assert response.status_code == 400, (forged, response.text[:300])
        assert "root:x:0:0" not in response.text
        assert "Aarhus" not in response.text, forged
        assert "Traceback" not in response.text
    assert view(client, len(served) - 1).status_code == 200


# -- at start-up --------------------------------------------------------------------------------


def start(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> tuple[int, str, list]:
    """``streetlevel dashboard ARGS`` in-process, as the entry point runs it, with the server
    replaced by a recorder: (exit status, stderr, the calls the server got)."""
    calls: list[Any] = []
    monkeypatch.setattr(dashboard_package, "serve", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(sys, "argv", ["streetlevel", "dashboard", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    return int(stopped.value.code or 0), capsys.readouterr().err, calls


def reader_message(error: type[Exception], read: Any) -> str:
    with pytest.raises(error) as raised:
        read()
    return str(raised.value)


def test_a_bad_aggregated_file_stops_it_with_the_readers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    bad = tmp_path / "counts.csv"
    bad.write_text(
        "municipality;year;sanctioned;recipients\nAarhus;2011;12;100\nOdense;2011;x;50\n"
    )
    expected = reader_message(AggregateDataError, lambda: read_aggregates(bad))
    assert "row 2 (line 3), column 'sanctioned'" in expected
    status, stderr, calls = start(["--aggregated", str(bad)], monkeypatch, capsys)
    assert (status, calls) == (2, [])
    assert expected in stderr
    assert "Traceback" not in stderr


def test_a_bad_funnel_file_stops_it_with_the_readers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    bad = tmp_path / "units.csv"
    bad.write_text("trust,deaths,expected_deaths\nNorth,3,2\nSouth,4,-1\n")
    expected = reader_message(
        FunnelDataError, lambda: read_units(bad, "trust", "deaths", "expected_deaths")
    )
    assert "row 2 (line 3), column 'expected_deaths'" in expected
    status, stderr, calls = start(["--funnel", str(bad), *FUNNEL_COLUMNS], monkeypatch, capsys)
    assert (status, calls) == (2, [])
    assert expected in stderr
    # Without the columns named, the command says which options it needs.
    status, stderr, calls = start(["--funnel", str(bad)], monkeypatch, capsys)
    assert (status, calls) == (2, [])
    assert "--funnel needs --funnel-unit, --funnel-observed and --funnel-expected" in stderr


def test_good_files_reach_the_server(
    units_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    status, _, calls = start(
        ["--aggregated", str(EXAMPLE), "--funnel", str(units_csv), *FUNNEL_COLUMNS],
        monkeypatch,
        capsys,
    )
    assert status == 0
    [(_, options)] = calls
    assert [(f.label, f.kind) for f in options["files"]] == [
        (str(EXAMPLE), "aggregated"),
        (str(units_csv), "funnel"),
    ]
    expected = benchmark_source(EXAMPLE, input="aggregated").risk_adjusted
    assert options["files"][0].benchmark.risk_adjusted.equals(expected)


def test_a_bad_file_stops_the_real_command_before_it_listens(tmp_path: Path) -> None:
    bad = tmp_path / "counts.csv"
    bad.write_text("municipality,sanctioned\nAarhus,12\n")
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "streetlevel", "dashboard", "--aggregated", bad.name,
         "--port", str(port)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: counts.csv: line 1: missing column(s) 'recipients'")
    assert "dashboard on http" not in done.stdout
    assert "Traceback" not in done.stderr


# -- in the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(units_csv: Path) -> Iterator[str]:
    root = units_csv.parent
    args = ["--aggregated", str(EXAMPLE), "--funnel", units_csv.name, *FUNNEL_COLUMNS,
            "--work-dir", "work"]  # fmt: skip
    with dashboard(args, root, cwd=root) as (port, _):
        yield f"http://127.0.0.1:{port}/"


def test_the_files_view_in_the_browser(browser: Any, server: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(WAIT_MS)
    page.goto(server)
    page.click("text=Files")
    page.wait_for_selector("#file-ratios")
    adjusted = benchmark_source(EXAMPLE, input="aggregated").risk_adjusted
    highest = adjusted.sort_values("ratio", ascending=False)["municipality"].iloc[0]
    assert rows(page, "file-ratios")[0][0] == highest
    assert page.get_attribute("#file-funnel", "src").startswith("data:image/png;base64,")
    choose(page, "file", "units.csv (funnel)")
    page.wait_for_selector("#file-units")
    assert rows(page, "file-units")[0][0] == "East"
    screenshot(page, "files", tmp_path)
    assert "Traceback" not in page.content()
    page.close()
