"""Running an experiment's points on Dask distributed, and resuming it.

Each point is one task: the point's scenario simulated for all the experiment's replications,
in memory (no events tables are written), reduced to the summary's indicators per replication
(:func:`streetlevel.output.summary.replication_indicators`). Tasks run on the executor
:class:`streetlevel.output.executor.DaskCluster`: a ``LocalCluster`` of single-threaded
worker processes, or an existing cluster given its scheduler's address. Results come back to
the process that runs the sweep, which alone writes the store: workers on other machines need
no shared disk.

A point's replication r draws from ``SeedSequence(point seed, spawn_key=(r,))`` and the point
seed depends only on the experiment's seed and the point's index
(:func:`streetlevel.experiments.design.point_seed`), so results do not depend on the number of
workers, on which worker runs which point, or on interruptions.

Faults: a worker process that dies while running a point (killed, out of memory) is replaced
and the point run again elsewhere by Dask's scheduler, up to its ``allowed-failures`` (3 by
default; a death counts against every point the worker held, the one it ran and any queued
behind it); an exception raised by a point is not retried (the same seed fails the same way).
A point that fails either way does not stop the others: they are stored, and the sweep ends
with an :class:`ExperimentError` naming the failed points, which running it again retries.
``status.json`` says whether the sweep is running, complete, interrupted or failed.

>>> import tempfile, pathlib
>>> from streetlevel.scenario.loading import load_scenario, with_values
>>> tiny = with_values(load_scenario("municipality-b"),
...     {"time.burn_in_years": 0, "time.reporting_years": 1, "scale.client_scale": 0.2})
>>> rows = run_point(tiny, seed=1, replications=2)
>>> len(rows["national_sanction_rate"])
2
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from streetlevel.errors import ExperimentError, StreetlevelError
from streetlevel.experiments.design import build_design, design_size, point_values
from streetlevel.experiments.spec import Experiment
from streetlevel.experiments.store import (
    DESIGN,
    EXPERIMENT,
    clear_staging,
    finished_points,
    write_catalog,
    write_point,
    write_status,
)
from streetlevel.model.country import build_country
from streetlevel.output.executor import (
    SCHEDULER_TIMEOUT,
    ClusterError,
    DaskCluster,
    Task,
    worker_deaths,
)
from streetlevel.output.files import write_json_atomic, write_table_atomic, write_text_atomic
from streetlevel.output.locking import LOCK, DirectoryLock
from streetlevel.output.run import default_batch_size, outcome_names
from streetlevel.output.run import run_in_memory as run_point
from streetlevel.output.sizing import INDICATORS_BOUND, check_sweep
from streetlevel.scenario.loading import scenario_to_toml, with_values

__all__ = ["SweepResult", "outcome_names", "run_point", "run_sweep"]

SCENARIO = "scenario.toml"
FAILURES_LISTED = 5
"""Failed points named one by one in the error that ends a sweep; the rest are counted."""


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: points in the design, run now, found already finished."""

    out: Path
    points: int
    ran: int
    resumed: int
    wall_seconds: float


