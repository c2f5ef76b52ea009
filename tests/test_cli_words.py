"""The command line's words: what it says when a run is interrupted, when an input is wrong,
when a search or a design is too small to trust, and the outputs a newcomer expects (issue 22).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from streetlevel.analysis.aggregate import read_aggregates
from streetlevel.analysis.microdata import DecisionDataError, read_decisions
from streetlevel.cli.analysis import DANISH_PARAMETERS
from streetlevel.errors import ExperimentError, StreetlevelError
from streetlevel.experiments import run_sweep
from streetlevel.experiments import sweep as sweep_module
from streetlevel.experiments.sensitivity import design_warnings
from streetlevel.experiments.spec import load_experiment
from streetlevel.output.run import run_scenario
from streetlevel.output.summary import summarize
from streetlevel.scenario.loading import load_scenario
from streetlevel.scenario.tables import sniff_delimiter
from streetlevel.validation.calibration import calibrate
from streetlevel.validation.calibration_report import calibration_json, print_calibration
from streetlevel.validation.calibration_setup import FreeParameter, load_setup
from streetlevel.validation.search import least_budget, moving_budget
from streetlevel.validation.standard_errors import IDENTIFICATION
from streetlevel.validation.targets import Target
from tests.conftest import TINY, cli, small, tiny_scenario


@pytest.mark.slow
def test_ctrl_c_says_what_was_kept_and_names_resume(tmp_path: Path) -> None:
    """Ctrl-C mid-run: exit status 130, and a message naming the batches kept, the directory
    and the command that goes on with --resume; that command finishes the run."""
    out = tmp_path / "run"
    args = ["run", "municipality-b", "--replications", "3", "--batch-size", "1",
            "--workers", "1", "--years", "10", "--seed", "7", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "streetlevel", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the first batch is finished
        try:
            if json.loads(manifest.read_text())["parts"]:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    kept = re.search(r"interrupted: (\d) of 3 batches", stderr)
    assert kept is not None, stderr
    assert int(kept.group(1)) == len(json.loads(manifest.read_text())["parts"]) >= 1
    assert str(out) in stderr
    command = stderr.strip().splitlines()[-1].strip()
    words = shlex.split(command)
    assert words[:3] == ["streetlevel", "run", "municipality-b"] and words[-1] == "--resume"
    for option in ("--seed", "--years", "--batch-size", "--out"):
        assert words[words.index(option) + 1] == args[args.index(option) + 1]
    again = cli(*words[1:], "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(manifest.read_text())["status"] == "complete"


@pytest.mark.slow
def test_set_expands_every_entry_of_a_list_as_experiment_files_do(tmp_path: Path) -> None:
    """`--set 'municipalities[*].x=v'` sets every listed municipality, the same scenario an
    experiment's constant with that key gives; a [*] after something that is no list is named."""
    out = tmp_path / "run"
    done = cli(
        "run", "municipality-b", "--replications", "1", "--years", "1", "--out", str(out),
        "--set", "municipalities[*].management_strictness=0.25", "--json", "--report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "data:image/png;base64," in (out / "report.html").read_text(encoding="utf-8")
    ran = load_scenario(out / "scenario.toml")
    assert ran.municipalities
    assert {m.management_strictness.value for m in ran.municipalities} == {0.25}
    experiment = tmp_path / "e.toml"
    experiment.write_text(
        '[experiment]\nname = "e"\nscenario = "municipality-b"\nseed = 1\n'
        "replications = 1\n[design]\n"
        'kind = "full_factorial"\n[constants]\n'
        '"municipalities[*].management_strictness" = 0.25\n'
        '[[levers]]\nname = "r"\nkey = "sanctions.recompliance"\nvalues = [0.2]\n',
        encoding="utf-8",
    )
    base = load_experiment(experiment).base
    assert [m.management_strictness.value for m in base.municipalities] == [
        m.management_strictness.value for m in ran.municipalities
    ]
    wrong = cli("run", "municipality-b", "--set", "scale[*].client_scale=1", "--out",
                str(tmp_path / "no"))  # fmt: skip
    assert wrong.returncode == 2
    assert "scale[*].client_scale: not a list before [*]" in wrong.stderr
    assert not (tmp_path / "no").exists()


def _example(name: str) -> list[list[str]]:
    text = (resources.files("streetlevel") / "data" / name).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text.splitlines()[0])))


