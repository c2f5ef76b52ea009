"""The executor: independent tasks run side by side, in this process, in local worker
processes or on a Dask cluster, behind one interface.

A task is a function and its arguments. It is pickled by reference to the worker that runs
it, and its result comes back to the process that submitted it. Runs (``output.run``, a
batch of replications per task), calibrations (``validation.calibration``, a simulation per
task) and sweeps (``experiments.sweep``, a point per task) all submit their tasks here:

- :class:`InProcess` runs each task in this process, in the order submitted, when its result
  is asked for (one worker: no process to start, and a monkeypatch in a test still applies).
- :class:`LocalProcesses` runs them in spawned worker processes. Spawned rather than forked:
  the parent may hold threads (a progress bar, a dashboard server), and a forked child
  inherits their locks in whatever state they were. Workers ignore Ctrl-C, which reaches every
  process of the terminal's group: the parent alone decides what follows, and
  :meth:`Executor.abort` kills the workers at once. A worker whose parent has gone (killed
  with SIGKILL, it could not stop its workers) ends itself.
- :class:`DaskCluster` runs them on a Dask ``LocalCluster`` of single-threaded worker
  processes, or on a cluster started by others given its scheduler's address. A worker that
  dies mid-task is replaced and the task run again elsewhere by Dask's scheduler.

Which worker runs a task never changes its result: every task draws from the seed in its
arguments. A task may send messages (progress) to the process that submitted it with
:func:`report`; :class:`InProcess` and :class:`LocalProcesses` hand them to ``on_message``.
Dask is imported only when a :class:`DaskCluster` is made.

>>> with executor(workers=1) as pool:
...     pool.map(pow, [2, 3], [3, 2])
[8, 9]
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast

from streetlevel.errors import StreetlevelError

__all__ = [
    "ClusterError",
    "DaskCluster",
    "Executor",
    "InProcess",
    "LocalProcesses",
    "Task",
    "dask_setup",
    "executor",
    "report",
    "worker_deaths",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

PARENT_POLL_SECONDS = 0.5
"""How often a local worker checks that the process that started it is still there."""
TICK_SECONDS = 0.2
"""How long a local executor with messages waits for a task to finish before it hands on the
messages that arrived meanwhile: a progress bar moves five times a second."""
SCHEDULER_TIMEOUT = "20s"
"""How long to try to reach a Dask scheduler given by address before giving up."""


class ClusterError(StreetlevelError):
    """A Dask cluster cannot be reached, or its workers run another streetlevel."""


class Task(Protocol[T_co]):
    """A submitted task: its result when it has one (a ``concurrent.futures.Future`` or a
    Dask future)."""

    def result(self, timeout: float | None = None) -> T_co:
        """The task's result, or its exception raised here."""

    def done(self) -> bool:
        """Whether the task has finished."""


