"""The command line, as a user runs it: exit codes, JSON, messages."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from streetlevel.output.catalogue import entries, lookup
from streetlevel.scenario.loading import preset_text
from tests.conftest import children, cli, ended

EXPECTED_INDICATORS = {
    "national_sanction_rate",
    "repeat_share",
    "sanction_rate_category_1",
    "sanction_rate_category_2",
    "sanction_rate_category_3",
    "sanction_rate_municipality_a",
    "sanction_rate_municipality_b",
    "exit_work_rate",
    "exit_unknown_rate",
}


@pytest.mark.slow
def test_run_json(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = cli(
        "run", "denmark-2011", "--replications", "2", "--years", "1", "--seed", "4",
        "--set", "scale.client_scale=0.05", "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["scenario"] == "denmark-2011"
    assert summary["seed"] == 4 and summary["replications"] == 2
    assert summary["out"] == str(out)
    assert summary["wall_seconds"] > 0
    names = {i["name"] for i in summary["indicators"]}
    assert names >= EXPECTED_INDICATORS
    for ind in summary["indicators"]:
        assert set(ind) >= {
            *("name", "mean", "spread_low", "spread_high", "mean_ci_low", "mean_ci_high"),
            *("description", "label", "unit"),
        }
        assert ind["unit"] == lookup(ind["name"]).unit.name  # the catalogue's
        if ind["mean"] is not None:
            assert ind["spread_low"] <= ind["mean"] <= ind["spread_high"]
            assert ind["mean_ci_low"] <= ind["mean"] <= ind["mean_ci_high"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == 4
    again = cli("summary", str(out), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["indicators"] == summary["indicators"]
    missing = cli("summary", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not a run directory" in missing.stderr


@pytest.mark.slow
def test_run_table_and_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ("run", "municipality-a", "--replications", "2", "--out", str(out))
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    # Labels and units of the catalogue: a share in %, a gap in percentage points.
    assert "sanction rate, Municipality A" in done.stdout
    assert "spread of replications" in done.stdout and "95 % CI of the mean" in done.stdout
    assert " % " in done.stdout and " pp " in done.stdout
    again = cli(*args)
    assert again.returncode == 2
    assert "already holds results" in again.stderr
    assert "Traceback" not in again.stderr


def test_bad_scenario_gives_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(preset_text("municipality-a").replace("[offers]\n", "[offers]\nspeed = 1\n"))
    done = cli("run", str(bad), "--out", str(tmp_path / "never"))
    assert done.returncode == 2
    assert str(bad) in done.stderr
    assert "offers.speed: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_presets_and_show(tmp_path: Path) -> None:
    listed = cli("presets")
    assert listed.returncode == 0
    for name in ("denmark-2011", "denmark-2014", "municipality-a", "municipality-b"):
        assert name in listed.stdout
    shown = cli("show", "denmark-2014")
    assert shown.returncode == 0
    assert shown.stdout == preset_text("denmark-2014")
    copy = tmp_path / "copy.toml"
    copy.write_text(shown.stdout)
    rerun = cli(
        "run", str(copy), "--replications", "1", "--years", "1",
        "--set", "scale.client_scale=0.02", "--out", str(tmp_path / "r"), "--json",
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("streetlevel ")
    missing = cli("show", "narnia-2020")
    assert missing.returncode == 2 and "no such preset" in missing.stderr


def test_indicators_lists_the_catalogue() -> None:
    listed = cli("indicators")
    assert listed.returncode == 0, listed.stderr
    for entry in entries():
        assert entry.name in listed.stdout
    assert "percentage_points" in listed.stdout


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_leaves_only_complete_files(
    tmp_path: Path, sig: signal.Signals, workers: int
) -> None:
    """Interrupted in the middle of writing, in one process or with worker processes: only
    finished batch files remain, each listed in a manifest that says "interrupted", and no
    worker outlives the run."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streetlevel", "run", "denmark-2011", "--replications", "4",
         "--set", "scale.client_scale.value=0.2", "--batch-size", "1",
         "--workers", str(workers), "--years", "30", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    manifest = out / "manifest.json"
    events = out / "events.parquet"
    deadline = time.monotonic() + 120
    while not list(events.glob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until the first reporting year is being written
    assert proc.poll() is None, "the run ended before it could be interrupted"
    spawned = children(proc.pid)
    assert len(spawned) >= (workers if workers > 1 else 0)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in stderr
    assert not list(out.rglob("*.partial"))
    record = json.loads(manifest.read_text())
    for table in ("events", "client_years", "municipality_years"):
        files = sorted(p.name for p in (out / f"{table}.parquet").iterdir())
        assert files == sorted(record["parts"]), table
        for name in files:
            pq.read_metadata(out / f"{table}.parquet" / name)  # complete, readable files
    # The workers are killed and joined before the run exits; multiprocessing's resource
    # tracker leaves when it sees the run's end of its pipe close, a moment later.
    deadline = time.monotonic() + 10
    while (alive := [p for p in spawned if not ended(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, [Path(f"/proc/{p}/cmdline").read_bytes() for p in alive]
    assert json.loads(manifest.read_text())["status"] == "interrupted"
