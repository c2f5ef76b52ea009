"""The commands that judge a scenario or data: ``validate``, ``calibrate``, ``benchmark``,
``explain`` and ``survey``."""

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
from streetlevel.constants import (
    CALIBRATION_REPLICATIONS,
    DEFAULT_SEED,
    DRAW_REPLICATIONS,
    PARAMETER_DRAWS,
    SURVEY_RESPONDENTS,
)
from streetlevel.scenario.loading import load_scenario
from streetlevel.validation.search import least_budget, moving_budget

DANISH_PARAMETERS = 7
"""Parameters of the shipped Danish calibration set-up (``data/calibration-denmark.toml``),
named in ``calibrate --help`` without reading the set-up at start-up; a test checks it."""

__all__ = [
    "Adjust",
    "By",
    "CountsKind",
    "InputKind",
    "RatioMethod",
    "benchmark",
    "calibrate",
    "explain",
    "funnel",
    "survey",
    "validate",
]


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
    parameter_draws: Annotated[
        int,
        typer.Option(
            min=0,
            help="Parameter sets drawn from the calibrated parameters' uncertainty, "
            f"{DRAW_REPLICATIONS} replications each (0: leave it out, as the output says).",
        ),
    ] = PARAMETER_DRAWS,
    json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Every published figure next to the simulated one, by role: inputs (shown), fitted
    moments, derived figures and checks, each met or not.

    Runs the scenario (or reads a finished run directory), compares each figure with the year
    it describes, propagates the calibrated parameters' uncertainty by parameter draws,
    re-estimates the sanction effect from the events, and writes validation.json,
    validation.png and validation.html into the run directory.
    """
    from streetlevel.validation.validate import validate_run
    from streetlevel.validation.validation_report import print_validation, write_validation_report

    path = Path(target)
    if path.is_dir() and (path / "manifest.json").exists():
        run_dir = path
    else:
        result = run_with_progress(
            load_scenario(target), seed, replications, out, overwrite, prefix="validate-"
        )
        run_dir = result.out
    if parameter_draws:
        err_console.print(
            f"drawing {parameter_draws} parameter sets ({DRAW_REPLICATIONS} replications each)",
            highlight=False,
        )
    result_v = validate_run(run_dir, parameter_draws=parameter_draws)
    files = write_validation_report(result_v, run_dir)
    if json:
        sys.stdout.write(result_v.to_json() + "\n")
    else:
        print_validation(result_v, out_console, files[2])


def calibrate(
    scenario: Annotated[str, typer.Argument(help="A preset name or a scenario TOML file.")],
    budget: Annotated[
        int,
        typer.Option(
            min=least_budget(1),
            help="Simulations the search may run (about 4 s each): at least 6 x (parameters "
            f"+ 1), {least_budget(DANISH_PARAMETERS)} for the Danish set-up's "
            f"{DANISH_PARAMETERS} parameters, refused before any simulation; the search moves "
            f"from its start only from {moving_budget(DANISH_PARAMETERS)} on.",
        ),
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


class SurveyDesign(StrEnum):
    """How the caseworker survey is drawn (``survey --design``)."""

    survey = "survey"
    engine = "engine"
    funnel = "funnel"
    vignette = "vignette"


class By(StrEnum):
    """What municipalities are compared within (``--by``)."""

    category = "category"


class InputKind(StrEnum):
    """What a benchmark's source holds (``--input``)."""

    auto = "auto"
    microdata = "microdata"
    aggregated = "aggregated"


class CountsKind(StrEnum):
    """What an aggregated file's observed count counts (``--counts``)."""

    people = "people"
    events = "events"


class Adjust(StrEnum):
    """How over-dispersion is allowed for (``--overdispersion``)."""

    none = "none"
    multiplicative = "multiplicative"
    additive = "additive"


class RatioMethod(StrEnum):
    """How over-dispersion of ratios is estimated (``--method``)."""

    shmi = "shmi"
    cqc = "cqc"


