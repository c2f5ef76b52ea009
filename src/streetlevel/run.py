"""Running a scenario end to end: the library function behind ``streetlevel run``.

>>> import tempfile, pathlib
>>> from streetlevel.loading import load_scenario
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> result = run_scenario(load_scenario("municipality-b"), seed=3, replications=2, out=out)
>>> sorted(p.name for p in out.iterdir())  # doctest: +NORMALIZE_WHITESPACE
['client_years.parquet', 'events.parquet', 'manifest.json', 'municipalities.parquet',
 'municipality_years.parquet', 'scenario.toml']
>>> result.manifest["status"]
'complete'
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from streetlevel.country import Country, build_country
from streetlevel.engine import Simulation
from streetlevel.errors import OutputExistsError
from streetlevel.loading import scenario_hash, scenario_to_toml
from streetlevel.records import (
    Recorder,
    write_json_atomic,
    write_table_atomic,
    write_text_atomic,
)
from streetlevel.scenario import Scenario
from streetlevel.summary import replication_indicators

__all__ = ["MANIFEST", "RunResult", "default_batch_size", "run_in_memory", "run_scenario"]

MANIFEST = "manifest.json"
SLOTS_PER_BATCH = 2_000_000
"""Client slots held in memory at once (replications are batched to about this many):
large enough to amortise per-week Python overhead, small enough to stay in a few hundred MB."""
RUN_FILES = (
    "events.parquet",
    "client_years.parquet",
    "municipality_years.parquet",
    "municipalities.parquet",
    "scenario.toml",
    MANIFEST,
)


@dataclass(frozen=True)
class RunResult:
    """Where a run's tables are, and its manifest."""

    out: Path
    manifest: dict[str, Any]


def default_batch_size(slots: int) -> int:
    """Replications simulated together for a country of ``slots`` clients."""
    return max(1, SLOTS_PER_BATCH // max(slots, 1))


def run_scenario(
    scenario: Scenario,
    *,
    seed: int,
    replications: int,
    out: Path,
    overwrite: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Simulate ``replications`` replications of ``scenario`` and write the run directory.

    Replication ``r`` uses the random stream ``(seed, r)`` whatever the batching, so the
    output is identical for any ``batch_size``.

    Args:
        on_progress: called with (client-weeks done, client-weeks in all).
    """
    out = Path(out)
    _prepare(out, overwrite)
    country = build_country(scenario)
    batch = batch_size or default_batch_size(country.n_slots)
    started = time.perf_counter()
    manifest: dict[str, Any] = {
        "status": "running",
        "scenario": scenario.scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": seed,
        "replications": replications,
        "package_version": _version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        # A manifest left at "running" by a killed process is told apart by host and pid.
        "host": platform.node(),
        "pid": os.getpid(),
        "clients": country.n_slots,
        "municipalities": country.n_municipalities,
        "reporting_years": scenario.time.reporting_years.value,
        "burn_in_years": scenario.time.burn_in_years.value,
    }
    write_json_atomic(manifest, out / MANIFEST)
    write_text_atomic(scenario_to_toml(scenario), out / "scenario.toml")
    write_table_atomic(_municipalities_table(country), out / "municipalities.parquet")
    recorder = Recorder(
        out,
        country.names,
        country.region_names,
        country.region,
        [c.name for c in scenario.categories],
    )
    weeks = (scenario.time.burn_in_years.value + scenario.time.reporting_years.value) * (
        scenario.time.weeks_per_year.value
    )
    total = weeks * country.n_slots * replications
    try:
        for first in range(0, replications, batch):
            reps = list(range(first, min(first + batch, replications)))
            sim = Simulation(scenario, seed, reps, recorder)
            done_before = first * weeks * country.n_slots
            per_week = len(reps) * country.n_slots
            sim.run(_progress(on_progress, done_before, per_week, total))
        rows = recorder.close()
    except BaseException as err:
        recorder.abort()
        manifest.update(
            status="interrupted" if isinstance(err, KeyboardInterrupt | SystemExit) else "failed",
            error=f"{type(err).__name__}: {err}",
            wall_seconds=round(time.perf_counter() - started, 3),
        )
        write_json_atomic(manifest, out / MANIFEST)
        raise
    manifest.update(
        status="complete",
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_seconds=round(time.perf_counter() - started, 3),
        client_weeks=total,
        tables=rows,
    )
    write_json_atomic(manifest, out / MANIFEST)
    return RunResult(out, manifest)


def _progress(
    on_progress: Callable[[int, int], None] | None, done_before: int, per_week: int, total: int
) -> Callable[[int, int], None] | None:
    """Turn a batch's (weeks done, weeks) into the run's (client-weeks done, client-weeks)."""
    if on_progress is None:
        return None
    report = on_progress

    def on_week(weeks_done: int, _weeks: int) -> None:
        report(done_before + weeks_done * per_week, total)

    return on_week


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(
                f"{out}: already holds results; choose another --out or pass --overwrite"
            )
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for stale in out.glob("*.partial"):
            stale.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _municipalities_table(country: Country) -> pa.Table:
    return pa.table(
        {
            "municipality": country.names,
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
    from streetlevel import __version__

    return __version__


def run_in_memory(scenario: Scenario, seed: int, replications: int) -> dict[str, list[float]]:
    """Simulate ``replications`` replications of ``scenario`` in memory; each indicator of
    the summary (but the profile gaps, which need the client-years) per replication."""
    size = default_batch_size(build_country(scenario).n_slots)
    frames = []
    for first in range(0, replications, size):
        sim = Simulation(scenario, seed, list(range(first, min(first + size, replications))))
        sim.run()
        frames.append(_municipality_years(sim))
    table = pd.concat(frames, ignore_index=True)
    return {name: values.tolist() for name, values, _ in replication_indicators(table, scenario)}


def _municipality_years(sim: Simulation) -> pd.DataFrame:
    """The reporting years' municipality rows, as ``municipality_years.parquet`` holds them."""
    frame = pd.concat([pd.DataFrame(y) for y in sim.yearly[sim.burn_in_years :]])
    names = np.asarray(sim.country.names, dtype=object)
    frame["municipality"] = names[frame["municipality"].to_numpy()]
    regions = np.asarray(sim.country.region_names, dtype=object)
    frame["region"] = regions[frame["region"].to_numpy()]
    routes = np.array(["caseworker", "benefit_office"], dtype=object)
    frame["absence_route"] = routes[frame["absence_route"].to_numpy()]
    return frame