def _write(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def test_a_semicolon_decision_file_reads_as_the_comma_one(tmp_path: Path) -> None:
    """Danish spreadsheets write `;`: the decision file reads the same either way."""
    rows = _example("example-decisions.csv")
    comma = read_decisions(_write(tmp_path / "comma.csv", rows))
    semicolon = read_decisions(_write(tmp_path / "semicolon.csv", rows, ";"))
    pd.testing.assert_frame_equal(comma, semicolon)


@pytest.mark.parametrize(
    ("name", "column", "read"),
    [
        ("example-decisions.csv", "sanctions", read_decisions),
        ("example-aggregated.csv", "sanctioned", read_aggregates),
    ],
)
def test_a_renamed_column_is_named_beside_the_missing_one(
    tmp_path: Path, name: str, column: str, read: Callable[[Path], object]
) -> None:
    rows = _example(name)
    rows[0][rows[0].index(column)] = "sanktioner"
    with pytest.raises(StreetlevelError) as err:
        read(_write(tmp_path / name, rows, ";"))
    message = str(err.value)
    assert message.startswith(str(tmp_path / name))
    assert re.search(rf"missing column\S* '{column}'", message), message
    assert re.search(r"unknown column\S* 'sanktioner'", message), message


def test_a_bad_whole_number_is_said_plainly(tmp_path: Path) -> None:
    """No "(of at most 9,007,199,254,740,992)": a number too large is said to be so, and
    only where it is."""
    rows = _example("example-decisions.csv")
    column = rows[0].index("sanctions")
    rows[1][column], rows[2][column] = "1.5", "99999999999999999999"
    with pytest.raises(DecisionDataError) as err:
        read_decisions(_write(tmp_path / "d.csv", rows))
    lines = str(err.value).splitlines()
    assert lines[0].endswith("row 1 (line 2), column 'sanctions': '1.5' is not a whole number")
    assert lines[1].endswith(
        "row 2 (line 3), column 'sanctions': '99999999999999999999' is a whole number too "
        "large to hold exactly"
    )
    assert "at most" not in str(err.value) and "9,007" not in str(err.value)


@pytest.mark.slow
def test_calibrate_help_and_budget_check_agree() -> None:
    """`--help` states the least budget the check enforces, for the Danish set-up's real
    number of parameters, and a smaller budget is refused before any simulation."""
    k = len(load_setup("denmark").parameters)
    assert k == DANISH_PARAMETERS
    shown = cli("calibrate", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert f"[x>={least_budget(1)}]" in text
    assert f"{least_budget(k)} for the Danish set-up's {k} parameters" in text
    assert all(least_budget(n) == 6 * (n + 1) for n in range(1, 12))  # as --help words it
    too_small = cli("calibrate", "municipality-b", "--budget", str(least_budget(k) - 1))
    assert too_small.returncode == 2
    assert f"at least {least_budget(k)}" in too_small.stderr
    assert cli("calibrate", "municipality-b", "--budget", str(least_budget(1) - 1)).returncode == 2


@pytest.mark.slow
def test_calibrate_at_the_least_budget_says_it_did_not_move() -> None:
    """At the least budget the search cannot move: the report says so plainly, and the table
    gives full names, units, and the fit in the catalogue's units with sigma explained."""
    scenario = tiny_scenario()
    free = [FreeParameter("sanctions.recompliance", 0.05, 0.95, "national_sanction_rate")]
    target = Target(
        name="national_sanction_rate", description="t", kind="share", source="t",
        presets=[], value=0.2, precision=0.005,
    )  # fmt: skip
    result = calibrate(
        scenario, free, seed=1, replications=1, budget=least_budget(1), targets=[target]
    )
    (estimate,) = result.estimates
    assert estimate.value == estimate.start == scenario.sanctions.recompliance.value
    assert any(w.startswith("the search did not move") for w in result.warnings)
    assert f"at least {moving_budget(1)}" in result.warnings[0]
    console = Console(record=True, width=100)
    print_calibration(result, console)
    shown = console.export_text()
    assert "sanctions.recompliance" in shown  # whole, on one line
    assert f" {scenario.sanctions.recompliance.unit} " in shown
    assert "warning: the search did not move" in " ".join(shown.split())
    assert "sigma: how far the simulated figure" in shown
    row = next(line for line in shown.splitlines() if "national_sanction_rate" in line)
    assert "20.0 %" in row and " pp " in row  # published in %, sigma in percentage points
    assert calibration_json(result)["warnings"] == result.warnings


@pytest.mark.slow
def test_a_parameter_the_moments_do_not_move_is_not_called_identified() -> None:
    """The benefit office's intercept when no municipality routes absences there: its
    verdict is "not identified by the moments", and a warning names it."""
    scenario = small(
        "municipality-b", scale=1.0, time__burn_in_years=1, time__reporting_years=1,
        **{"municipalities[0].absence_route": "caseworker"},
    )  # fmt: skip
    free = [FreeParameter("decision.benefit_office.intercept", -5.0, 3.0, "national_sanction_rate")]
    target = Target(
        name="national_sanction_rate", description="t", kind="share", source="t",
        presets=[], value=0.2, precision=0.005,
    )  # fmt: skip
    result = calibrate(scenario, free, seed=1, replications=1, budget=24, targets=[target])
    assert result.estimates[0].identified == IDENTIFICATION["none"]
    assert any("decision.benefit_office.intercept" in w for w in result.warnings)


TINY_SOBOL = """
[experiment]
name = "tiny-sobol"
scenario = "municipality-b"
seed = 3
replications = 1

[design]
kind = "sobol"
samples = 2

[constants]
"scale.client_scale" = 0.5
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[uncertainties]]
name = "office_intercept"
key = "decision.benefit_office.intercept"
range = [-4.0, 0.0]

[[uncertainties]]
name = "recompliance"
key = "sanctions.recompliance"
range = [0.2, 0.8]
"""


@pytest.mark.slow
def test_sensitivity_of_a_tiny_design_warns_and_says_what_to_do(tmp_path: Path) -> None:
    """Sobol on 2 base samples: the command still writes its indices, and warns that the
    design is too small, naming the samples that would do; the report says it too."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SOBOL, encoding="utf-8")
    run_sweep(load_experiment(path), tmp_path / "out", workers=1)
    done = cli("sensitivity", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert "warning: sensitivity: the design is too small for its indices" in said
    wanted = re.search(r"design\.samples = (\d+) or more \(2 now\)", said)
    assert wanted is not None and int(wanted.group(1)) > 2, said
    html = (tmp_path / "out" / "sensitivity.html").read_text(encoding="utf-8")
    assert "the design is too small for its indices" in html


def test_design_warnings_only_when_the_indices_are_uncertain() -> None:
    """Narrow Sobol intervals and no negative index: no warning; one negative index beyond
    its interval: a warning naming it; Morris with mu* within its noise: a warning."""
    narrow = pd.DataFrame(
        {"outcome": ["r", "r"], "factor": ["a", "b"], "S1": [0.8, -0.01],
         "S1_conf": [0.05, 0.02], "ST": [0.9, 0.02], "ST_conf": [0.05, 0.02]}
    )  # fmt: skip
    assert design_warnings(narrow, 1024) == []
    negative = narrow.assign(S1=[0.8, -0.05])
    (warning,) = design_warnings(negative, 1024)
    assert "b on r: S1 = -0.05 +- 0.02" in warning and "design.samples = 4096" in warning
    morris = pd.DataFrame(
        {"outcome": ["r", "r"], "factor": ["a", "b"], "mu_star": [0.01, 0.0],
         "mu_star_conf": [0.02, 0.0], "mu": [0.0, 0.0], "sigma": [0.02, 0.0]}
    )  # fmt: skip
    (warning,) = design_warnings(morris, 4)
    assert "too few trajectories" in warning and "design.samples = 16" in warning
    assert design_warnings(morris.assign(mu_star_conf=[0.001, 0.0]), 4) == []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny scenario (a fraction of a second)."""
    out = tmp_path_factory.mktemp("words") / "run"
    run_scenario(tiny_scenario(), seed=2, replications=2, out=out)
    return out


def test_summary_as_a_frame_and_as_csv(tiny_run: Path, tmp_path: Path) -> None:
    """`Summary.to_frame()` has a row per indicator with the numbers of --json and the text
    of the table; `summary --csv` writes that frame."""
    summary = summarize(tiny_run)
    frame = summary.to_frame()
    assert frame["name"].tolist() == [i.name for i in summary.indicators]
    assert list(frame.columns[:8]) == [
        *("name", "label", "unit", "mean", "spread_low", "spread_high"),
        *("mean_ci_low", "mean_ci_high"),
    ]
    row = frame.set_index("name").loc["national_sanction_rate"]
    indicator = summary.get("national_sanction_rate")
    assert (row["mean"], row["spread_low"], row["spread_high"]) == (
        indicator.mean, indicator.low, indicator.high,
    )  # fmt: skip
    assert (row["mean_ci_low"], row["mean_ci_high"]) == (indicator.ci_low, indicator.ci_high)
    assert row["unit"] == "share" and row["mean_shown"] == indicator.format(indicator.mean)
    assert row["mean_shown"].endswith(" %")
    path = tmp_path / "summary.csv"
    done = cli("summary", str(tiny_run), "--csv", str(path))
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert written["name"].tolist() == frame["name"].tolist()
    np.testing.assert_allclose(written["mean"], frame["mean"].astype(float), equal_nan=True)
    assert written["spread_shown"].tolist() == frame["spread_shown"].tolist()
    assert written["mean_ci_shown"].tolist() == frame["mean_ci_shown"].tolist()


def test_a_refused_sweep_directory_says_what_changed(tmp_path: Path) -> None:
    """A directory holding another version of the experiment is refused with the key paths
    that differ, in the experiment file and in the base scenario it resolves to."""
    first = tmp_path / "first.toml"
    first.write_text(TINY, encoding="utf-8")
    out = tmp_path / "sweep"
    # What a sweep writes before its first point (no simulation needed to be refused).
    out.mkdir()
    sweep_module._prepare(load_experiment(first), out)
    edited = tmp_path / "edited.toml"
    edited.write_text(
        TINY.replace("seed = 5", "seed = 6").replace('client_scale" = 0.5', 'client_scale" = 0.4'),
        encoding="utf-8",
    )
    with pytest.raises(ExperimentError) as err:
        run_sweep(load_experiment(edited), out, workers=1)
    message = str(err.value)
    assert "holds the results of another experiment" in message
    assert "experiment.seed (5, now 6)" in message
    assert "constants.scale.client_scale (0.5, now 0.4)" in message
    assert "scenario: scale.client_scale.value (0.5, now 0.4)" in message


@pytest.mark.slow
def test_report_is_one_self_contained_file_naming_the_run(tiny_run: Path, tmp_path: Path) -> None:
    """`streetlevel report` writes one HTML file: its figures embedded as data: URLs, no
    script or stylesheet fetched, the scenario and its indicators named."""
    path = tmp_path / "r.html"
    done = cli("report", str(tiny_run), "--out", str(path))
    assert done.returncode == 0, done.stderr
    text = path.read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="([^"]*)"', text)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"<script|<link|src=\"(?!data:)|url\(", text)
    summary = summarize(tiny_run)
    assert summary.scenario in text
    for name in ("national_sanction_rate", "repeat_share", "exit_work_rate"):
        assert f"<td>{summary.get(name).label}</td>" in text and name in text
    missing = cli("report", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "error:" in missing.stderr
