"""Runs started from the dashboard's page: a bounded queue and a disk budget.

Anyone who can reach the page can press "Start run", and each run of the largest size the
form offers takes about half a minute of CPU and a few hundred megabytes of disk. So the
server, not the page, bounds them: at most :attr:`Limits.running` runs at once and
:attr:`Limits.queued` waiting (a further request is answered 429), and a disk budget that
counts the runs already under the work directory and every run queued or running (a run that
would go beyond it is answered 507). Finished jobs are forgotten after
:attr:`Limits.keep_seconds` (their directories stay, and stay offered in the municipalities
view).

No web framework here: :class:`Runner` is tested without a server.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streetlevel.dashboard.data import check_run, run_scenario_for
from streetlevel.dashboard.guard import RefusedError
from streetlevel.errors import StreetlevelError
from streetlevel.model.country import build_country
from streetlevel.output.run import run_scenario
from streetlevel.output.sizing import run_disk_bytes
from streetlevel.output.summary import Summary, summarize
from streetlevel.scenario.schema import Scenario

__all__ = [
    "DEFAULT_LIMITS",
    "DiskBudgetError",
    "Job",
    "Limits",
    "QueueFullError",
    "Runner",
    "bytes_under",
    "disk_estimate",
]

ACTIVE = ("queued", "running")
"""A job's statuses before it ends (then ``complete``, ``failed`` or ``interrupted``)."""


@dataclass(frozen=True)
class Limits:
    """What the page's runs may take of the machine (``streetlevel dashboard`` options)."""

    running: int = 1
    """Runs simulated at once: one keeps the page responsive on a shared machine, and more
    would only share the same cores."""
    queued: int = 3
    """Runs waiting their turn besides those running; a request beyond is answered 429."""
    disk_budget: int = 5 * 10**9
    """Bytes the runs under the work directory may take, counting those on disk and the
    estimate (:func:`streetlevel.output.sizing.run_disk_bytes`) of each queued or running
    one; a run beyond is answered 507."""
    keep_seconds: float = 3600.0
    """How long a finished job's status and summary are kept for the page to show."""

    def __post_init__(self) -> None:
        if self.running < 1 or self.queued < 0 or self.disk_budget < 0 or self.keep_seconds < 0:
            raise StreetlevelError(
                f"dashboard limits: expected running >= 1 and queued, disk budget and keep "
                f"time >= 0, got {self}"
            )


DEFAULT_LIMITS = Limits()


class QueueFullError(RefusedError):
    """Every place in the run queue is taken (HTTP 429, Too Many Requests)."""

    status = 429


class DiskBudgetError(RefusedError):
    """The run would take the page's runs beyond their disk budget (HTTP 507, Insufficient
    Storage)."""

    status = 507


@dataclass
class Job:
    """One run started from the page."""

    id: str
    preset: str
    levers: dict[str, str]
    out: Path
    disk_bytes: int
    """The run's estimated size on disk, held against the budget until it ends."""
    status: str = "queued"
    """``queued``, ``running``, ``complete``, ``failed`` or ``interrupted``."""
    done: float = 0.0
    """Share of the run's client-weeks simulated (0 to 1)."""
    message: str = ""
    summary: Summary | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None


@dataclass(frozen=True)
class QueueState:
    """What the page shows of the queue."""

    running: int
    queued: int
    disk_used: int
    """Bytes under the work directory plus the estimates of the runs not yet written."""
    limits: Limits

    @property
    def full(self) -> bool:
        return self.running + self.queued >= self.limits.running + self.limits.queued

    def describe(self) -> str:
        """One line for the page, e.g. ``1 of 1 running, 2 of 3 waiting; disk 0.4 of 5.0
        GB``."""
        return (
            f"{self.running} of {self.limits.running} running, {self.queued} of "
            f"{self.limits.queued} waiting; disk {self.disk_used / 1e9:.1f} of "
            f"{self.limits.disk_budget / 1e9:.1f} GB"
        )


def bytes_under(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if it does not exist); symbolic links are not
    followed, so a link to a large directory does not count."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed while we walked: a run tidying its partial files
    return total


def disk_estimate(scenario: Scenario, replications: int) -> int:
    """Bytes a run of ``scenario`` will write at most (building its country takes about a
    millisecond)."""
    slots = build_country(scenario).n_slots
    return run_disk_bytes(slots, replications, scenario.time.reporting_years.value)


