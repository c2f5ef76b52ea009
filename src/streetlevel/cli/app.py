"""The command line: a thin layer over the library (``streetlevel --help``).

Each command parses its arguments, calls one library function and prints the result with the
result's own renderer (``print_summary``, ``print_benchmark``, ``print_validation``, ...), in
the labels and units of the catalogue of indicators. Errors a user can fix are printed as one
clear message and exit with status 2; everything else about a command is in the library
function it calls.
"""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from streetlevel.constants import (
    CALIBRATION_REPLICATIONS,
    DASHBOARD_HOST,
    DASHBOARD_PORT,
    DEFAULT_REPLICATIONS,
    DEFAULT_SEED,
    SURVEY_RESPONDENTS,
)
from streetlevel.errors import StreetlevelError
from streetlevel.output.run import RunResult, run_scenario
from streetlevel.output.summary import print_summary, summarize
from streetlevel.scenario.loading import (
    list_presets,
    load_scenario,
    parse_assignment,
    with_overrides,
    with_values,
)
from streetlevel.scenario.schema import Scenario
from streetlevel.scenario.show import show_scenario

__all__ = ["app", "main"]

app = typer.Typer(
    help="streetlevel: simulate street-level welfare bureaucracies (benefit sanctions, "
    "caseworker discretion) and analyse the results.",
    no_args_is_help=True,
    add_completion=False,
)
err_console = Console(stderr=True, soft_wrap=True)  # whole messages, one per line
# Piped output (files, CI logs) gets room for a whole summary row per line.
PIPE_WIDTH = 120
out_console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


