"""Running a scenario end to end: the library function behind ``streetlevel run``.

Replications are simulated in batches (:func:`default_batch_size`); each batch writes its own
file in every table directory, so batches can run in separate processes (``workers``) and an
interrupted run keeps, and can resume from, the batches it finished.

>>> import tempfile, pathlib
>>> from streetlevel.scenario.loading import load_scenario
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> result = run_scenario(load_scenario("municipality-b"), seed=3, replications=2, out=out)
>>> sorted(p.name for p in out.iterdir())  # doctest: +NORMALIZE_WHITESPACE
['.lock', 'client_years.parquet', 'events.parquet', 'manifest.json', 'municipalities.parquet',
 'municipality_years.parquet', 'scenario.toml']
>>> sorted(p.name for p in (out / "events.parquet").iterdir())
['replications-00000-00001.parquet']
>>> result.manifest["status"]
'complete'
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from streetlevel.errors import OutputExistsError, StreetlevelError
from streetlevel.model.country import Country, build_country
from streetlevel.model.engine import Simulation
from streetlevel.output.executor import executor, report
from streetlevel.output.files import (
    PARTIAL_SUFFIX,
    write_json_atomic,
    write_table_atomic,
    write_text_atomic,
)
from streetlevel.output.locking import LOCK, DirectoryLock
from streetlevel.output.parquet import TABLES, part_name
from streetlevel.output.recorder import Recorder
from streetlevel.output.sizing import plan_workers
from streetlevel.scenario.loading import scenario_hash, scenario_to_toml, with_values
from streetlevel.scenario.schema import Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MANIFEST",
    "Batch",
    "RunResult",
    "default_batch_size",
    "municipality_years_in_memory",
    "outcome_names",
    "plan_batches",
    "run_in_memory",
    "run_scenario",
]

MANIFEST = "manifest.json"
SLOTS_PER_BATCH = 1_000_000
"""Client slots held in memory at once (replications are batched to about this many): large
enough to amortise per-week Python overhead (throughput is flat from 10^5 slots up,
docs/performance.md), small enough that a batch and its year of rows stay near 1 GB and a
run of many replications divides evenly among worker processes."""
STATIC_FILES = ("municipalities.parquet", "scenario.toml", MANIFEST)
RUN_FILES = (*(f"{t}.parquet" for t in TABLES), *STATIC_FILES)


@dataclass(frozen=True)
class RunResult:
    """Where a run's tables are, and its manifest."""

    out: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Batch:
    """Replications ``first`` to ``first + count - 1``, simulated together."""

    first: int
    count: int

    @property
    def part(self) -> str:
        return part_name(self.first, self.count)

    @property
    def replications(self) -> list[int]:
        return list(range(self.first, self.first + self.count))


BATCH_MULTIPLE = 4
"""A run of several batches has a multiple of this many, of equal size: with 1, 2 or 4
workers every worker then has the same work, and none waits alone for a short last batch
(100 replications of ``denmark-2011`` as 12 batches of 8 and one of 4 left a core idle for
half a batch; as 16 of 6 or 7, the two workers finish together)."""


