"""The commands of a run: ``run``, ``summary`` and ``overruling`` (a run against its
counterfactual with every placement proposal approved)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from streetlevel.analysis.overruling import counterfactual, overruling_of_runs
from streetlevel.analysis.overruling_report import overruling_json, print_overruling
from streetlevel.cli.console import err_console, out_console, weekly
from streetlevel.constants import DEFAULT_REPLICATIONS, DEFAULT_SEED
from streetlevel.output.run import RunResult, run_scenario
from streetlevel.output.summary import print_summary, summarize
from streetlevel.scenario.loading import (
    load_scenario,
    parse_assignment,
    with_overrides,
    with_values,
)
from streetlevel.scenario.schema import Scenario

__all__ = ["overruling", "run", "run_with_progress", "summary"]


def run(
    scenario: Annotated[str, typer.Argument(help="A preset name or a scenario TOML file.")],
    replications: Annotated[int, typer.Option(min=1, help="Replications.")] = (
        DEFAULT_REPLICATIONS
    ),
    seed: Annotated[int, typer.Option(min=0, help="Root seed of the run.")] = DEFAULT_SEED,
    years: Annotated[
        int | None, typer.Option(min=1, help="Reporting years (default: the scenario's).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: runs/<scenario>-<time>).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace results already in --out.")] = False,
    resume: Annotated[
        bool,
        typer.Option(help="Keep the batches an interrupted run in --out finished; run the rest."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes simulating batches of replications at once (default: as many as "
            "the cores, the batches and the memory allow). Results do not depend on it.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Replications simulated together in one process (default: about a million "
            "clients' worth). Each batch is one file per table; less memory when smaller.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change a parameter: --set decision.caseworker.intercept=-3 "
            "(repeatable; key paths as in error messages).",
        ),
    ] = None,
    approve_all: Annotated[
        bool,
        typer.Option(
            "--approve-all",
            help="Approve every job-placement proposal (placements.approve_all, the same "
            "draws): the counterfactual that `streetlevel overruling` compares a run with.",
        ),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Simulate a scenario and print the summary with 95 % intervals across replications."""
    loaded = load_scenario(scenario)
    if set_:
        loaded = with_values(loaded, dict(parse_assignment(a) for a in set_), "--set")
    if approve_all:
        loaded = counterfactual(loaded)
    if years is not None:
        loaded = with_overrides(loaded, reporting_years=years)
    result = run_with_progress(
        loaded,
        seed,
        replications,
        out,
        overwrite,
        resume=resume,
        workers=workers,
        batch_size=batch_size,
    )
    summary = summarize(result.out)
    if json:
        sys.stdout.write(summary.to_json() + "\n")
    else:
        print_summary(summary, out_console)


def run_with_progress(
    loaded: Scenario,
    seed: int,
    replications: int,
    out: Path | None,
    overwrite: bool,
    prefix: str = "",
    *,
    resume: bool = False,
    workers: int | None = None,
    batch_size: int | None = None,
) -> RunResult:
    """Run with a progress bar on the terminal; default directory runs/<prefix><name>-..."""
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{prefix}{loaded.scenario.name}-seed{seed}-{stamp}"
    with Progress(
        TextColumn(f"[bold]{loaded.scenario.name}[/] x {replications}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("run", total=1.0)
        result = run_scenario(
            loaded,
            seed=seed,
            replications=replications,
            out=out,
            overwrite=overwrite,
            resume=resume,
            workers=workers,
            batch_size=batch_size,
            on_progress=lambda done, total: weekly(progress, task, done / total),
        )
    return result


def summary(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `run`.")],
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print the summary of a finished run again (the table `run` ends with)."""
    result = summarize(run_dir)
    if json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print_summary(result, out_console)


def overruling(
    run_dir: Annotated[Path, typer.Argument(help="A run of a scenario with [placements].")],
    approved_dir: Annotated[
        Path,
        typer.Argument(help="The same scenario, seed and replications run with --approve-all."),
    ],
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """The minority-majority gap in exits to work attributable to overruling: a run against
    the same seed with every placement proposal approved."""
    result = overruling_of_runs(run_dir, approved_dir)
    if json:
        sys.stdout.write(overruling_json(result) + "\n")
    else:
        print_overruling(result, out_console)
