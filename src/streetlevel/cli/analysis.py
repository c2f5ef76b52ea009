"""The commands that judge a scenario or data: ``validate``, ``calibrate``, ``benchmark`` and
``survey``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from streetlevel.cli.console import err_console, out_console
from streetlevel.cli.runs import run_with_progress
from streetlevel.constants import CALIBRATION_REPLICATIONS, DEFAULT_SEED, SURVEY_RESPONDENTS
from streetlevel.scenario.loading import load_scenario

__all__ = ["By", "benchmark", "calibrate", "survey", "validate"]


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
        result = run_with_progress(
            load_scenario(target), seed, replications, out, overwrite, prefix="validate-"
        )
        run_dir = result.out
    result_v = validate_run(run_dir)
    files = write_validation_report(result_v, run_dir)
    if json:
        sys.stdout.write(result_v.to_json() + "\n")
    else:
        print_validation(result_v, out_console, files[2])


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


class By(StrEnum):
    """What municipalities are compared within (``--by``)."""

    category = "category"


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
