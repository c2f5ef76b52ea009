"""Faults: signals during a sweep, a Dask worker killed mid-point, a full disk (a mock of the
writes, and a real small tmpfs when this process may mount one), SIGKILL during a run.

Each test ends with results equal to an undisturbed run's or sweep's, or with results that
say clearly that they are incomplete. tests/test_experiments.py covers SIGKILL of a sweep and
a resume over half-written partitions; tests/test_cli.py and tests/test_run.py SIGINT and
SIGTERM of `streetlevel run`.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streetlevel.analysis.benchmark import benchmark
from streetlevel.errors import DiskFullError, ExperimentError, StreetlevelError
from streetlevel.experiments import load_experiment, read_results, run_sweep
from streetlevel.experiments import store as store_module
from streetlevel.experiments import sweep as sweep_module
from streetlevel.experiments.store import (
    CATALOG,
    POINTS,
    finished_points,
    partition_path,
    read_status,
)
from streetlevel.output import files, parquet
from streetlevel.output.run import run_in_memory, run_scenario
from streetlevel.output.summary import summarize
from streetlevel.scenario.loading import scenario_to_toml
from streetlevel.scenario.schema import Scenario
from tests.conftest import TINY_POINTS, TINY_REPLICATIONS, children, cli, ended
from tests.test_experiments import ordered

pytestmark = pytest.mark.slow  # signals, kills, full disks on Dask sweeps

WAIT = 120.0
"""Seconds to wait for something a healthy test sees in a few: a sweep's first point, a run's
first table being written, a worker starting a point (a loaded CI machine is slow, not
stuck)."""
POLL = 0.02
PROMPT = 30.0
"""Seconds a signalled sweep may take to stop: closing its local cluster takes 1-3 s here;
the bound only has to tell stopping from carrying on to the end."""
PAGE = os.sysconf("SC_PAGESIZE")
"""tmpfs allocates whole pages: a file of one byte takes one."""


def digest(path: Path) -> str:
    """The bytes of a file, or of every file under a directory, with their names."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        h.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def status_of(out: Path) -> dict[str, Any]:
    """The sweep's status record, which every sweep writes."""
    status = read_status(out)
    assert status is not None, f"{out}: no status record"
    return status


def partials(folder: Path) -> list[Path]:
    return list(folder.rglob(f"*{files.PARTIAL_SUFFIX}"))


def assert_parquet_files_whole(folder: Path) -> None:
    """Every Parquet file not marked partial has its footer: it was written to the end."""
    for path in folder.rglob("*.parquet"):
        if path.is_file():
            pq.read_metadata(path)


def assert_points_equal_reference(out: Path, reference: pd.DataFrame) -> set[int]:
    """The points stored in ``out`` are whole and equal the undisturbed sweep's rows."""
    done = finished_points(out)
    for point in done:
        rows = pq.read_table(partition_path(out, point)).to_pandas()
        expected = reference[reference["point"] == point].reset_index(drop=True)
        pd.testing.assert_frame_equal(ordered(rows), expected)
    assert {p.name for p in (out / POINTS).iterdir()} == {partition_path(out, p).name for p in done}
    return done


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One local Dask cluster for the sweeps run in this process (a sweep given an address
    uses it as it would a cluster of machines), so each need not start its own."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def reference(folder: Path, tiny_file: Path, cluster: str) -> pd.DataFrame:
    """The tiny experiment swept without disturbance."""
    out = folder / "undisturbed"
    run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    assert status_of(out)["status"] == "complete"
    return read_results(out)


@pytest.fixture
def tiny_run(tmp_path: Path, tiny: Scenario) -> Path:
    """The tiny scenario as a file, for `streetlevel run` in a subprocess."""
    path = tmp_path / "tiny-run.toml"
    path.write_text(scenario_to_toml(tiny), encoding="utf-8")
    return path


# -- 1. a sweep interrupted by SIGINT or SIGTERM -----------------------------------------------