class Runner:
    """Runs started from the page, in background threads (the page polls their progress),
    each into its own directory under ``work_dir``, within :class:`Limits`."""

    def __init__(self, work_dir: Path | str, seed: int, limits: Limits = DEFAULT_LIMITS) -> None:
        self.work_dir = Path(work_dir)
        self.seed = seed
        self.limits = limits
        self._jobs: dict[str, Job] = {}
        self._finished: list[Path] = []
        # One lock for the queue's bookkeeping: the check of the limits and the job's entry
        # happen together, so two requests at once cannot both take the last place.
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=limits.running, thread_name_prefix="streetlevel-run"
        )
        self._stopping = threading.Event()

    def start(
        self, preset: str, levers: dict[str, str], client_scale: float, replications: int
    ) -> Job:
        """Queue a run; returns at once with its :class:`Job`.

        Raises:
            StreetlevelError: a run the run view does not offer (:func:`check_run`).
            QueueFullError: every place in the queue is taken.
            DiskBudgetError: the run would take the page's runs beyond their disk budget.
        """
        check_run(preset, levers, client_scale, replications)
        with self._lock:
            self._forget_old()
            # The cheap refusal first: a full queue builds no scenario.
            if self._state().full:
                raise QueueFullError(self._full_message())
        scenario = run_scenario_for(preset, levers, client_scale)
        size = disk_estimate(scenario, int(replications))
        job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        job = Job(job_id, preset, dict(levers), self.work_dir / f"{preset}-{job_id}", size)
        with self._lock:
            state = self._state()
            if state.full:  # taken while the scenario was built
                raise QueueFullError(self._full_message())
            if state.disk_used + size > self.limits.disk_budget:
                raise DiskBudgetError(
                    f"this run would write about {size / 1e9:.2f} GB, and the dashboard's runs "
                    f"already take {state.disk_used / 1e9:.2f} GB of their "
                    f"{self.limits.disk_budget / 1e9:.1f} GB budget (on disk under "
                    f"{self.work_dir}, or queued): remove old runs there or choose a smaller run"
                )
            self._jobs[job_id] = job
        self._pool.submit(self._run, job, scenario, int(replications))
        return job

    def _full_message(self) -> str:
        return (
            f"the run queue is full ({self.limits.running} running, {self.limits.queued} "
            "waiting): try again when a run has finished"
        )

    def state(self) -> QueueState:
        """The queue now, for the page."""
        with self._lock:
            self._forget_old()
            return self._state()

    def _state(self) -> QueueState:
        # Called with the lock held. A running run's partial files are on disk and in its
        # estimate at once: counted twice, on the safe side, until it ends.
        active = [j for j in self._jobs.values() if j.status in ACTIVE]
        pending = sum(j.disk_bytes for j in active)
        return QueueState(
            running=sum(j.status == "running" for j in active),
            queued=sum(j.status == "queued" for j in active),
            disk_used=bytes_under(self.work_dir) + pending,
            limits=self.limits,
        )

    def _forget_old(self, now: float | None = None) -> None:
        # Called with the lock held: a job that ended more than keep_seconds ago goes (its
        # directory stays, and stays in finished()).
        now = time.time() if now is None else now
        for job_id, job in list(self._jobs.items()):
            if job.ended is not None and now - job.ended > self.limits.keep_seconds:
                del self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._forget_old()
            return self._jobs.get(job_id)

    def finished(self) -> list[Path]:
        """Run directories of the runs that completed, oldest first (also after their jobs
        are forgotten)."""
        with self._lock:
            return list(self._finished)

    def _run(self, job: Job, scenario: Any, replications: int) -> None:
        job.status = "running"

        def progress(done: int, total: int) -> None:
            # Signals reach the main thread only: a run in this thread learns of a stop here,
            # every simulated week, and ends as Ctrl-C ends `streetlevel run`.
            if self._stopping.is_set():
                raise KeyboardInterrupt("the dashboard stopped")
            job.done = done / total if total else 0.0

        try:
            run_scenario(
                scenario,
                seed=self.seed,
                replications=replications,
                out=job.out,
                on_progress=progress,
            )
            job.summary = summarize(job.out)
            job.done = 1.0
            job.status = "complete"
            with self._lock:
                self._finished.append(job.out)
        except KeyboardInterrupt:
            # run_scenario has removed the partial tables and marked the manifest interrupted.
            job.status, job.message = "interrupted", "the dashboard stopped"
        except StreetlevelError as err:
            job.status, job.message = "failed", str(err)
        except Exception as err:  # shown in the page, never as a stack trace
            job.status, job.message = "failed", f"{type(err).__name__}: {err}"
        finally:
            job.ended = time.time()

    def stop(self) -> None:
        """Drop the queued runs and end the running one at its next simulated week (its
        directory keeps only complete tables and a manifest marked interrupted); returns
        when it has ended. Without this, the interpreter's exit waits for the run to end, and
        the run then fails half-way as the interpreter shuts down."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