class Executor(ABC):
    """Where tasks run. Used as a context manager: leaving the block normally waits for the
    workers to finish and frees them; leaving it by an exception (Ctrl-C, a failed task)
    stops them at once."""

    @abstractmethod
    def submit(self, fn: Callable[..., T], /, *args: Any) -> Task[T]:
        """Run ``fn(*args)`` on a worker; returns the task at once."""

    @abstractmethod
    def as_completed(self, tasks: Iterable[Task[T]]) -> Iterator[Task[T]]:
        """Yield ``tasks`` as they finish (results stream back in the order they come)."""

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
        """``fn`` over the zipped ``iterables`` side by side; the results in their order. The
        first task to fail raises its exception here."""
        tasks = [self.submit(fn, *args) for args in zip(*iterables, strict=True)]
        for task in self.as_completed(tasks):
            task.result()
        return [task.result() for task in tasks]

    def close(self) -> None:  # noqa: B027 (nothing to free in this process)
        """Wait for the tasks still running and free the workers."""

    def abort(self) -> None:
        """Stop at once: tasks not started are cancelled, running ones killed where the
        workers allow it."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if err is None:
            self.close()
        else:
            self.abort()


def executor(
    workers: int | None = 1,
    scheduler: str | None = None,
    *,
    on_message: Callable[[Any], None] | None = None,
) -> Executor:
    """The executor for ``workers`` processes (``None``: one per core), or for the Dask
    cluster at ``scheduler``: one worker runs in this process, more in spawned processes.

    ``on_message`` receives what tasks :func:`report` (a Dask cluster's tasks report nothing).
    """
    if scheduler is not None:
        return DaskCluster(scheduler)
    count = workers if workers is not None else os.cpu_count() or 1
    if count <= 1:
        return InProcess(on_message=on_message)
    return LocalProcesses(count, on_message=on_message)


# -- messages from tasks ---------------------------------------------------------------------

_reporter: Callable[[Any], None] | None = None
"""In a local worker process: where :func:`report` sends a message (the executor's queue)."""
_here = threading.local()
"""In this process: the ``on_message`` of the :class:`InProcess` task running in this thread."""


def report(message: Any) -> None:
    """Send ``message`` from the running task to the process that submitted it (its
    executor's ``on_message``); nothing when it asked for none.

    >>> seen = []
    >>> with InProcess(on_message=seen.append) as pool:
    ...     pool.map(report, ["a week done"])
    [None]
    >>> seen
    ['a week done']
    """
    to = getattr(_here, "reporter", None) or _reporter
    if to is not None:
        to(message)


# -- in this process -------------------------------------------------------------------------


class _Deferred(Future[T]):
    """A task of :class:`InProcess`: run when its result is first asked for."""

    def __init__(
        self, fn: Callable[..., T], args: tuple[Any, ...], reporter: Callable[[Any], None] | None
    ) -> None:
        super().__init__()
        self._call = (fn, args, reporter)

    def run(self) -> None:
        if self.done():
            return
        fn, args, reporter = self._call
        before = getattr(_here, "reporter", None)
        _here.reporter = reporter
        try:
            value = fn(*args)
        except Exception as err:  # a failed task; Ctrl-C (BaseException) stops everything
            self.set_exception(err)
        else:
            self.set_result(value)
        finally:
            _here.reporter = before

    def result(self, timeout: float | None = None) -> T:
        self.run()
        return super().result(timeout)


class InProcess(Executor):
    """Tasks run in this process, one after another in the order submitted, each when its
    result is first asked for (so a caller that stores each result as it comes stores it
    before the next task starts)."""

    def __init__(self, *, on_message: Callable[[Any], None] | None = None) -> None:
        self.on_message = on_message
        self._tasks: list[_Deferred[Any]] = []

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Task[T]:
        task: _Deferred[T] = _Deferred(fn, args, self.on_message)
        self._tasks.append(task)
        return task

    def as_completed(self, tasks: Iterable[Task[T]]) -> Iterator[Task[T]]:
        for task in tasks:
            cast("_Deferred[T]", task).run()
            yield task

    def abort(self) -> None:
        for task in self._tasks:
            task.cancel()


# -- local worker processes ------------------------------------------------------------------


class LocalProcesses(Executor):
    """Tasks in ``workers`` spawned processes (``concurrent.futures``).

    Args:
        on_message: receives what tasks :func:`report`, in this process, while
            :meth:`as_completed` waits.
        initializer: called with ``initargs`` in each worker as it starts (after the
            executor's own set-up: Ctrl-C ignored, the watch on the parent).
    """

    def __init__(
        self,
        workers: int,
        *,
        on_message: Callable[[Any], None] | None = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers = workers
        self.on_message = on_message
        # A simple queue writes each message into its pipe before the task goes on, so every
        # message of a task is there to read by the time its result is.
        self._messages: Any = context.SimpleQueue() if on_message is not None else None
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self._messages, os.getpid(), initializer, initargs),
        )

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Task[T]:
        return self._pool.submit(fn, *args)

    def as_completed(self, tasks: Iterable[Task[T]]) -> Iterator[Task[T]]:
        pending = {cast("Future[T]", t) for t in tasks}
        # With messages to hand on, wake up now and then; without, wait for a result.
        tick = TICK_SECONDS if self._messages is not None else None
        while pending:
            ready, pending = wait(pending, timeout=tick, return_when=FIRST_COMPLETED)
            self._hand_on_messages()
            yield from ready
        self._hand_on_messages()

    def _hand_on_messages(self) -> None:
        if self._messages is None or self.on_message is None:
            return
        while not self._messages.empty():
            self.on_message(self._messages.get())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._messages is not None:
            self._messages.close()

    def abort(self) -> None:
        # A worker mid-task is stopped at once (its half-written files are the caller's to
        # remove); shutdown alone would wait for it to finish its task for nobody.
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()
        self.close()


def _start_worker(
    messages: Any,
    parent: int,
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
) -> None:
    global _reporter
    _reporter = messages.put if messages is not None else None
    # Ctrl-C reaches every process of the terminal's group; the parent alone decides what
    # happens (it stops the workers and records what was done).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _exit_with(parent: int) -> None:
    """End this worker when the process that started it has gone (killed with SIGKILL, it
    could not stop its workers): an orphan would finish its task for nobody, then wait
    forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def worker_deaths(err: BaseException) -> int | None:
    """How many times a task's worker died under it, when that is why the task failed
    (``None`` when the task failed by itself)."""
    distributed = sys.modules.get("distributed")
    if distributed is not None and isinstance(err, distributed.KilledWorker):
        # Dask gives a task ``allowed-failures`` deaths, then reports the one more.
        return int(err.allowed_failures) + 1
    if isinstance(err, BrokenProcessPool):
        return 1
    return None


# -- a Dask cluster --------------------------------------------------------------------------


class DaskCluster(Executor):
    """Tasks on the Dask cluster whose scheduler is at ``address`` (``tcp://host:8786``), or
    on a new ``LocalCluster`` of ``workers`` single-threaded processes (default: one per
    core), closed with the executor. The engine is NumPy-bound: one thread per worker.
    ``timeout`` is how long to try to reach the scheduler (``"20s"``).

    Raises:
        ClusterError: no scheduler answers at ``address``, or its workers run another
            streetlevel than this process (their results would come from another model).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        timeout: str = SCHEDULER_TIMEOUT,
    ) -> None:
        from distributed import Client, LocalCluster

        self._stack = ExitStack()
        try:
            if address is None:
                cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    preload=[__name__],  # dask_setup, in each worker process
                )
                self._stack.enter_context(cluster)
                self.client = self._stack.enter_context(Client(cluster))  # type: ignore[no-untyped-call]
            else:
                try:
                    client = Client(address, timeout=timeout)  # type: ignore[no-untyped-call]
                except (OSError, TimeoutError, ValueError) as err:
                    raise ClusterError(
                        f"--scheduler {address}: cannot connect to a Dask scheduler there ({err})"
                    ) from None
                self.client = self._stack.enter_context(client)
                _check_workers(self.client, address)
        except BaseException:
            self._stack.close()
            raise

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Task[T]:
        # pure=False: two tasks with equal arguments are two tasks, never one cached result.
        return cast("Task[T]", self.client.submit(fn, *args, pure=False))

    def as_completed(self, tasks: Iterable[Task[T]]) -> Iterator[Task[T]]:
        from distributed import as_completed

        yield from as_completed(list(tasks))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._stack.close()


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, run by each worker process of a :class:`DaskCluster`'s own local
    cluster as it starts.

    Ctrl-C at a terminal reaches every process of its group, and the process that made the
    cluster alone decides what follows (it closes the cluster and records what was done): a
    worker ignores it, instead of printing Dask's traceback of its own interruption.
    """
    # Python sets signal handlers from the main thread only (elsewhere it raises).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_workers(client: Any, address: str) -> None:
    """Workers of a cluster started by others must run the same streetlevel as this process
    (checked for the workers present now)."""
    found = client.run(_version)
    wrong = {worker: v for worker, v in found.items() if v != _version()}
    if wrong:
        listed = ", ".join(f"{worker} has {v}" for worker, v in sorted(wrong.items()))
        raise ClusterError(
            f"--scheduler {address}: workers run another streetlevel than this "
            f"{_version()}: {listed}"
        )


def _version() -> str:
    from streetlevel.version import __version__

    return __version__
