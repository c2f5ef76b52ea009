"""Size guards: refuse a run the machine cannot hold, before it starts.

A run holds one batch of replications per worker process in memory (the client state and a
year of buffered rows), and writes every reporting year's rows to disk. Both grow with the
client slots; memory does not grow with the replications (batches are written and dropped),
disk does. :func:`plan_workers` estimates both from the scenario, compares them with what the
machine has, and either chooses how many workers fit or raises :class:`ResourceError` naming
the estimate and the limit.

The per-slot figures are measured, not modelled: ``benchmarks/memory.py`` re-measures them
(peak resident memory of a process simulating one batch, and bytes written per client-year of
``denmark-2011``) and docs/performance.md records the runs. They are upper bounds with a
stated margin, since event rates vary between scenarios.

>>> round(2 * batch_memory(slots=125_000, batch=8) / 2**30, 1)
4.3
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from streetlevel.errors import StreetlevelError
from streetlevel.scenario.schema import Scenario

__all__ = [
    "BYTES_PER_CLIENT_YEAR_ON_DISK",
    "BYTES_PER_SLOT",
    "INDICATORS_BOUND",
    "PROCESS_BASE_BYTES",
    "ResourceError",
    "available_memory",
    "batch_memory",
    "check_sweep",
    "plan_workers",
    "run_disk_bytes",
]

BYTES_PER_SLOT = 2_000
"""Peak resident bytes per client slot of a batch: the state arrays (about 180 B) and one
year of buffered rows on their way to Parquet (events at about 5 rows per client-year).
Measured 1,220 B on denmark-2011 at 5.4 event rows per client-year, in batches of 8
replications (1 million slots; benchmarks/memory.py); rounded up for scenarios with more events
and for small batches, where fixed allocations weigh more."""
PROCESS_BASE_BYTES = 300 * 2**20
"""Resident memory of a worker before its batch: Python, NumPy, pandas, pyarrow (measured
150 MB, benchmarks/memory.py; doubled for the allocator's slack between batches)."""
BYTES_PER_CLIENT_YEAR_ON_DISK = 50
"""Compressed Parquet bytes written per client-year of a reporting year (events and
client-years; measured 38 B on denmark-2011, benchmarks/memory.py)."""
POINT_FILE_BYTES = 16_000
"""Bytes of a sweep's point file besides its values: the Parquet footer with one column per
outcome and factor (measured 9 to 12 kB for the shipped experiment's 40 columns)."""
INDICATORS_BOUND = 200
"""Outcome columns of a point that keeps every indicator, for the estimate: the summary has
about 50 for the shipped presets (some per category and per reporting year); four times that
covers scenarios with many more categories and years without running one to count."""
VALUE_BYTES = np.dtype(np.float64).itemsize
"""A point file stores each outcome of each replication as a float64."""
MEMORY_SHARE = 0.8
"""Share of the available memory a run may plan to use: the rest is for the page cache the
writer needs and for other programs."""


class ResourceError(StreetlevelError):
    """A run would need more memory or disk than the machine has."""


def run_disk_bytes(slots: int, replications: int, years: int) -> int:
    """Bytes a run of ``replications`` of ``slots`` clients over ``years`` reporting years
    writes to disk, at most (:data:`BYTES_PER_CLIENT_YEAR_ON_DISK`)."""
    return BYTES_PER_CLIENT_YEAR_ON_DISK * slots * replications * years


def batch_memory(slots: int, batch: int) -> int:
    """Peak resident bytes of a process simulating ``batch`` replications of ``slots`` clients."""
    return PROCESS_BASE_BYTES + BYTES_PER_SLOT * slots * batch


def available_memory() -> int:
    """Memory available to new processes: ``MemAvailable`` (Linux), else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def plan_workers(
    scenario: Scenario,
    slots: int,
    batch: int,
    replications: int,
    out: Path,
    workers: int | None,
    *,
    memory: int | None = None,
) -> int:
    """The worker processes a run will use, after checking that it fits.

    ``workers=None`` takes as many as there are cores, batches and memory for; an explicit
    number is checked as given. Raises :class:`ResourceError` when one batch does not fit in
    memory, when the requested workers do not, or when the tables would not fit on the disk
    holding ``out``.
    """
    limit = _memory_limit(memory)
    one = batch_memory(slots, batch)
    if one > limit:
        raise ResourceError(
            f"{scenario.scenario.name}: a batch of {batch} replication(s) of {slots:,} clients "
            f"needs about {_gib(one)} of memory; {_gib(limit)} may be used here "
            f"({MEMORY_SHARE:.0%} of the memory available). Lower scale.client_scale or the "
            "clients in the scenario."
        )
    fit = max(1, limit // one)
    batches = -(-replications // batch)
    if workers is None:
        workers = int(min(os.cpu_count() or 1, batches, fit))
    elif workers > fit:
        raise ResourceError(
            f"{scenario.scenario.name}: {workers} workers with batches of {batch} replication(s) "
            f"of {slots:,} clients need about {_gib(workers * one)} of memory; {_gib(limit)} "
            f"may be used here. Use --workers {fit} or fewer."
        )
    years = scenario.time.reporting_years.value
    _check_disk(
        out,
        run_disk_bytes(slots, replications, years),
        f"the run would write about {{}} ({replications} replications x {years} years x "
        f"{slots:,} clients)",
        "run fewer replications",
    )
    return workers


def _memory_limit(memory: int | None) -> int:
    """What a run may plan to use of ``memory`` (default: the memory available now)."""
    return int(MEMORY_SHARE * (memory if memory is not None else available_memory()))


def _check_disk(out: Path, written: int, what: str, instead: str) -> None:
    """Refuse ``written`` bytes more than the disk holding ``out`` has free; ``what`` says
    what would be written, with ``{}`` where the size goes."""
    free = shutil.disk_usage(_existing(out)).free
    if written > free:
        raise ResourceError(
            f"{out}: {what.format(_gib(written))}; the disk has {_gib(free)} free. Write "
            f"elsewhere (--out) or {instead}."
        )


def _existing(path: Path) -> Path:
    """The nearest existing directory at or above ``path`` (where it will be created)."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_sweep(
    name: str,
    slots: int,
    batch: int,
    points: int,
    replications: int,
    columns: int,
    out: Path,
    local_workers: int | None,
    *,
    memory: int | None = None,
) -> None:
    """Refuse a sweep whose points cannot fit: one batch of the base scenario per local
    worker in memory (``local_workers=None``: the workers of a remote cluster, not known here
    and not checked), and the point files on the disk holding ``out``."""
    limit = _memory_limit(memory)
    batch = min(batch, replications)
    if local_workers is not None and local_workers * batch_memory(slots, batch) > limit:
        need = local_workers * batch_memory(slots, batch)
        raise ResourceError(
            f"{name}: {local_workers} worker(s), each simulating a batch of {batch} "
            f"replication(s) of {slots:,} clients, need about {_gib(need)} of memory; "
            f"{_gib(limit)} may be used here. Use fewer --workers or a smaller client_scale."
        )
    _check_disk(
        out,
        points * (POINT_FILE_BYTES + replications * columns * VALUE_BYTES),
        f"the sweep's {points:,} points left would write about {{}}",
        "use fewer points",
    )