def run_sweep(
    experiment: Experiment,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run the points of ``experiment`` not yet in ``out`` and store each as it finishes.

    Args:
        workers: worker processes of the local cluster (default: one per core).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``) to use instead.
        on_progress: called with (points finished, points in the design).

    Raises:
        ExperimentError: ``out`` holds results of a different experiment; or points failed
            (the others are stored; running the sweep again retries the failed ones).
        OutputError: a file cannot be written (a full disk); finished points are kept.
    """
    started = time.perf_counter()
    out = Path(out)
    slots = build_country(experiment.base).n_slots
    check_sweep(
        experiment.spec.experiment.name,
        slots,
        default_batch_size(slots),
        design_size(experiment) - (len(finished_points(out)) if out.is_dir() else 0),
        experiment.spec.experiment.replications,
        len(experiment.factors) + (len(experiment.spec.outcomes) or INDICATORS_BOUND),
        out,
        # A local cluster has one worker per core unless told; a remote one is not known here.
        (workers or os.cpu_count() or 1) if scheduler is None else None,
    )
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"{out}: exists and is not a directory")
    # One sweep at a time in a directory: a second one is refused while the first runs.
    with DirectoryLock(out):
        return _sweep(experiment, out, workers, scheduler, on_progress, started)


def _sweep(
    experiment: Experiment,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    on_progress: Callable[[int, int], None] | None,
    started: float,
) -> SweepResult:
    """The sweep itself, with ``out`` locked (see :func:`run_sweep`)."""
    table = _prepare(experiment, out)
    values = point_values(experiment, table)
    done = finished_points(out)
    missing = [int(p) for p in table["point"] if int(p) not in done]
    total = len(table)
    status: dict[str, Any] = {
        "status": "running",
        "points": total,
        "finished": len(done),
        "started": _now(),
        # A status left at "running" by a killed sweep is told apart by host and pid.
        "host": platform.node(),
        "pid": os.getpid(),
    }
    write_status(out, status)
    try:
        if on_progress is not None:
            on_progress(total - len(missing), total)
        if missing:
            _run(experiment, out, table, values, missing, workers, scheduler, on_progress)
        write_catalog(out)
    except BaseException as err:
        status.update(
            status="interrupted" if isinstance(err, KeyboardInterrupt | SystemExit) else "failed",
            finished=len(finished_points(out)),
            ended=_now(),
            error=f"{type(err).__name__}: {err}",
        )
        # The error that stopped the sweep is the one to report, even when the status cannot
        # be written (a full disk): the previous status is then left whole, saying "running".
        with suppress(StreetlevelError):
            write_status(out, status)
        raise
    status.update(status="complete", finished=total, ended=_now())
    write_status(out, status)
    return SweepResult(
        out=out,
        points=total,
        ran=len(missing),
        resumed=total - len(missing),
        wall_seconds=round(time.perf_counter() - started, 3),
    )


def _run(
    experiment: Experiment,
    out: Path,
    table: pd.DataFrame,
    values: list[dict[str, Any]],
    missing: list[int],
    workers: int | None,
    scheduler: str | None,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    name = experiment.spec.experiment.name
    replications = experiment.spec.experiment.replications
    outcomes = experiment.spec.outcomes
    seeds = table["seed"].to_numpy()
    total = len(table)
    finished = total - len(missing)
    try:
        pool = DaskCluster(scheduler, workers=workers, timeout=SCHEDULER_TIMEOUT)
    except ClusterError as err:
        raise ExperimentError(str(err)) from None
    failed: dict[int, str] = {}
    with pool:
        tasks: dict[Task[dict[str, list[float]]], int] = {}
        for point in missing:
            scenario = with_values(
                experiment.base, experiment.assignments(values[point]), f"{name} point {point}"
            )
            tasks[pool.submit(run_point, scenario, int(seeds[point]), replications)] = point
        for task in pool.as_completed(tasks):
            point = tasks[task]
            try:
                rows = task.result()
            except Exception as err:
                # One point's failure must not throw away the points still running.
                failed[point] = _failure(err)
                continue
            frame = _partition(point, int(seeds[point]), values[point], rows, outcomes)
            write_point(out, point, frame)
            if finished == 0:
                write_catalog(out)  # readable as soon as there is something to read
            finished += 1
            if on_progress is not None:
                on_progress(finished, total)
    if failed:
        listed = "; ".join(
            f"point {point}: {why}" for point, why in sorted(failed.items())[:FAILURES_LISTED]
        )
        more = len(failed) - FAILURES_LISTED
        raise ExperimentError(
            f"{out}: {len(failed)} of {len(missing)} points failed ({listed}"
            + (f"; and {more} more" if more > 0 else "")
            + "); the other points are stored, and running the sweep again retries these"
        )


def _failure(err: Exception) -> str:
    """Why a point failed, in a line."""
    deaths = worker_deaths(err)
    if deaths is not None:
        return (
            f"the worker process running it died, {deaths} time(s) in a "
            "row (killed, or out of memory?); Dask's distributed.scheduler.allowed-failures "
            "says how many deaths a point is given"
        )
    return f"{type(err).__name__}: {err}"


def _version() -> str:
    from streetlevel.version import __version__

    return __version__


def _partition(
    point: int,
    seed: int,
    values: dict[str, Any],
    rows: dict[str, list[float]],
    outcomes: list[str],
) -> pd.DataFrame:
    n = len(next(iter(rows.values())))
    frame: dict[str, Any] = {
        "point": np.full(n, point, dtype=np.int64),
        "replication": np.arange(n, dtype=np.int64),
        "seed": np.full(n, seed, dtype=np.int64),
    }
    for factor, value in values.items():
        frame[factor] = [value] * n
    for name in outcomes or list(rows):
        frame[name] = np.asarray(rows[name], dtype=np.float64)
    return pd.DataFrame(frame)


def _prepare(experiment: Experiment, out: Path) -> pd.DataFrame:
    """Start or resume ``out``: check it holds this experiment; write what a sweep needs
    first (each file atomically); return the design."""
    record = out / EXPERIMENT
    if record.is_file():
        held = json.loads(record.read_text(encoding="utf-8"))
        if held.get("fingerprint") != experiment.fingerprint:
            changed = _changes(held.get("experiment") or {}, _record(experiment)["experiment"])
            held_scenario = _held_scenario(out)
            if held_scenario:  # the base scenario as the sweep ran it
                changed += _changes(held_scenario, _scenario_data(experiment), "scenario: ")
            shown = ", ".join(changed[:MAX_CHANGES]) + (
                ", ..." if len(changed) > MAX_CHANGES else ""
            )
            raise ExperimentError(
                f"{out}: holds the results of another experiment "
                f"({held.get('name', 'unknown')}, or this one changed since"
                + (f"; what differs: {shown}" if changed else "")
                + "); choose another --out"
            )
        if held.get("package_version") != _version():
            raise ExperimentError(
                f"{out}: was started with streetlevel {held.get('package_version')}, this is "
                f"{_version()}; resuming would mix results of two versions of the model: "
                "choose another --out"
            )
    elif any(p.name != LOCK for p in out.iterdir()):
        raise ExperimentError(
            f"{out}: already holds files but no {EXPERIMENT}; choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    clear_staging(out)
    # The record first: a sweep killed before the design is written resumes by writing it.
    if not record.is_file():
        write_json_atomic(_record(experiment), record)
    if not (out / SCENARIO).is_file():
        write_text_atomic(scenario_to_toml(experiment.base), out / SCENARIO)
    if not (out / DESIGN).is_file():
        write_table_atomic(_arrow(build_design(experiment)), out / DESIGN)
    return pq.read_table(out / DESIGN).to_pandas()


def _arrow(frame: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


_ABSENT: Any = object()
"""A key one side lacks (None is a value)."""
MAX_CHANGES = 10
"""Key paths that differ from a directory's experiment, named when a sweep refuses it."""


