"""How long a spawned worker takes to start a run's first task, and what it has imported.

    python benchmarks/worker_start.py [--rounds 7]

A run with ``--workers 2`` simulates its batches in spawned processes
(:class:`streetlevel.output.executor.LocalProcesses`). Each one starts a Python, imports the
parent's main script again (spawn does; for the ``streetlevel`` command that is its script,
which imports ``streetlevel.cli``) and then what the task's pickle names: the task function's
module and the scenario's classes. This script's imports are the ``streetlevel`` script's, so
its workers import what a run's workers do. Printed: the median of ``--rounds`` rounds of the
seconds from asking for a worker to its first task starting, and the heavy modules the worker
had imported by then; and the CPU seconds the worker had used by then (its imports, mostly),
which vary less than wall time on a shared machine. Speed is measured here, never in the
tests.
"""

from __future__ import annotations

from streetlevel.cli import main  # noqa: F401 (what the `streetlevel` script imports)

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
    "dash",
    "streetlevel.cli.app",
    "streetlevel.analysis",
    "streetlevel.experiments",
    "streetlevel.output.summary",
)
"""Modules a run's batch task does not need."""


def first_task(rounds: int) -> tuple[list[float], list[float], list[str]]:
    """The start-up seconds (wall and the worker's CPU) of each round, and the heavy modules
    of the last round's worker."""
    import time

    from streetlevel.output.executor import LocalProcesses
    from streetlevel.output.run import _batch_task
    from streetlevel.scenario.loading import load_scenario

    scenario = load_scenario("municipality-b")
    # The first task as the worker receives it: the run's task function and a scenario to
    # unpickle, then the clock read as the task starts.
    arguments = {"task": _batch_task, "scenario": scenario}
    probe = (
        "(__import__('time').time(), __import__('time').process_time(), "
        "sorted(__import__('sys').modules))"
    )
    seconds, cpu, loaded = [], [], []
    for _ in range(rounds):
        asked = time.time()
        with LocalProcesses(2) as pool:
            started, used, loaded = pool.submit(eval, probe, arguments).result()
        seconds.append(started - asked)
        cpu.append(used)
    return seconds, cpu, [m for m in HEAVY if m in loaded]


if __name__ == "__main__":
    import argparse
    import statistics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    seconds, cpu, heavy = first_task(args.rounds)
    print(
        f"worker start to first task: median {statistics.median(seconds):.2f} s "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {args.rounds} rounds); "
        f"the worker's CPU by then: median {statistics.median(cpu):.2f} s"
    )
    print("heavy modules imported by the worker:", ", ".join(heavy) or "none")