def _version(value: bool) -> None:
    if value:
        from streetlevel.version import __version__

        out_console.print(f"streetlevel {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """streetlevel: simulate street-level welfare bureaucracies and analyse the results."""


@app.command()
def presets() -> None:
    """List the scenario presets shipped with streetlevel."""
    table = Table("preset", "description")
    for name in list_presets():
        table.add_row(name, load_scenario(name).scenario.description)
    out_console.print(table)


@app.command()
def show(
    scenario: Annotated[
        str, typer.Argument(help="A preset name (see `presets`) or a scenario file.")
    ],
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Print only what differs from the scenario's base, as a file naming the base.",
        ),
    ] = False,
) -> None:
    """Print a scenario resolved as TOML (its bases merged in, every value written out), to
    copy and edit: `streetlevel show denmark-2011 > my.toml`."""
    sys.stdout.write(show_scenario(scenario, from_base=diff))


@app.command()
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
    json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Simulate a scenario and print the summary with 95 % intervals across replications."""
    loaded = load_scenario(scenario)
    if set_:
        loaded = with_values(loaded, dict(parse_assignment(a) for a in set_), "--set")
    if years is not None:
        loaded = with_overrides(loaded, reporting_years=years)
    result = _run_with_progress(
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


def _run_with_progress(
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
            on_progress=lambda done, total: _weekly(progress, task, done / total),
        )
    return result


@app.command()
def validate(
    target: Annotated[
        str,
        typer.Argument(help="A preset, a scenario file, or a finished run directory."),
    ] = "denmark-2011",
    replications: Annotated[int, typer.Option(min=1, help="Replications.")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="Root seed of the run.")] = DEFAULT_SEED,
    out: Annotated[
        Path | None,
        typer.Option(help="Run directory (default: runs/validate-<scenario>-<time>)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace results already in --out.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Every published figure next to the simulated mean and 95 % interval, met or not.

    Runs the scenario (or reads a finished run directory), re-estimates the sanction effect
    from the events, and writes validation.json, validation.png and validation.html into the
    run directory.
    """
    from streetlevel.validation.validate import (
        print_validation,
        validate_run,
        write_validation_report,
    )

    path = Path(target)
    if path.is_dir() and (path / "manifest.json").exists():
        run_dir = path
    else:
        result = _run_with_progress(
            load_scenario(target), seed, replications, out, overwrite, prefix="validate-"
        )
        run_dir = result.out
    result_v = validate_run(run_dir)
    files = write_validation_report(result_v, run_dir)
    if json:
        sys.stdout.write(result_v.to_json() + "\n")
    else:
        print_validation(result_v, out_console, files[2])


@app.command()
def calibrate(
    scenario: Annotated[str, typer.Argument(help="A preset name or a scenario TOML file.")],
    budget: Annotated[
        int, typer.Option(min=4, help="Simulations the search may run (about 4 s each).")
    ] = 200,
    workers: Annotated[int, typer.Option(min=1, help="Processes for the simulations.")] = 2,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a Dask scheduler to run the simulations on instead."),
    ] = None,
    replications: Annotated[
        int, typer.Option(min=1, help="Replications per simulated moment.")
    ] = CALIBRATION_REPLICATIONS,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the common random numbers.")
    ] = DEFAULT_SEED,
    setup: Annotated[
        str | None,
        typer.Option(
            help="Calibration set-up: a shipped one's name (denmark) or a file (default: the "
            "one that serves the scenario's country)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Calibrated scenario file (default: <scenario>-calibrated.toml)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the estimates as JSON.")] = False,
) -> None:
    """Fit the parameters the studies do not give to the published figures.

    Danish scenarios: simulated method of moments with common random numbers, over the
    parameters of a calibration set-up (base absence rate, heterogeneity, the caseworker's
    intercept, Municipality B's norm, exit hazards). Scenarios with job placements
    (norway-2010): indirect inference on DK's survey regression. Writes a scenario file whose
    parameters record the calibration that set them.
    """
    import json as json_module

    from streetlevel.validation.calibration import calibrate_scenario
    from streetlevel.validation.calibration_report import (
        calibration_json,
        print_calibration,
        write_calibrated,
    )

    loaded = load_scenario(scenario)
    command = "streetlevel " + " ".join(sys.argv[1:])
    target = out or Path(f"{loaded.scenario.name}-calibrated.toml")
    with Progress(
        TextColumn(f"[bold]calibrate {escape(loaded.scenario.name)}[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} simulations, loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        # The number of simulations is known once the library has chosen the method.
        task = progress.add_task("calibrate", total=None, loss="-")
        result = calibrate_scenario(
            loaded,
            setup=setup,
            seed=seed,
            replications=replications,
            budget=budget,
            workers=workers,
            scheduler=scheduler,
            command=command,
            on_evaluation=lambda done, total, loss: progress.update(
                task, completed=done, total=total, loss=f"{loss:.2f}"
            ),
        )
    write_calibrated(result, target)
    if json:
        sys.stdout.write(json_module.dumps(calibration_json(result, target), default=str) + "\n")
    else:
        print_calibration(result, out_console, target)


@app.command()
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


@app.command()
def indicators() -> None:
    """The catalogue of indicators: each one's name, label, unit and definition."""
    from streetlevel.output.catalogue import SCOPES, catalogue_table

    for scope in SCOPES:
        out_console.print(catalogue_table(scope))


class By(StrEnum):
    """What municipalities are compared within (``--by``)."""

    category = "category"


@app.command()
def benchmark(
    source: Annotated[
        Path, typer.Argument(help="A run directory, or a .csv / .parquet decision data file.")
    ],
    year: Annotated[
        int | None, typer.Option(help="Year to rank and risk-adjust (default: the latest).")
    ] = None,
    by: Annotated[
        By | None, typer.Option(help="Compare within each category (indicators and funnel).")
    ] = None,
    replication: Annotated[
        int | None,
        typer.Option(min=0, help="Replication of a simulated run to judge (default: the first)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default: RUN_DIR/benchmark or FILE-benchmark)."),
    ] = None,
) -> None:
    """Compare municipalities as a national database does, then fairly: risk-adjusted ratios
    and funnel-plot control limits (writes CSV tables, funnel.png and report.html)."""
    from streetlevel.analysis import benchmark as bench
    from streetlevel.analysis.benchmark_report import print_benchmark, write_benchmark

    result = bench.benchmark(
        source, year=year, by_category=by is By.category, replication=replication
    )
    target = bench.default_out(source) if out is None else out
    write_benchmark(result, target)
    print_benchmark(result, target, out_console)


# -- experiments (docs/experiments.md) -------------------------------------------------------


@app.command()
def sweep(
    experiment: Annotated[Path, typer.Argument(help="An experiment TOML file.")],
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
            on_progress=lambda done, total: _swept(progress, task, done, total),
        )
    out_console.print(
        f"{result.points} points: {result.ran} run now, {result.resumed} already done "
        f"({result.wall_seconds:.1f} s); results in {result.out}",
        highlight=False,
    )


@app.command()
def query(
    directory: Annotated[Path, typer.Argument(help="An experiment directory (from `sweep`).")],
    sql: Annotated[str, typer.Argument(help="SQL over the views `results` and `design`.")],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """Query an experiment's results with DuckDB SQL, also while its sweep is running."""
    from streetlevel.experiments.store import print_query, query

    frame = query(directory, sql)
    if csv:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        print_query(frame, out_console)


@app.command()
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
    """Outcomes per lever combination, mean and 95 % interval across replications."""
    from streetlevel.experiments.compare import print_comparison, write_comparison

    table, paths = write_comparison(directory, out, outcome)
    print_comparison(table, outcome, paths, out_console)


@app.command()
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
    """Sobol or Morris sensitivity indices per outcome (needs a sobol or morris design)."""
    from streetlevel.experiments.sensitivity import print_sensitivity, write_sensitivity

    table, paths = write_sensitivity(directory, out, outcome)
    print_sensitivity(table, paths, out_console)


@app.command()
def survey(
    scenario: Annotated[
        str, typer.Argument(help="A preset or scenario file with [attitudes] and [placements].")
    ] = "norway-2010",
    n: Annotated[
        int, typer.Option("--n", min=1, help="Respondents per survey.")
    ] = SURVEY_RESPONDENTS,
    replications: Annotated[
        int, typer.Option(min=1, help="Repeated surveys (shows each figure's spread).")
    ] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Root seed.")] = DEFAULT_SEED,
    data: Annotated[
        Path | None, typer.Option(help="Fit DK's regression to your own survey CSV instead.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """DK's caseworker survey: logistic regression and bivariate tables beside DK's ([DK] 2011)."""
    from streetlevel.survey import simulate as caseworker_survey
    from streetlevel.survey.data import read_survey_csv
    from streetlevel.survey.report import print_survey

    if data is not None:
        result = caseworker_survey.survey_of_data(read_survey_csv(data), str(data))
    else:
        result = caseworker_survey.run_survey(
            load_scenario(scenario), n=n, replications=replications, seed=seed
        )
    if json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print_survey(result, out_console)


@app.command()
def dashboard(
    directories: Annotated[
        list[Path] | None, typer.Argument(help="Run directories and sweep directories to show.")
    ] = None,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port on localhost.")
    ] = DASHBOARD_PORT,
    host: Annotated[
        str, typer.Option(help="Address to listen on (default: this machine only).")
    ] = DASHBOARD_HOST,
    work_dir: Annotated[
        Path, typer.Option(help="Where runs started from the page are written.")
    ] = Path("dashboard-runs"),
) -> None:
    """Serve the web dashboard (municipalities, policies, run one) until Ctrl-C."""
    from streetlevel.dashboard import require_extra, serve

    require_extra()
    out_console.print(f"dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(list(directories or []), port=port, host=host, work_dir=work_dir)


_signalled: list[int] = []
"""Signals received (SIGINT, SIGTERM); a run checks it every simulated week."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends a run like Ctrl-C: partial tables are removed, the manifest says so.
    # The signal is also remembered: Python reports an exception raised while a __del__ or
    # a finaliser runs as "ignored" and carries on, so a KeyboardInterrupt that lands there
    # would be lost; the run's weekly check raises it again.
    _signalled.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def _swept(progress: Progress, task: TaskID, done: int, total: int) -> None:
    """After each finished point: raise a signal that was lost, move the progress bar."""
    if _signalled:
        raise KeyboardInterrupt(f"signal {_signalled[0]}")
    progress.update(task, completed=done, total=total)


def _weekly(progress: Progress, task: TaskID, completed: float) -> None:
    """After each simulated week: raise a signal that was lost, move the progress bar."""
    if _signalled:
        raise KeyboardInterrupt(f"signal {_signalled[0]}")
    progress.update(task, completed=completed)


def main() -> None:
    """Entry point: run the app, turning user errors into one-line messages (exit status 2).

    Usage errors and Ctrl-C are Typer's own (exit 2, and "Aborted!" with exit 1); a run
    interrupted that way has already removed its partial tables and marked its manifest.
    """
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        app()
    except StreetlevelError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        raise SystemExit(2) from None
