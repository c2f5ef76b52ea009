"""Durability of results (docs/reliability.md): every finished file is flushed to disk before
it is renamed into place and its directory after; a sweep's catalog opens wherever its
directory is moved or copied; a run's worker processes import only what its batches need."""

from __future__ import annotations

import errno
import io
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from streetlevel.cli.app import app
from streetlevel.experiments import load_experiment, run_sweep
from streetlevel.experiments.store import CATALOG, POINTS, catalog_is_outdated, query
from streetlevel.output import files
from streetlevel.output.executor import LocalProcesses
from streetlevel.output.files import fsync_directory
from streetlevel.output.parquet import TABLES
from streetlevel.output.run import Batch, _batch_task, run_scenario
from tests.conftest import tiny_scenario

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="reads an open file's path from /proc/self/fd"
)

SMALL_SWEEP = """
[experiment]
name = "durable"
scenario = "municipality-b"
seed = 11
replications = 2

[design]
kind = "full_factorial"

[constants]
"scale.client_scale" = 0.5
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[levers]]
name = "ranking"
key = "pressure.ranking_published"
values = [true, false]
"""
"""Two points of two replications of municipality B: the smallest sweep with a catalog."""

COUNT = "SELECT count(*) AS n, count(DISTINCT point) AS points FROM results"

Event = tuple[str, Path, Path | None]


def _real(path: Any) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every ``os.fsync`` (with the path of the file or directory flushed) and every
    ``os.replace`` (source, target) made in this process, in order."""
    events: list[Event] = []
    _record(monkeypatch.setattr, events)
    return events


def _record(setattr_: Callable[..., None], events: list[Event]) -> None:
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", _real(os.readlink(f"/proc/self/fd/{fd}")), None))

    def replace(source: Any, target: Any, **kwargs: Any) -> None:
        moved = ("replace", _real(source), _real(target))
        real_replace(source, target, **kwargs)
        events.append(moved)

    setattr_(os, "fsync", fsync)
    setattr_(os, "replace", replace)


def assert_durable(events: list[Event], under: Path) -> set[Path]:
    """Every file renamed into place under ``under`` was flushed after the last rename that
    made its name and before its own rename, and its new directory after; returns the files
    renamed into place."""
    under = _real(under)
    placed = set()
    for i, (kind, source, target) in enumerate(events):
        if kind != "replace" or target is None or under not in target.parents:
            continue
        before = [e for e in events[:i] if e[0] == "fsync" and e[1] == source]
        assert before, f"{target.relative_to(under)}: renamed into place without fsync first"
        after = [e for e in events[i + 1 :] if e[0] == "fsync" and e[1] == target.parent]
        assert after, f"{target.relative_to(under)}: its directory not flushed after the rename"
        placed.add(target)
    return placed


@linux_only
def test_a_run_flushes_every_file_before_its_rename_and_the_directory_after(
    tmp_path: Path, recorded: list[Event]
) -> None:
    out = tmp_path / "run"
    run_scenario(tiny_scenario(), seed=3, replications=2, out=out, batch_size=1)
    placed = assert_durable(recorded, out)
    real = _real(out)
    batches = {_real(p) for t in TABLES for p in (out / f"{t}.parquet").glob("*.parquet")}
    assert len(batches) == 2 * len(TABLES)
    assert batches <= placed
    assert {real / "manifest.json", real / "scenario.toml", real / "municipalities.parquet"} <= (
        placed
    )
    # The directories made for the run are flushed into their parents: after a power loss
    # the names renamed into them are still found from the top.
    flushed = {e[1] for e in recorded if e[0] == "fsync"}
    assert {real.parent, real} <= flushed


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Event]]]:
    """The small sweep, run once for the module with its fsyncs and renames recorded."""
    folder = tmp_path_factory.mktemp("durability")
    spec = folder / "durable.toml"
    spec.write_text(SMALL_SWEEP, encoding="utf-8")
    events: list[Event] = []
    with pytest.MonkeyPatch.context() as patch:
        if sys.platform == "linux":
            _record(patch.setattr, events)
        run_sweep(load_experiment(spec), folder / "sweep", workers=1)
    yield folder / "sweep", events


@linux_only
def test_a_sweep_flushes_every_file_before_its_rename_and_the_directory_after(
    swept: tuple[Path, list[Event]],
) -> None:
    out, events = swept
    placed = assert_durable(events, out)
    real = _real(out)
    points = {_real(p) for p in (out / POINTS).glob("*.parquet")}
    assert len(points) == 2
    assert points <= placed
    assert {real / CATALOG, real / "design.parquet", real / "status.json"} <= placed
    assert {real / "experiment.json", real / "scenario.toml"} <= placed


def test_a_directory_that_cannot_be_flushed_is_let_pass_only_for_einval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(code: int) -> Callable[[int], None]:
        def fsync(fd: int) -> None:
            raise OSError(code, os.strerror(code))

        return fsync

    monkeypatch.setattr(os, "fsync", refuse(errno.EINVAL))
    fsync_directory(tmp_path)  # a file system that cannot flush a directory says EINVAL
    monkeypatch.setattr(os, "fsync", refuse(errno.EIO))
    with pytest.raises(OSError, match=os.strerror(errno.EIO)):
        fsync_directory(tmp_path)
    with pytest.raises(OSError):
        files.fsync_file(tmp_path / "missing")


# -- moved and copied experiment directories ----------------------------------------------------


def _counts_by_cli(directory: Path) -> tuple[pd.DataFrame, str]:
    done = CliRunner().invoke(app, ["query", str(directory), COUNT, "--csv"])
    assert done.exit_code == 0, done.output
    return pd.read_csv(io.StringIO(done.stdout)), done.stderr


def _counts_in_catalog(directory: Path) -> list[tuple[Any, ...]]:
    """The counts through DuckDB's own client, told the directory (docs/experiments.md)."""
    config = {"file_search_path": str(directory)}
    with duckdb.connect(str(directory / CATALOG), read_only=True, config=config) as con:
        return con.execute(COUNT).fetchall()