def default_batch_size(slots: int) -> int:
    """Replications simulated together for a country of ``slots`` clients."""
    return max(1, SLOTS_PER_BATCH // max(slots, 1))


def plan_batches(replications: int, batch_size: int) -> list[Batch]:
    """The batches of a run: at most ``batch_size`` replications each, as equal as possible,
    and, when there are replications enough, a multiple of :data:`BATCH_MULTIPLE` of them.

    They depend on the replications and the batch size only, never on the workers, so the
    files are the same however many workers write them.

    >>> [b.count for b in plan_batches(100, 8)]  # not twelve of 8 and one of 4
    [7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]
    """
    n = -(-replications // batch_size)
    if n > 1:
        n = min(replications, -(-n // BATCH_MULTIPLE) * BATCH_MULTIPLE)
    base, extra = divmod(replications, max(n, 1))
    batches, first = [], 0
    for i in range(n):
        count = base + (i < extra)
        batches.append(Batch(first, count))
        first += count
    return batches


def run_scenario(
    scenario: Scenario,
    *,
    seed: int,
    replications: int,
    out: Path,
    overwrite: bool = False,
    resume: bool = False,
    batch_size: int | None = None,
    workers: int | None = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Simulate ``replications`` replications of ``scenario`` and write the run directory.

    Replication ``r`` uses the random stream ``(seed, r)`` whatever the batching, and each
    batch writes its own files, so the tables hold the same rows for any ``batch_size`` and
    are byte for byte the same for any number of ``workers``.

    Args:
        resume: keep the batches an interrupted run of the same scenario, seed and batch size
            finished in ``out``, and simulate only the others.
        workers: processes simulating batches at once; ``None`` chooses from the cores, the
            batches and the memory available (:func:`streetlevel.output.sizing.plan_workers`).
        on_progress: called with (client-weeks done, client-weeks in all).
    """
    out = Path(out)
    country = build_country(scenario)
    batch = batch_size or default_batch_size(country.n_slots)
    batches = plan_batches(replications, batch)
    workers = plan_workers(scenario, country.n_slots, batch, replications, out, workers)
    manifest = _new_manifest(scenario, country, seed, replications, batch, workers)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory")
    # One writer at a time: a second run (or --resume) on this directory is refused.
    with DirectoryLock(out):
        done = _prepare(out, overwrite, resume, manifest, batches)
        manifest["parts"] = done
        write_json_atomic(manifest, out / MANIFEST)
        write_text_atomic(scenario_to_toml(scenario), out / "scenario.toml")
        write_table_atomic(_municipalities_table(country), out / "municipalities.parquet")
        weeks = (scenario.time.burn_in_years.value + scenario.time.reporting_years.value) * (
            scenario.time.weeks_per_year.value
        )
        todo = [b for b in batches if b.part not in done]
        left = sum(b.count for b in todo)
        progress = _Progress(on_progress, country.n_slots, weeks * country.n_slots * left)
        started = time.perf_counter()

        def finished(b: Batch, rows: dict[str, int]) -> None:
            done[b.part] = rows
            write_json_atomic(manifest, out / MANIFEST)

        try:
            # One batch, or one worker: in this process; more: in spawned worker processes
            # (:mod:`streetlevel.output.executor`), each writing its own batch files.
            on_message = progress.message if on_progress is not None else None
            with executor(workers if len(todo) > 1 else 1, on_message=on_message) as pool:
                tasks = {pool.submit(_batch_task, scenario, seed, b, out): b for b in todo}
                for task in pool.as_completed(tasks):
                    finished(tasks[task], task.result())
        except BaseException as err:
            _remove_partials(out)
            stopped = isinstance(err, KeyboardInterrupt | SystemExit)
            manifest.update(
                status="interrupted" if stopped else "failed",
                error=f"{type(err).__name__}: {err}",
                wall_seconds=round(time.perf_counter() - started, 3),
            )
            # On a full disk the manifest may not fit either: the error to report is the first
            # (it names the table); the manifest left behind still says "running", never "complete".
            with contextlib.suppress(StreetlevelError):
                write_json_atomic(manifest, out / MANIFEST)
            raise
        manifest.update(
            status="complete",
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            wall_seconds=round(time.perf_counter() - started, 3),
            client_weeks=weeks * country.n_slots * replications,
            tables={t: sum(rows[t] for rows in done.values()) for t in TABLES},
        )
        write_json_atomic(manifest, out / MANIFEST)
        return RunResult(out, manifest)


def _new_manifest(
    scenario: Scenario, country: Country, seed: int, replications: int, batch: int, workers: int
) -> dict[str, Any]:
    """What a run records about itself before it starts (status "running")."""
    return {
        "status": "running",
        "scenario": scenario.scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": seed,
        "replications": replications,
        "batch_size": batch,
        "package_version": _version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        # A manifest left at "running" by a killed process is told apart by host and pid.
        "host": platform.node(),
        "pid": os.getpid(),
        "workers": workers,
        "clients": country.n_slots,
        "municipalities": country.n_municipalities,
        "reporting_years": scenario.time.reporting_years.value,
        "burn_in_years": scenario.time.burn_in_years.value,
    }


def simulate_batch(
    scenario: Scenario,
    seed: int,
    batch: Batch,
    out: Path,
    on_week: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Simulate one batch and write its file in each table directory; returns row counts."""
    country = build_country(scenario)
    recorder = Recorder(
        out,
        batch.part,
        country.names,
        country.region_names,
        country.region,
        [c.name for c in scenario.categories],
        country.codes,
    )
    try:
        Simulation(scenario, seed, batch.replications, recorder).run(on_week)
        return recorder.close()
    except BaseException:
        recorder.abort()
        raise


class _Progress:
    """Client-weeks done over all batches, from each batch's weeks done."""

    def __init__(self, report: Callable[[int, int], None] | None, slots: int, total: int) -> None:
        self.report = report
        self.slots = slots
        self.total = total
        self.replication_weeks: dict[int, int] = {}  # per batch, by its first replication

    def update(self, first: int, count: int, weeks_done: int, _weeks: int) -> None:
        self.replication_weeks[first] = count * weeks_done
        if self.report is not None:
            self.report(sum(self.replication_weeks.values()) * self.slots, self.total)

    def message(self, message: tuple[int, int, int, int]) -> None:
        """A week done, as :func:`_batch_task` reports it: (first, count, done, weeks)."""
        self.update(*message)


def _batch_task(scenario: Scenario, seed: int, batch: Batch, out: Path) -> dict[str, int]:
    """One batch, as a task of the run's executor: each simulated week is reported to the
    run's process, which moves the progress bar."""

    def on_week(weeks_done: int, weeks: int) -> None:
        report((batch.first, batch.count, weeks_done, weeks))

    return simulate_batch(scenario, seed, batch, out, on_week)


def _remove_partials(out: Path) -> None:
    for table in TABLES:
        for stale in (out / f"{table}.parquet").glob(f"*{PARTIAL_SUFFIX}"):
            stale.unlink(missing_ok=True)


def _prepare(
    out: Path,
    overwrite: bool,
    resume: bool,
    manifest: dict[str, Any],
    batches: list[Batch],
) -> dict[str, dict[str, int]]:
    """Make ``out`` ready; returns the batches already done (only when resuming)."""
    done: dict[str, dict[str, int]] = {}
    if any(p.name != LOCK for p in out.iterdir()):
        if resume:
            done = _resumable(out, manifest, batches)
        elif not overwrite:
            raise OutputExistsError(
                f"{out}: already holds results; choose another --out, pass --overwrite, "
                "or --resume an interrupted run"
            )
        for name in RUN_FILES:
            path = out / name
            if path.is_dir():
                for file in path.iterdir():
                    if file.name not in done:
                        file.unlink()
            elif name != MANIFEST or not resume:
                path.unlink(missing_ok=True)
        for stale in out.glob(f"*{PARTIAL_SUFFIX}"):
            stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return done


def _resumable(
    out: Path, manifest: dict[str, Any], batches: list[Batch]
) -> dict[str, dict[str, int]]:
    """The batches of an earlier run in ``out`` that this run can keep."""
    try:
        earlier = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OutputExistsError(f"{out / MANIFEST}: cannot resume: {err}") from None
    for key in ("scenario_hash", "seed", "batch_size", "package_version"):
        if earlier.get(key) != manifest[key]:
            raise OutputExistsError(
                f"{out}: cannot resume: the earlier run has {key} {earlier.get(key)!r}, "
                f"this one {manifest[key]!r}; pass --overwrite to start again"
            )
    wanted = {b.part for b in batches}
    parts = earlier.get("parts", {})
    return {
        part: rows
        for part, rows in parts.items()
        if part in wanted and all((out / f"{t}.parquet" / part).is_file() for t in TABLES)
    }


def _municipalities_table(country: Country) -> pa.Table:
    codes = {"municipality_code": list(country.codes)} if country.codes else {}
    return pa.table(
        {
            "municipality": country.names,
            **codes,
            "region": [country.region_names[r] for r in country.region],
            "population": country.population,
            "recipients_per_100": country.recipients_per_100,
            "recipients": country.recipients,
            "rural": country.rural,
            "absence_route": np.where(country.benefit_office_route, "benefit_office", "caseworker"),
            "management_strictness": country.management_strictness,
            "pressure_response": country.pressure_response,
            "clients_per_caseworker": country.clients_per_caseworker,
            "simulated_clients": country.slots,
        }
    )


def _version() -> str:
    from streetlevel.version import __version__

    return __version__


def run_in_memory(scenario: Scenario, seed: int, replications: int) -> dict[str, list[float]]:
    """Simulate ``replications`` replications of ``scenario`` in memory; each indicator of
    the summary per replication."""
    from streetlevel.output.summary import replication_indicators

    table = municipality_years_in_memory(scenario, seed, replications)
    return {name: values.tolist() for name, values, _ in replication_indicators(table, scenario)}


def municipality_years_in_memory(scenario: Scenario, seed: int, replications: int) -> pd.DataFrame:
    """Simulate ``replications`` replications of ``scenario`` in memory (replications 0 to
    ``replications - 1`` of ``seed``); the reporting years' rows of ``municipality_years``."""
    # pandas and the summary (run_in_memory) are imported by the functions that use them: a
    # run's worker processes import this module for _batch_task, which needs neither
    # (docs/performance.md, "Worker start-up").
    import pandas as pd

    size = default_batch_size(build_country(scenario).n_slots)
    frames = []
    for first in range(0, replications, size):
        sim = Simulation(scenario, seed, list(range(first, min(first + size, replications))))
        sim.run()
        frames.append(_municipality_years(sim))
    return pd.concat(frames, ignore_index=True)


def _municipality_years(sim: Simulation) -> pd.DataFrame:
    """The reporting years' municipality rows, as ``municipality_years.parquet`` holds them."""
    import pandas as pd

    frame = pd.concat([pd.DataFrame(y) for y in sim.yearly[sim.burn_in_years :]])
    names = np.asarray(sim.country.names, dtype=object)
    if sim.country.codes:
        codes = np.asarray(sim.country.codes, dtype=object)
        frame.insert(
            frame.columns.get_loc("municipality") + 1,
            "municipality_code",
            codes[frame["municipality"].to_numpy()],
        )
    frame["municipality"] = names[frame["municipality"].to_numpy()]
    regions = np.asarray(sim.country.region_names, dtype=object)
    frame["region"] = regions[frame["region"].to_numpy()]
    routes = np.array(["caseworker", "benefit_office"], dtype=object)
    frame["absence_route"] = routes[frame["absence_route"].to_numpy()]
    return frame


PROBE_SCALE = 0.0
"""``scale.client_scale`` of the run that lists a scenario's outcomes: each municipality
then has its minimum of one client, enough to produce every indicator's name."""


def outcome_names(scenario: Scenario) -> list[str]:
    """The outcomes an experiment on ``scenario`` can keep, found by a one-replication run
    with one client per municipality."""
    probe = with_values(scenario, {"scale.client_scale": PROBE_SCALE}, "outcome probe")
    with warnings.catch_warnings():
        # One client per municipality leaves some indicators with nothing to measure (the
        # mean of no values): only the names are wanted here.
        warnings.simplefilter("ignore", RuntimeWarning)
        return list(run_in_memory(probe, seed=0, replications=1))
