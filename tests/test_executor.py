"""The executor (issue 17): one interface for tasks in this process, in spawned local
processes or on a Dask cluster; the same results whichever runs them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from streetlevel.output.executor import (
    DaskCluster,
    Executor,
    InProcess,
    LocalProcesses,
    executor,
    report,
    worker_deaths,
)
from streetlevel.output.run import run_in_memory
from streetlevel.scenario.schema import Scenario
from tests.conftest import small

# -- tasks (module level: a worker process imports them by name) -------------------------------

_started_with: str | None = None


def square(x: int) -> int:
    return x * x


def where(_: object) -> tuple[int, int]:
    """The process a task ran in, and what Ctrl-C does there."""
    handler = signal.getsignal(signal.SIGINT)
    return os.getpid(), int(handler == signal.SIG_IGN)


def chatty(n: int) -> int:
    for i in range(n):
        report((n, i))
    return n


def failing(x: int) -> int:
    if x == 2:
        raise ValueError(f"task {x} fails")
    return x


def sleeper(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def remember(text: str) -> None:
    global _started_with
    _started_with = text


def started_with(_: object) -> str | None:
    return _started_with


def tiny() -> Scenario:
    return small("municipality-b", scale=0.2, time__burn_in_years=0, time__reporting_years=1)


# -- the interface, for every local executor ----------------------------------------------------


@pytest.fixture(params=[1, 2], ids=["in-process", "two-processes"])
def pool(request: pytest.FixtureRequest) -> Executor:
    return executor(workers=request.param, on_message=[].append)


def test_the_factory_chooses_by_workers() -> None:
    with executor(workers=1) as one, executor(workers=2) as two:
        assert isinstance(one, InProcess)
        assert isinstance(two, LocalProcesses) and two.workers == 2


def test_map_keeps_the_order_of_its_arguments(pool: Executor) -> None:
    with pool:
        assert pool.map(square, range(7)) == [x * x for x in range(7)]
        assert pool.map(divmod, [7, 9], [2, 4]) == [(3, 1), (2, 1)]


def test_as_completed_yields_every_task_once(pool: Executor) -> None:
    with pool:
        tasks = {pool.submit(square, x): x for x in range(5)}
        seen = [tasks[t] for t in pool.as_completed(tasks)]
        assert sorted(seen) == list(range(5))
        assert all(t.done() and t.result() == x * x for t, x in tasks.items())


def test_a_failed_task_raises_its_own_error_where_its_result_is_asked(pool: Executor) -> None:
    with pytest.raises(ValueError, match="task 2 fails"), pool:
        pool.map(failing, [1, 2, 3])
    with executor(workers=1) as again:  # a failure is a task's, not the executor's
        tasks = [again.submit(failing, x) for x in (2, 3)]
        results = []
        for t in again.as_completed(tasks):
            try:
                results.append(t.result())
            except ValueError:
                results.append(None)
        assert results == [None, 3]


def test_messages_reach_the_submitting_process() -> None:
    for workers in (1, 2):
        seen: list[tuple[int, int]] = []
        with executor(workers=workers, on_message=seen.append) as pool:
            assert pool.map(chatty, [3, 2]) == [3, 2]
        # Every message, each task's in the order it sent them.
        assert sorted(seen) == [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)], workers
        assert [m for m in seen if m[0] == 3] == [(3, 0), (3, 1), (3, 2)]


def test_in_process_tasks_run_in_order_when_asked() -> None:
    """One after another, each when its result is first asked for: a caller that stores each
    result as it comes has stored it before the next task starts."""
    order: list[str] = []
    with InProcess(on_message=order.append) as pool:
        tasks = [pool.submit(chatty, n) for n in (1, 2)]
        assert order == []  # nothing has run yet
        for task in pool.as_completed(tasks):
            order.append(f"stored {task.result()}")
    assert order == [(1, 0), "stored 1", (2, 0), (2, 1), "stored 2"]


def test_local_workers_are_spawned_processes_that_ignore_ctrl_c() -> None:
    """Ctrl-C reaches every process of a terminal's group: the parent alone decides."""
    with LocalProcesses(2, initializer=remember, initargs=("set up",)) as pool:
        places = pool.map(where, range(4))
        assert pool.map(started_with, range(2)) == ["set up", "set up"]
    assert all(pid != os.getpid() and ignored for pid, ignored in places)
    with InProcess() as here:
        ((pid, _),) = here.map(where, [0])
    assert pid == os.getpid()


def test_leaving_by_an_error_stops_the_workers_at_once() -> None:
    """Ctrl-C or a failure in the submitting process kills the tasks still running instead
    of waiting for them."""
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), LocalProcesses(2) as pool:
        pool.submit(sleeper, 60.0)
        pool.map(square, [1])  # the workers are up
        raise KeyboardInterrupt
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_dask_is_imported_only_for_a_dask_cluster() -> None:
    """Runs and calibrations never pay for loading Dask."""
    import subprocess
    import sys

    modules = (
        "streetlevel.output.run, streetlevel.experiments.sweep, streetlevel.validation.calibration"
    )
    code = f"import sys, {modules}; print('distributed' in sys.modules, 'dask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_dead_worker_is_named_as_the_cause() -> None:
    from concurrent.futures.process import BrokenProcessPool

    assert worker_deaths(BrokenProcessPool("gone")) == 1
    assert worker_deaths(ValueError("a task's own error")) is None


@pytest.mark.slow
def test_results_do_not_depend_on_the_executor() -> None:
    """The same seed gives the same numbers in this process and in spawned workers."""
    scenario = tiny()
    seeds = [3, 4, 5]
    with executor(workers=1) as one, executor(workers=2) as two:
        here = one.map(run_in_memory, [scenario] * 3, seeds, [2] * 3)
        there = two.map(run_in_memory, [scenario] * 3, seeds, [2] * 3)
    assert here == there
    assert here[0] != here[1]  # the seeds matter: the comparison could fail


# -- a Dask cluster -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_dask_cluster_serves_the_same_interface(tmp_path: Path) -> None:
    """A local Dask cluster of one worker: the same results as this process, tasks in
    another process, a task's error raised where its result is asked."""
    scenario = tiny()
    with DaskCluster(workers=1) as pool:
        assert pool.map(square, range(5)) == [x * x for x in range(5)]
        tasks = {pool.submit(where, x): x for x in range(3)}
        pids = {t.result()[0] for t in pool.as_completed(tasks)}
        with pytest.raises(ValueError, match="task 2 fails"):
            pool.map(failing, [1, 2])
        on_dask = pool.map(run_in_memory, [scenario], [3], [2])
    assert os.getpid() not in pids
    with InProcess() as here:
        assert here.map(run_in_memory, [scenario], [3], [2]) == on_dask