def searched(out: Path) -> dict[str, str]:
    """DuckDB's setting that finds the catalog's files, named relative to ``out``."""
    return {"file_search_path": str(out)}


@pytest.mark.parametrize(
    ("sig", "group"),
    [
        # `kill PID`, or a batch system ending a job
        pytest.param(signal.SIGTERM, False, id="SIGTERM-to-the-sweep"),
        # Ctrl-C at a terminal: the sweep and its workers get it
        pytest.param(signal.SIGINT, True, id="SIGINT-to-its-process-group"),
    ],
)
def test_a_signalled_sweep_keeps_whole_points_says_interrupted_and_resumes(
    tmp_path: Path,
    tiny_file: Path,
    reference: pd.DataFrame,
    cluster: str,
    sig: signal.Signals,
    group: bool,
) -> None:
    out = tmp_path / "exp"
    process = subprocess.Popen(
        [sys.executable, "-m", "streetlevel", "sweep", str(tiny_file), "--out", str(out),
         "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT
        while not finished_points(out) and time.monotonic() < deadline:
            assert process.poll() is None, "the sweep ended before it could be signalled"
            time.sleep(POLL)
        signalled = time.monotonic()
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        _, stderr = process.communicate(timeout=PROMPT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0
    assert time.monotonic() - signalled < PROMPT
    assert "Traceback" not in stderr, stderr
    # Whole points only, equal to the undisturbed sweep's; nothing half-written outside tmp/.
    done = assert_points_equal_reference(out, reference)
    assert 1 <= len(done) < TINY_POINTS
    assert not [p for p in partials(out) if p.parent.name != "tmp"]
    assert_parquet_files_whole(out / POINTS)
    if (out / CATALOG).exists():
        with duckdb.connect(str(out / CATALOG), read_only=True, config=searched(out)) as con:
            counted = con.execute("SELECT count(*) FROM results").fetchone()
        assert counted is not None and counted[0] >= TINY_REPLICATIONS
    status = status_of(out)
    assert status["status"] == "interrupted"
    assert (status["finished"], status["points"]) == (len(done), TINY_POINTS)
    assert status["pid"] == process.pid
    # Resumed (here on a shared cluster): only the missing points run; the same results.
    result = run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    assert (result.ran, result.resumed) == (TINY_POINTS - len(done), len(done))
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))
    assert status_of(out)["status"] == "complete"


def test_an_interrupt_while_the_catalog_is_written_leaves_none_half_written(
    tmp_path: Path,
    tiny_file: Path,
    reference: pd.DataFrame,
    cluster: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C landing after the catalog's database is written, before its rename."""
    create_views = store_module._create_views
    interrupted: list[bool] = []

    def interrupting(con: duckdb.DuckDBPyConnection, out: Path, **how: bool) -> None:
        create_views(con, out, **how)
        if not interrupted and con.execute("PRAGMA database_list").fetchall()[0][2]:
            interrupted.append(True)  # once, and only in a catalog file (not `connect`)
            raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "_create_views", interrupting)
    out = tmp_path / "exp"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    assert interrupted
    assert not (out / CATALOG).exists()  # the half-made one stays in tmp/, never in place
    done = assert_points_equal_reference(out, reference)
    status = status_of(out)
    assert status["status"] == "interrupted"
    assert status["finished"] == len(done)
    result = run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    assert result.ran == TINY_POINTS - len(done)
    with duckdb.connect(str(out / CATALOG), read_only=True, config=searched(out)) as con:
        counted = con.execute("SELECT count(*) FROM results").fetchone()
    assert counted == (TINY_POINTS * TINY_REPLICATIONS,)
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))


# -- 2. a Dask worker killed mid-point ----------------------------------------------------------


def point_after_go(signals: Path, scenario: Scenario, seed: int, replications: int) -> Any:
    """A point that says it started (its seed and its worker's pid) and waits for a go."""
    (signals / f"started-{seed}-{os.getpid()}").touch()
    while not (signals / "go").exists():
        time.sleep(POLL)
    return run_in_memory(scenario, seed, replications)


