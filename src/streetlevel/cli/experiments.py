"""The commands of experiments (docs/experiments.md): ``experiments``, ``sweep``, ``query``,
``compare`` and ``sensitivity``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from streetlevel.cli.console import err_console, out_console, swept
from streetlevel.errors import StreetlevelError

__all__ = ["compare", "experiments", "query", "sensitivity", "sweep"]


def experiments(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A shipped experiment to print (to copy and edit).", show_default=False
        ),
    ] = None,
) -> None:
    """List the experiments shipped with streetlevel, or print one to copy and edit:
    `streetlevel experiments route-norm-pressure > my-experiment.toml`."""
    from rich.table import Table

    from streetlevel.experiments.spec import example_path, load_experiment, shipped_experiments

    if name is not None:
        sys.stdout.write(example_path(name).read_text(encoding="utf-8"))
        return
    table = Table("experiment", "description")
    for shipped, path in shipped_experiments().items():
        table.add_row(shipped, load_experiment(path).spec.experiment.description)
    out_console.print(table)


def sweep(
    experiment: Annotated[
        Path,
        typer.Argument(
            help="An experiment TOML file, or the name of one shipped with streetlevel (see "
            "`streetlevel experiments`)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Experiment directory (default: runs/<name>); an existing one resumes."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes of a local Dask cluster (default: one per core)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running Dask scheduler (tcp://HOST:8786) to use instead."),
    ] = None,
) -> None:
    """Run an experiment's points on Dask, storing each point as it finishes; on an existing
    directory, run only the points still missing."""
    from streetlevel.experiments import load_experiment, run_sweep

    if workers is not None and scheduler is not None:
        raise StreetlevelError("--workers, --scheduler: give one (a scheduler has its workers)")
    loaded = load_experiment(experiment)
    target = Path("runs") / loaded.spec.experiment.name if out is None else out
    with Progress(
        TextColumn(f"[bold]{loaded.spec.experiment.name}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task("sweep", total=None)
        result = run_sweep(
            loaded,
            target,
            workers=workers,
            scheduler=scheduler,
            on_progress=lambda done, total: swept(progress, task, done, total),
        )
    out_console.print(
        f"{result.points} points: {result.ran} run now, {result.resumed} already done "
        f"({result.wall_seconds:.1f} s); results in {result.out}",
        highlight=False,
    )


def query(
    directory: Annotated[Path, typer.Argument(help="An experiment directory (from `sweep`).")],
    sql: Annotated[str, typer.Argument(help="SQL over the views `results` and `design`.")],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """Query an experiment's results with DuckDB SQL, also while its sweep is running; the
    directory may have been moved or copied."""
    from streetlevel.experiments.store import CATALOG, print_query, query, update_catalog

    frame = query(directory, sql)
    if update_catalog(directory):
        err_console.print(
            f"{directory / CATALOG}: rewritten with paths relative to {directory} (an earlier "
            "streetlevel named the files by absolute paths, which a move breaks)",
            highlight=False,
            markup=False,
        )
    if csv:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        print_query(frame, out_console)


def compare(
    directory: Annotated[Path, typer.Argument(help="An experiment directory (from `sweep`).")],
    outcome: Annotated[
        list[str] | None,
        typer.Option(help="Outcome to show (repeatable; default: sanction and unknown exits)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where compare.csv/.png/.html go (default: DIRECTORY).")
    ] = None,
) -> None:
    """Outcomes per lever combination: mean and spread of replications (2.5–97.5 %)."""
    from streetlevel.experiments.compare import print_comparison, write_comparison

    table, paths = write_comparison(directory, out, outcome)
    print_comparison(table, outcome, paths, out_console)


def sensitivity(
    directory: Annotated[Path, typer.Argument(help="An experiment directory (from `sweep`).")],
    outcome: Annotated[
        list[str] | None, typer.Option(help="Outcome to analyse (repeatable; default: all).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Where sensitivity.csv/.png/.html go (default: DIRECTORY)."),
    ] = None,
) -> None:
    """Sobol or Morris sensitivity indices per outcome (needs a sobol or morris design); a
    warning says when the design is too small for them, and how many samples would do."""
    from rich.markup import escape

    from streetlevel.experiments.sensitivity import (
        design_warnings,
        print_sensitivity,
        write_sensitivity,
    )
    from streetlevel.experiments.store import read_spec

    table, paths = write_sensitivity(directory, out, outcome)
    print_sensitivity(table, paths, out_console)
    for warning in design_warnings(table, read_spec(directory).design.samples or 0):
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
