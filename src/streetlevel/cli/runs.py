"""The commands of a run: ``run``, ``summary`` and ``overruling`` (a run against its
counterfactual with every placement proposal approved)."""

from __future__ import annotations

import json as jsonlib
import os
import shlex
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from streetlevel.analysis.overruling import counterfactual, overruling_of_runs
from streetlevel.analysis.overruling_report import overruling_json, print_overruling
from streetlevel.cli.console import err_console, out_console, weekly
from streetlevel.constants import DEFAULT_REPLICATIONS, DEFAULT_SEED
from streetlevel.output.files import write_text_atomic
from streetlevel.output.run import MANIFEST, RunResult, plan_batches, run_scenario
from streetlevel.output.summary import print_summary, summarize
from streetlevel.scenario.loading import (
    load_scenario,
    parse_assignment,
    with_overrides,
    with_values,
)
from streetlevel.scenario.schema import Scenario

__all__ = [
    "default_out",
    "interrupted_message",
    "overruling",
    "report",
    "run",
    "run_with_progress",
    "summary",
]


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
            # The examples are in the command's help, whose lines are as wide as the
            # terminal: this column is a fifth of it, and cut a key path mid-word.
            help="Change a parameter: KEY=VALUE, repeatable (examples above).",
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
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Also write OUT/report.html: the summary and its figures in one "
            "self-contained file (as `streetlevel report` does).",
        ),
    ] = False,
) -> None:
    """Simulate a scenario and print the summary: each indicator's mean, its spread of
    replications and the 95 % CI of its mean.

    Change parameters with --set KEY=VALUE (repeatable; [*]: every entry of a list):

      --set decision.caseworker.intercept=-3
      --set 'municipalities[*].management_strictness=0.5'
    """
    loaded = load_scenario(scenario)
    if set_:
        loaded = with_values(loaded, dict(parse_assignment(a) for a in set_), "--set")
    if approve_all:
        loaded = counterfactual(loaded)
    if years is not None:
        loaded = with_overrides(loaded, reporting_years=years)
    out = out or default_out(loaded, seed)
    try:
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
    except KeyboardInterrupt:
        # Typer turns the interrupt into exit status 130; the user is told first what was
        # kept and how to go on, in the words of the command they typed.
        again = ["streetlevel", "run", scenario, "--replications", str(replications)]
        again += ["--seed", str(seed), "--out", str(out)]
        again += [] if years is None else ["--years", str(years)]
        again += [] if batch_size is None else ["--batch-size", str(batch_size)]
        again += [arg for a in set_ or [] for arg in ("--set", a)]
        again += ["--approve-all"] if approve_all else []
        err_console.print(
            interrupted_message(out, replications, shlex.join([*again, "--resume"])),
            highlight=False,
            markup=False,
        )
        raise
    summary = summarize(result.out)
    if json:
        sys.stdout.write(summary.to_json() + "\n")
    else:
        print_summary(summary, out_console)
    if report:
        from streetlevel.analysis.run_report import write_run_report

        err_console.print(f"report: {write_run_report(result.out)}", highlight=False, markup=False)


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `run`.")],
    out: Annotated[
        Path | None, typer.Option(help="The HTML file (default: RUN_DIR/report.html).")
    ] = None,
) -> None:
    """Write a finished run's report: one self-contained HTML file with the summary and its
    figures (rates over the years, by category, by municipality), to mail or archive."""
    from streetlevel.analysis.run_report import write_run_report

    out_console.print(f"report: {write_run_report(run_dir, out)}", highlight=False, markup=False)


def default_out(loaded: Scenario, seed: int, prefix: str = "") -> Path:
    """The run directory a run writes when not told: runs/<prefix><name>-seed<seed>-<time>."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{prefix}{loaded.scenario.name}-seed{seed}-{stamp}"


def interrupted_message(out: Path, replications: int, command: str) -> str:
    """What an interrupted run says: the batches it kept in ``out`` and ``command``, which
    goes on from them.

    Only a manifest this process wrote counts (an older run's, left in ``out`` when the
    interrupt came before the new one was written, is not this run's).
    """
    try:
        manifest = jsonlib.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("pid") != os.getpid() or manifest.get("status") != "interrupted":
        return "interrupted before any replication was simulated; nothing was kept"
    done = len(manifest.get("parts", {}))
    total = len(plan_batches(replications, manifest["batch_size"]))
    return (
        f"interrupted: {done} of {total} batches of replications finished and are kept in "
        f"{out}; continue with:\n  {command}"
    )


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
    out = out or default_out(loaded, seed, prefix)
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


class By(StrEnum):
    """What ``summary --by`` tables a run by."""

    municipality = "municipality"


def summary(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `run`.")],
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Also write the summary as CSV to this file (- for standard output): one "
            "row per indicator, name, label, unit, mean, spread_low, spread_high (the spread "
            "of replications), mean_ci_low, mean_ci_high (the 95 % CI of the mean), as "
            "shown, definition.",
        ),
    ] = None,
    by: Annotated[
        By | None,
        typer.Option(
            help="municipality: one row per municipality instead (its recipients, sanctioned, "
            "sanction rate with its spread and CI, repeat share, exits); --csv writes that.",
        ),
    ] = None,
) -> None:
    """Print the summary of a finished run again (the table `run` ends with), or its figures
    by municipality (--by municipality)."""
    if by is not None:
        from streetlevel.output.municipality_summary import (
            municipality_summary,
            print_municipality_summary,
        )

        table = municipality_summary(run_dir)
        if csv is not None:
            text = table.to_csv(index=False)
            if str(csv) == "-":
                sys.stdout.write(text)
                return
            write_text_atomic(text, csv)
        if json:
            sys.stdout.write(table.to_json(orient="records", force_ascii=False) + "\n")
        else:
            print_municipality_summary(table, out_console)
        return
    result = summarize(run_dir)
    if csv is not None:
        text = result.to_frame().to_csv(index=False)
        if str(csv) == "-":
            sys.stdout.write(text)
            return
        write_text_atomic(text, csv)
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