def test_a_worker_killed_mid_point_is_replaced_and_the_sweep_completes(
    tmp_path: Path, tiny_file: Path, reference: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    monkeypatch.setattr(sweep_module, "run_point", functools.partial(point_after_go, signals))
    killed: dict[str, int] = {}

    def kill_the_first_worker_to_start() -> None:
        deadline = time.monotonic() + WAIT
        while not (started := sorted(signals.glob("started-*"))):
            if time.monotonic() > deadline:
                return
            time.sleep(POLL)
        _, seed, pid = started[0].name.split("-")
        killed.update(seed=int(seed), pid=int(pid))
        os.kill(int(pid), signal.SIGKILL)  # while it waits: certainly mid-point
        (signals / "go").touch()

    killer = threading.Thread(target=kill_the_first_worker_to_start, daemon=True)
    killer.start()
    out = tmp_path / "exp"
    result = run_sweep(load_experiment(tiny_file), out, workers=2)  # the sweep's own cluster
    killer.join(timeout=WAIT)
    assert killed, "no worker started a point"
    assert result.ran == TINY_POINTS
    # The killed point ran again, in another process, with the same seed.
    again = [p.name for p in signals.glob(f"started-{killed['seed']}-*")]
    assert len(again) >= 2
    assert any(not name.endswith(f"-{killed['pid']}") for name in again)
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))
    assert status_of(out)["status"] == "complete"


def point_that_kills_its_worker(doomed: int, scenario: Scenario, seed: int, reps: int) -> Any:
    if seed == doomed:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    return run_in_memory(scenario, seed, reps)