def benchmark(
    source: Annotated[
        Path,
        typer.Argument(
            help="A run directory, or a .csv / .parquet file: client-years (the decision "
            "schema) or aggregated counts (unit x stratum x year)."
        ),
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
        typer.Option(
            help="Output directory (default: RUN_DIR/benchmark, or NAME-benchmark in the "
            "working directory for a file NAME.csv)."
        ),
    ] = None,
    input: Annotated[
        InputKind,
        typer.Option(
            help="What the source holds (default: told by a file's columns; a run "
            "directory is client-years unless --indicator is given)."
        ),
    ] = InputKind.auto,
    indicator: Annotated[
        str | None,
        typer.Option(
            help="A run's municipality-year indicator to benchmark as aggregates: "
            "sanction_rate, sanctions, repeat_share, timeliness, activation_degree, "
            "exit_work_rate, exit_other_rate, exit_unknown_rate, long_term_5y_share, "
            "long_term_10y_share."
        ),
    ] = None,
    unit: Annotated[str, typer.Option(help="Aggregates: the unit's column.")] = "municipality",
    observed: Annotated[
        str, typer.Option(help="Aggregates: the observed count's column.")
    ] = "sanctioned",
    denominator: Annotated[
        str, typer.Option(help="Aggregates: the denominator's column.")
    ] = "recipients",
    region: Annotated[str, typer.Option(help="Aggregates: the region's column.")] = "region",
    year_column: Annotated[str, typer.Option(help="Aggregates: the year's column.")] = "year",
    strata: Annotated[
        list[str] | None,
        typer.Option(
            help="Aggregates: a stratum column besides category, age_group, sex, "
            "education (repeat the option for several)."
        ),
    ] = None,
    counts: Annotated[
        CountsKind,
        typer.Option(
            help="Aggregates: the observed count counts people (a proportion of the "
            "denominator) or events (a Poisson rate per unit of the denominator)."
        ),
    ] = CountsKind.people,
    per: Annotated[
        str,
        typer.Option(
            help="Aggregates: what the denominator counts: recipients (people, "
            "whole numbers) or recipient_years (full-year recipients)."
        ),
    ] = "recipients",
    delimiter: Annotated[
        str | None,
        typer.Option(help="CSV delimiter (default: recognised from the header: , ; or tab)."),
    ] = None,
) -> None:
    """Compare municipalities as a national database does, then fairly: risk-adjusted ratios
    and funnel-plot control limits (writes CSV tables, funnel.png and report.html). Reads
    client-years (risk model over the clients) or aggregated counts (indirect standardisation
    over the file's strata)."""
    from streetlevel.analysis import benchmark as bench
    from streetlevel.analysis.aggregate import Columns
    from streetlevel.analysis.benchmark_report import print_benchmark, write_benchmark
    from streetlevel.analysis.standardise import benchmark_source

    columns = Columns(unit, observed, denominator, region, year_column, tuple(strata or ()))
    result = benchmark_source(
        source,
        input=input.value,
        indicator=indicator,
        year=year,
        by_category=by is By.category,
        replication=replication,
        columns=columns,
        counts=counts.value,
        denominator=per,
        delimiter=delimiter,
    )
    target = bench.default_out(source) if out is None else out
    write_benchmark(result, target)
    print_benchmark(result, target, out_console)