def _changes(held: Any, new: Any, prefix: str = "", at: str = "") -> list[str]:
    """The key paths at which ``held`` and ``new`` (parsed TOML or JSON) differ.

    >>> _changes({"design": {"samples": 8}, "levers": [{"name": "a"}]},
    ...          {"design": {"samples": 16}, "levers": [{"name": "a"}, {"name": "b"}]})
    ['design.samples (8, now 16)', 'levers[1] (added)']
    """
    if isinstance(held, dict) and isinstance(new, dict):
        keys = [*held, *(k for k in new if k not in held)]
        return [
            c
            for k in keys
            for c in _changes(
                held.get(k, _ABSENT), new.get(k, _ABSENT), prefix, f"{at}.{k}" if at else str(k)
            )
        ]
    if isinstance(held, list) and isinstance(new, list) and held and new:
        pairs = [
            (held[i] if i < len(held) else _ABSENT, new[i] if i < len(new) else _ABSENT)
            for i in range(max(len(held), len(new)))
        ]
        return [c for i, (a, b) in enumerate(pairs) for c in _changes(a, b, prefix, f"{at}[{i}]")]
    if held == new:
        return []
    if held is _ABSENT:
        return [f"{prefix}{at} (added)"]
    if new is _ABSENT:
        return [f"{prefix}{at} (removed)"]
    return [f"{prefix}{at} ({_short(held)}, now {_short(new)})"]


SHORT_VALUE = 30
"""Characters of a changed value shown in the refusal; longer ones are cut."""


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= SHORT_VALUE else text[: SHORT_VALUE - 3] + "..."


def _held_scenario(out: Path) -> dict[str, Any]:
    """The base scenario a directory's sweep ran (its scenario.toml), or {} if unreadable."""
    import tomllib

    try:
        return tomllib.loads((out / SCENARIO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _scenario_data(experiment: Experiment) -> dict[str, Any]:
    import tomllib

    held = tomllib.loads(scenario_to_toml(experiment.base))
    return held if isinstance(held, dict) else {}


def _record(experiment: Experiment) -> dict[str, Any]:
    return {
        "name": experiment.spec.experiment.name,
        "fingerprint": experiment.fingerprint,
        "experiment": experiment.spec.model_dump(mode="json"),
        "source": experiment.origin,
        "package_version": _version(),
        "python": platform.python_version(),
        "created": _now(),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