def test_a_point_that_kills_its_workers_does_not_discard_the_others(
    tmp_path: Path,
    tiny_file: Path,
    reference: pd.DataFrame,
    cluster: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A point whose worker dies more often than Dask allows is named in the error, with the
    deaths; the other points are stored (but one queued on the same worker, which Dask
    counts as failed with it); a second sweep runs only the failed ones."""
    import dask

    experiment = load_experiment(tiny_file)
    doomed = int(reference.loc[reference["point"] == 1, "seed"].iloc[0])
    monkeypatch.setattr(
        sweep_module, "run_point", functools.partial(point_that_kills_its_worker, doomed)
    )
    out = tmp_path / "exp"
    # No second chance, so that one death is enough (the default gives a point 3 more).
    expected = r"of 12 points failed \(.*point 1: the worker process running it died"
    no_retry = {"distributed.scheduler.allowed-failures": 0}
    with dask.config.set(no_retry), pytest.raises(ExperimentError, match=expected) as raised:
        run_sweep(experiment, out, workers=2)
    failed = {int(p) for p in re.findall(r"point (\d+): ", str(raised.value))}
    assert 1 in failed
    assert finished_points(out) == set(range(TINY_POINTS)) - failed
    assert "died, 1 time(s) in a row" in str(raised.value)
    status = status_of(out)
    assert status["status"] == "failed"
    assert status["finished"] == TINY_POINTS - len(failed)
    monkeypatch.undo()
    assert run_sweep(experiment, out, scheduler=cluster).ran == len(failed)
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))


# -- 3. a full disk: a mock of the writes -------------------------------------------------------

RUN_TABLES = ("events", "client_years", "municipality_years")


def is_table(path: str) -> bool:
    """Whether ``path`` is (part of) one of a run's streamed tables."""
    return any(f"{table}.parquet" in path for table in RUN_TABLES)


class Room:
    """The space left on a mocked disk. Every byte the output modules write is counted (with
    ``only``, the bytes of files it accepts); a write that does not fit fails as on a full
    disk, and the disk stays full after it."""

    def __init__(self, left: float, only: Any = None) -> None:
        self.left = left
        self.only = only
        self.written: list[tuple[str, int]] = []

    def take(self, path: str, n: int) -> None:
        if self.only is not None and not self.only(path):
            return
        if n > self.left:
            self.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        self.left -= n
        self.written.append((path, n))


class RoomFile(io.FileIO):
    def __init__(self, path: str | Path, room: Room) -> None:
        super().__init__(path, "wb")
        self.room = room

    def write(self, data: Any) -> int:
        self.room.take(str(self.name), memoryview(data).nbytes)
        return super().write(data)


class RoomArrow:
    """``pyarrow`` as the output modules see it: every file it opens to write goes through a
    :class:`Room`."""

    def __init__(self, room: Room) -> None:
        self.room = room

    def __getattr__(self, name: str) -> Any:
        return getattr(pa, name)

    def OSFile(self, path: str, mode: str) -> Any:  # noqa: N802 - pyarrow's name
        assert mode == "wb", mode
        return pa.PythonFile(RoomFile(path, self.room), mode="w")


def mock_disk(monkeypatch: pytest.MonkeyPatch, room: Room) -> Room:
    """Make every file the output modules write (tables, JSON, text) go through ``room``."""
    for module in (files, parquet):
        monkeypatch.setattr(module, "pa", RoomArrow(room))

    def room_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        assert mode == "wb", mode  # the output modules open files only to write them
        return RoomFile(path, room)

    monkeypatch.setattr(files, "open", room_open, raising=False)
    return room


RUN = {"seed": 3, "replications": 2, "batch_size": 2}
"""A tiny run; its replications in one batch, which is what a check of the disk space the run
needs counts."""


@pytest.mark.parametrize("manifest_fits", [True, False])
def test_a_full_disk_during_a_run_is_reported_and_leaves_nothing_half_written(
    tmp_path: Path, tiny: Scenario, monkeypatch: pytest.MonkeyPatch, manifest_fits: bool
) -> None:
    """The disk fills half-way through the run's tables. With room left for the manifest, it
    says "failed"; without, it stays whole as the run began it, saying "running"."""
    undisturbed = tmp_path / "undisturbed"
    measured = mock_disk(monkeypatch, Room(float("inf")))
    run_scenario(tiny, out=undisturbed, **RUN)
    monkeypatch.undo()
    before = digest(undisturbed)
    tables = sum(n for path, n in measured.written if is_table(path))
    first_table = next(i for i, (path, _) in enumerate(measured.written) if is_table(path))
    ahead = sum(n for _, n in measured.written[:first_table])
    # Half the tables fit; then the disk is full: for the tables alone, or for every file.
    room = Room(tables // 2, is_table) if manifest_fits else Room(ahead + tables // 2)
    out = tmp_path / "run"
    mock_disk(monkeypatch, room)
    with pytest.raises(DiskFullError, match="no space left on device") as raised:
        run_scenario(tiny, out=out, **RUN)
    monkeypatch.undo()
    assert room.left == 0, "the disk never filled"
    assert str(out) in str(raised.value)
    assert not partials(out)
    assert_parquet_files_whole(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    if manifest_fits:
        assert manifest["status"] == "failed"
        assert "no space left on device" in manifest["error"]
    else:
        assert manifest["status"] == "running"
    with pytest.raises(StreetlevelError, match="not a complete run"):
        summarize(out)
    assert digest(undisturbed) == before  # earlier results untouched
    # With space again, the run written over it equals the undisturbed one.
    again = run_scenario(tiny, out=out, overwrite=True, **RUN)
    for table in RUN_TABLES:
        assert digest(again.out / f"{table}.parquet") == digest(undisturbed / f"{table}.parquet")


def test_a_full_disk_during_a_sweep_keeps_the_finished_points(
    tmp_path: Path,
    folder: Path,
    tiny_file: Path,
    reference: pd.DataFrame,
    cluster: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Room for the design and two points (their sizes as the undisturbed sweep wrote them),
    not three: the third point's file fails."""
    undisturbed = folder / "undisturbed"
    sizes = [p.stat().st_size for p in (undisturbed / POINTS).iterdir()]
    assert 3 * min(sizes) > 2.5 * max(sizes)  # so any two fit and no three
    room = mock_disk(
        monkeypatch,
        Room(
            (undisturbed / "design.parquet").stat().st_size + 2.5 * max(sizes),
            lambda path: path.endswith((".parquet", f".parquet{files.PARTIAL_SUFFIX}")),
        ),
    )
    out = tmp_path / "exp"
    with pytest.raises(DiskFullError, match=r"point-\d+\.parquet: cannot write: no space left"):
        run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    monkeypatch.undo()
    assert room.left == 0
    done = assert_points_equal_reference(out, reference)
    assert len(done) == 2
    assert not partials(out)
    status = status_of(out)
    assert status["status"] == "failed"
    assert status["finished"] == 2 and "no space left on device" in status["error"]
    kept = {p: digest(partition_path(out, p)) for p in done}
    run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    assert {p: digest(partition_path(out, p)) for p in done} == kept
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))


# -- 3. a full disk: a real small file system ---------------------------------------------------

DISK = 16 * 2**20
"""Size of the tmpfs: room for a tiny run and a tiny sweep before it is filled on purpose."""
SLACK = 2 * PAGE
"""Free space left when the disk is filled: a page for a manifest's or status's partial file,
far less than a table's year or a point's file (checked)."""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of :data:`DISK` bytes, when this process may mount one (root, as in CI)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("no mount command: the mocked disk stands in for a real one")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({mounted.stderr.strip()}): the mocked disk stands in")
    try:
        yield disk
    finally:
        # Lazily: a file still open (a failed test) must not keep the mount behind.
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Fill ``disk`` up to :data:`SLACK` bytes, as other users' files would."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, stat.f_bavail * stat.f_frsize - SLACK)
    return filler


def test_a_full_tmpfs_during_a_run(small_disk: Path, tmp_path: Path, tiny: Scenario) -> None:
    undisturbed = run_scenario(tiny, out=tmp_path / "undisturbed", **RUN).out
    year = sum(
        p.stat().st_size
        for table in RUN_TABLES
        for p in [undisturbed / f"{table}.parquet", *(undisturbed / f"{table}.parquet").rglob("*")]
        if p.is_file()
    )
    assert year > SLACK
    earlier = run_scenario(tiny, out=small_disk / "earlier", **RUN).out
    before = digest(earlier)
    out = small_disk / "run"

    def fill_half_way(done: int, total: int) -> None:
        if 2 * done >= total and not (small_disk / "filler").exists():
            fill(small_disk)

    with pytest.raises(DiskFullError, match="no space left on device") as raised:
        run_scenario(tiny, out=out, on_progress=fill_half_way, **RUN)
    assert str(out) in str(raised.value)
    assert not partials(small_disk)
    assert_parquet_files_whole(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
    assert digest(earlier) == before
    (small_disk / "filler").unlink()
    again = run_scenario(tiny, out=out, overwrite=True, **RUN)
    for table in RUN_TABLES:
        assert digest(again.out / f"{table}.parquet") == digest(undisturbed / f"{table}.parquet")


def test_a_full_tmpfs_during_a_sweep(
    small_disk: Path,
    tiny_file: Path,
    tiny: Scenario,
    reference: pd.DataFrame,
    cluster: str,
) -> None:
    earlier = run_scenario(tiny, out=small_disk / "earlier", **RUN).out
    before = digest(earlier)
    out = small_disk / "exp"
    kept = 2

    def fill_after_two_points(done: int, total: int) -> None:
        if done == kept and not (small_disk / "filler").exists():
            fill(small_disk)

    with pytest.raises(DiskFullError, match=r"point-\d+\.parquet: cannot write: no space left"):
        run_sweep(
            load_experiment(tiny_file), out, scheduler=cluster, on_progress=fill_after_two_points
        )
    done = assert_points_equal_reference(out, reference)
    assert len(done) == kept
    assert min(partition_path(out, p).stat().st_size for p in done) > SLACK
    status = status_of(out)
    assert status["status"] == "failed"
    # The command line, on the disk still full: the size guard refuses to start the points
    # left, before writing anything; the message, no traceback, exit status 2.
    again = cli("sweep", str(tiny_file), "--out", str(out), "--workers", "1")
    assert again.returncode == 2
    assert re.search(r"the sweep's \d+ points left would write about .* the disk has", again.stderr)
    assert "Traceback" not in again.stderr
    assert not partials(small_disk)
    kept_bytes = {p: digest(partition_path(out, p)) for p in done}
    assert digest(earlier) == before
    (small_disk / "filler").unlink()
    run_sweep(load_experiment(tiny_file), out, scheduler=cluster)
    assert {p: digest(partition_path(out, p)) for p in done} == kept_bytes
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))
    assert status_of(out)["status"] == "complete"


# -- 4. SIGKILL during a run --------------------------------------------------------------------


def _finished_batches(out: Path) -> list[str]:
    try:
        return list(json.loads((out / "manifest.json").read_text(encoding="utf-8"))["parts"])
    except (OSError, ValueError, KeyError):
        return []


def test_sigkill_mid_run_leaves_a_running_manifest_that_readers_refuse(
    tmp_path: Path, tiny: Scenario, tiny_run: Path
) -> None:
    out = tmp_path / "run"
    args = ["run", str(tiny_run), "--seed", "3", "--replications", "2", "--years", "12",
            "--batch-size", "1", "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "streetlevel", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT
        # Killed while the second batch writes, the first one finished and in the manifest.
        while not (out.is_dir() and _finished_batches(out) and partials(out)):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(POLL)
    finally:
        process.kill()  # SIGKILL: no handler runs, nothing is cleaned up
        process.wait()
    # What was being written is marked partial, the rest is whole; the manifest says who
    # was running it.
    assert any(is_table(str(p)) for p in partials(out))
    assert_parquet_files_whole(out)
    for table in RUN_TABLES:
        assert not (out / f"{table}.parquet").is_file()  # a finished table is never half
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "running"
    assert (manifest["pid"], manifest["host"]) == (process.pid, platform.node())
    # Readers refuse it, saying why.
    with pytest.raises(StreetlevelError, match=rf"still running \(process {process.pid}"):
        summarize(out)
    with pytest.raises(StreetlevelError, match="not a complete run"):
        benchmark(out)
    refused = cli("validate", str(out))
    assert refused.returncode == 2
    assert "not a complete run" in refused.stderr and "Traceback" not in refused.stderr
    assert list(manifest["parts"]) == ["replications-00000-00000.parquet"]
    # Resume it: the finished batch kept, the other run; equal to a run never killed.
    again = cli(*args, "--out", str(out), "--resume")
    assert again.returncode == 0, again.stderr
    assert not partials(out)
    undisturbed = cli(*args, "--out", str(tmp_path / "undisturbed"))
    assert undisturbed.returncode == 0, undisturbed.stderr
    for table in RUN_TABLES:
        assert digest(out / f"{table}.parquet") == digest(
            tmp_path / "undisturbed" / f"{table}.parquet"
        )
    assert summarize(out).seed == 3


def test_workers_of_a_run_killed_with_sigkill_end_too(tmp_path: Path, tiny_run: Path) -> None:
    """A run's process killed with SIGKILL cannot stop its workers; they notice it has gone
    and end, leaving no orphan that finishes its batch for nobody, then waits forever."""
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "streetlevel", "run", str(tiny_run), "--replications", "2",
         "--years", "40", "--batch-size", "1", "--workers", "2", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT
        # A batch file being written: the workers are running (the scenario copy and the
        # manifest are written as partial files too, before any worker starts).
        while not (out.is_dir() and any(is_table(str(p)) for p in partials(out))):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(POLL)
        workers = children(process.pid)
    finally:
        process.kill()
        process.wait()
    assert len(workers) >= 2
    deadline = time.monotonic() + WAIT
    while [w for w in workers if not ended(w)] and time.monotonic() < deadline:
        time.sleep(POLL)
    assert all(ended(w) for w in workers), "orphaned workers"
    assert_parquet_files_whole(out)