def test_a_moved_or_copied_experiment_opens_from_any_directory(
    swept: tuple[Path, list[Event]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tmp_path / "original"
    shutil.copytree(swept[0], original)
    expected = query(original, COUNT)
    assert expected["n"].tolist() == [4] and expected["points"].tolist() == [2]
    copied = tmp_path / "another" / "copied"
    shutil.copytree(original, copied)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(original, moved)
    assert not original.exists()
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    monkeypatch.chdir(unrelated)
    for directory in (moved, copied):
        pd.testing.assert_frame_equal(query(directory, COUNT), expected)
        by_cli, said = _counts_by_cli(directory)
        assert by_cli.to_dict("list") == expected.to_dict("list")
        assert said == ""  # the catalog is current: nothing rewritten
        assert _counts_in_catalog(directory) == [tuple(expected.iloc[0])]
    # Opened from inside the directory, the catalog needs no setting at all.
    monkeypatch.chdir(moved)
    with duckdb.connect(CATALOG, read_only=True) as con:
        assert con.execute(COUNT).fetchall() == [tuple(expected.iloc[0])]


def test_a_catalog_of_absolute_paths_is_rewritten_by_query_and_says_so(
    swept: tuple[Path, list[Event]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tmp_path / "original"
    shutil.copytree(swept[0], original)
    expected = query(original, COUNT)
    # A catalog as earlier versions wrote it: the files named by absolute paths.
    (original / CATALOG).unlink()
    with duckdb.connect(str(original / CATALOG)) as con:
        points = (original / POINTS / "*.parquet").as_posix()
        con.execute(f"CREATE VIEW results AS SELECT * FROM read_parquet('{points}')")
    moved = tmp_path / "moved"
    shutil.move(original, moved)
    assert catalog_is_outdated(moved)
    with pytest.raises(duckdb.IOException, match="No files found"):
        _counts_in_catalog(moved)
    monkeypatch.chdir(tmp_path)
    by_cli, said = _counts_by_cli(moved)
    assert by_cli.to_dict("list") == expected.to_dict("list")
    assert "rewritten with paths relative to" in said
    assert not catalog_is_outdated(moved)
    assert _counts_in_catalog(moved) == [tuple(expected.iloc[0])]
    assert _counts_by_cli(moved)[1] == ""  # once only


# -- what a worker imports -----------------------------------------------------------------------

HEAVY = (
    "pandas",
    "duckdb",
    "rich",
    "typer",
    "scipy.stats",
    "scipy.optimize",
    "matplotlib",
    "statsmodels",
    "plotly",
    "streetlevel.cli.app",
    "streetlevel.analysis",
    "streetlevel.experiments",
    "streetlevel.validation",
    "streetlevel.output.summary",
)
"""Modules a run's batch task does not need: each costs every worker process its import
(docs/performance.md, "Worker start-up"; ``benchmarks/worker_start.py``)."""


def test_a_runs_worker_imports_only_what_its_batches_need(tmp_path: Path) -> None:
    # What the `streetlevel` script imports (spawn imports it again in every worker), then
    # the modules loaded: once the first task's pickle (its function, a scenario) is read,
    # and after the worker has simulated a batch.
    probe = "[__import__('streetlevel.cli'), sorted(__import__('sys').modules)][1]"
    scenario = tiny_scenario()
    with LocalProcesses(1) as pool:
        started = set(pool.submit(eval, probe, {"f": _batch_task, "s": scenario}).result())
        rows = pool.submit(_batch_task, scenario, 3, Batch(0, 1), tmp_path).result()
        finished = set(pool.submit(eval, probe).result())
    assert rows["municipality_years"] > 0
    assert "streetlevel.model.engine" in started  # the probe sees the task's imports
    assert [m for m in HEAVY if m in started] == []
    # pyarrow imports pandas itself the first time it converts a NumPy array (pa.array), on
    # the writer thread during the batch: later, not at start-up.
    assert [m for m in HEAVY if m in finished and m != "pandas"] == []