def funnel(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .csv or .parquet file, a row per unit (or "
            "per record: rows of a unit are summed)."
        ),
    ],
    unit: Annotated[str, typer.Option(help="The unit's column.")],
    observed: Annotated[str, typer.Option(help="The observed count's column.")],
    expected: Annotated[str, typer.Option(help="The expected count's column.")],
    denominator: Annotated[
        str | None,
        typer.Option(
            help="The denominator's column: proportions with binomial limits "
            "(without it: ratios with exact Poisson limits)."
        ),
    ] = None,
    overdispersion: Annotated[
        Adjust | None,
        typer.Option(
            help="How over-dispersion is allowed for (default: additive when the "
            "units are over-dispersed, else none)."
        ),
    ] = None,
    method: Annotated[
        RatioMethod | None,
        typer.Option(
            help="Ratios: how over-dispersion is estimated: shmi (log scale, "
            "truncated; FunnelPlotR's default) or cqc (Spiegelhalter's square "
            "root, winsorised)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write funnel.csv, funnel.png and report.html here.")
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(help="CSV delimiter (default: recognised from the header: , ; or tab)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Funnel plot of any per-unit observed and expected counts: which units are further from
    the expected than chance (and the spread between units) allows."""
    from streetlevel.analysis.funnel_report import print_funnel, read_units, write_funnel
    from streetlevel.analysis.outliers import funnel as judge

    units = read_units(file, unit, observed, expected, denominator, delimiter=delimiter)
    result = judge(
        units["unit"].to_numpy(),
        units["observed"].to_numpy(),
        units["expected"].to_numpy(),
        units["denominator"].to_numpy() if denominator else None,
        method=None if method is None else method.value,
        overdispersion=None if overdispersion is None else overdispersion.value,
    )
    if out is not None:
        write_funnel(result, out, str(file))
    if json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print_funnel(result, out_console, out)


def explain(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    year: Annotated[
        int | None, typer.Option(help="One reporting year (default: all of them, pooled).")
    ] = None,
    route: Annotated[
        str | None,
        typer.Option(
            help="Only municipalities with this absence route: caseworker (CHM Figure 1) or "
            "benefit_office (Figure 2)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write explain.json, explain.png and explain_municipalities.csv here."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Why municipalities differ: the variance of municipal sanction rates decomposed into
    organisation, client mix, the caseworkers drawn and chance (Shapley shares of a weighted
    regression's R²), and the share that is stable across replications."""
    from streetlevel.analysis.explain import explain as decompose
    from streetlevel.analysis.explain_report import (
        explanation_json,
        print_explanation,
        write_explanation,
    )

    result = decompose(run_dir, year=year, route=route)
    if out is not None:
        write_explanation(result, out)
    if json:
        sys.stdout.write(explanation_json(result) + "\n")
    else:
        print_explanation(result, out_console, out)


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
    design: Annotated[
        SurveyDesign,
        typer.Option(
            help="survey: DK's design (fast path); engine: read from an engine run's events; "
            "funnel: DK's sampling funnel; vignette: every caseworker decides the same "
            "proposals, beside the survey and the true per-proposal effects."
        ),
    ] = SurveyDesign.survey,
    parameter_uncertainty: Annotated[
        bool,
        typer.Option(
            "--parameter-uncertainty/--no-parameter-uncertainty",
            help="Carry the uncertainty of DK's estimates into the intervals.",
        ),
    ] = True,
) -> None:
    """DK's caseworker survey: logistic regression and bivariate tables beside DK's ([DK] 2011)."""
    from json import dumps

    from streetlevel.survey import simulate as caseworker_survey
    from streetlevel.survey.data import read_survey_csv
    from streetlevel.survey.report import print_designs, print_funnel, print_survey

    if data is not None:
        result = caseworker_survey.survey_of_data(read_survey_csv(data), str(data))
    elif design is SurveyDesign.funnel:
        from streetlevel.survey.sampling import simulate_funnel

        funnel = simulate_funnel(load_scenario(scenario), seed=seed)
        if json:
            sys.stdout.write(dumps({"funnel": funnel.rows()}, indent=2) + "\n")
        else:
            print_funnel(funnel, out_console)
        return
    elif design is SurveyDesign.vignette:
        from streetlevel.survey.vignette import compare_designs

        rows = compare_designs(load_scenario(scenario), n=n, seed=seed)
        if json:
            sys.stdout.write(dumps({"designs": rows}, indent=2) + "\n")
        else:
            print_designs(rows, f"{scenario}, {n} caseworkers, seed {seed}", out_console)
        return
    else:
        from streetlevel.survey.events import engine_frame
        from streetlevel.survey.uncertainty import coefficient_draws, published_standard_errors

        chosen = load_scenario(scenario)
        sets = se = None
        if parameter_uncertainty and replications > 1:
            sets = coefficient_draws(chosen, replications, seed)
        elif parameter_uncertainty:
            se = published_standard_errors()
        result = caseworker_survey.run_survey(
            chosen,
            n=n,
            replications=replications,
            seed=seed,
            coefficient_sets=sets,
            parameter_se=se,
            sampler=engine_frame if design is SurveyDesign.engine else None,
            design=design.value,
        )
    if json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print_survey(result, out_console)
