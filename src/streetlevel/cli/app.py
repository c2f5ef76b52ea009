"""The command line's app: the commands registered in the order ``--help`` lists them, and
the entry point. The commands live with their kind: runs (:mod:`~.runs`), judging a scenario
or data (:mod:`~.analysis`), experiments (:mod:`~.experiments`); the few that are a line or
two (``presets``, ``show``, ``indicators``, ``dashboard``) stay here.

Each command parses its arguments, calls one library function and prints the result with the
result's own renderer (``print_summary``, ``print_benchmark``, ``print_validation``, ...), in
the labels and units of the catalogue of indicators. Errors a user can fix are printed as one
clear message and exit with status 2; everything else about a command is in the library
function it calls.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from streetlevel.cli import analysis, experiments, runs
from streetlevel.cli.console import err_console, out_console, terminate
from streetlevel.constants import DASHBOARD_HOST, DASHBOARD_PORT
from streetlevel.errors import StreetlevelError
from streetlevel.scenario.loading import list_presets, load_scenario
from streetlevel.scenario.show import show_scenario

__all__ = ["app", "main"]

app = typer.Typer(
    help="streetlevel: simulate street-level welfare bureaucracies (benefit sanctions, "
    "caseworker discretion) and analyse the results.",
    no_args_is_help=True,
    add_completion=False,
)


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


# The commands in the order --help lists them; each lives with its kind.
app.command()(runs.run)
app.command()(analysis.validate)
app.command()(analysis.calibrate)
app.command()(runs.summary)
app.command()(runs.report)
app.command()(runs.overruling)


@app.command()
def indicators() -> None:
    """The catalogue of indicators: each one's name, label, unit and definition."""
    from streetlevel.output.catalogue import SCOPES, catalogue_table

    for scope in SCOPES:
        out_console.print(catalogue_table(scope))


app.command()(analysis.benchmark)
app.command()(analysis.funnel)
app.command()(analysis.explain)
app.command()(experiments.experiments)
app.command()(experiments.sweep)
app.command()(experiments.query)
app.command()(experiments.compare)
app.command()(experiments.sensitivity)
app.command()(analysis.survey)


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
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A name the server may be reached by besides its address and localhost "
            "(repeat for several): other names in a request's Host header are refused, so a "
            "web page cannot reach it by DNS rebinding.",
            rich_help_panel="Access",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="STREETLEVEL_DASHBOARD_TOKEN",
            help="The token requests must carry (default: made at start-up when --host is not "
            "a loopback address, none on this machine only). The address printed carries it.",
            rich_help_panel="Access",
            show_default=False,
        ),
    ] = None,
    running: Annotated[
        int,
        typer.Option(min=1, help="Runs from the page simulated at once.", rich_help_panel="Runs"),
    ] = 1,
    queued: Annotated[
        int,
        typer.Option(
            min=0,
            help="Runs from the page waiting besides those running; more are refused (429).",
            rich_help_panel="Runs",
        ),
    ] = 3,
    disk_budget: Annotated[
        float,
        typer.Option(
            min=0,
            help="GB the page's runs may take under --work-dir, counting those on disk and "
            "those queued; a run beyond is refused (507).",
            rich_help_panel="Runs",
        ),
    ] = 5.0,
    aggregated: Annotated[
        list[Path] | None,
        typer.Option(
            help="A file of aggregated counts (unit x stratum x year) to show as `benchmark` "
            "does; repeat the option for several. Read at start-up.",
            rich_help_panel="Files",
        ),
    ] = None,
    funnel: Annotated[
        list[Path] | None,
        typer.Option(
            help="A per-unit file (observed and expected counts) to show as `funnel` does; "
            "repeat the option for several. Needs --funnel-unit, --funnel-observed and "
            "--funnel-expected.",
            rich_help_panel="Files",
        ),
    ] = None,
    unit: Annotated[
        str, typer.Option(help="Aggregates: the unit's column.", rich_help_panel="Files")
    ] = "municipality",
    observed: Annotated[
        str,
        typer.Option(help="Aggregates: the observed count's column.", rich_help_panel="Files"),
    ] = "sanctioned",
    denominator: Annotated[
        str, typer.Option(help="Aggregates: the denominator's column.", rich_help_panel="Files")
    ] = "recipients",
    region: Annotated[
        str, typer.Option(help="Aggregates: the region's column.", rich_help_panel="Files")
    ] = "region",
    year_column: Annotated[
        str, typer.Option(help="Aggregates: the year's column.", rich_help_panel="Files")
    ] = "year",
    strata: Annotated[
        list[str] | None,
        typer.Option(
            help="Aggregates: a stratum column besides category, age_group, sex, education "
            "(repeat the option for several).",
            rich_help_panel="Files",
        ),
    ] = None,
    counts: Annotated[
        analysis.CountsKind,
        typer.Option(
            help="Aggregates: the observed count counts people or events.",
            rich_help_panel="Files",
        ),
    ] = analysis.CountsKind.people,
    per: Annotated[
        str,
        typer.Option(
            help="Aggregates: what the denominator counts (recipients or recipient_years).",
            rich_help_panel="Files",
        ),
    ] = "recipients",
    year: Annotated[
        int | None,
        typer.Option(
            help="Aggregates: the year to rank and risk-adjust (default: the latest).",
            rich_help_panel="Files",
        ),
    ] = None,
    funnel_unit: Annotated[
        str | None,
        typer.Option(help="Funnel files: the unit's column.", rich_help_panel="Files"),
    ] = None,
    funnel_observed: Annotated[
        str | None,
        typer.Option(help="Funnel files: the observed count's column.", rich_help_panel="Files"),
    ] = None,
    funnel_expected: Annotated[
        str | None,
        typer.Option(help="Funnel files: the expected count's column.", rich_help_panel="Files"),
    ] = None,
    funnel_denominator: Annotated[
        str | None,
        typer.Option(
            help="Funnel files: the denominator's column (proportions with binomial limits; "
            "without it, ratios with exact Poisson limits).",
            rich_help_panel="Files",
        ),
    ] = None,
    overdispersion: Annotated[
        analysis.Adjust | None,
        typer.Option(
            help="Funnel files: how over-dispersion is allowed for (default: chosen from the "
            "data).",
            rich_help_panel="Files",
        ),
    ] = None,
    method: Annotated[
        analysis.RatioMethod | None,
        typer.Option(
            help="Funnel files without a denominator: shmi or cqc.", rich_help_panel="Files"
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(
            help="CSV delimiter of the files (default: recognised from each header).",
            rich_help_panel="Files",
        ),
    ] = None,
) -> None:
    """Serve the web dashboard (municipalities, policies, run one, files) until Ctrl-C. Files
    given with --aggregated and --funnel are read and checked first: a bad one stops it."""
    from streetlevel.analysis.aggregate import Columns
    from streetlevel.dashboard import require_extra, serve
    from streetlevel.dashboard.access import access_for, urls
    from streetlevel.dashboard.files import AggregatedOptions, FunnelOptions, load_files
    from streetlevel.dashboard.runs import Limits

    require_extra()
    columns = Columns(unit, observed, denominator, region, year_column, tuple(strata or ()))
    funnel_options = None
    if funnel_unit is not None and funnel_observed is not None and funnel_expected is not None:
        funnel_options = FunnelOptions(
            funnel_unit,
            funnel_observed,
            funnel_expected,
            funnel_denominator,
            method=None if method is None else method.value,
            overdispersion=None if overdispersion is None else overdispersion.value,
            delimiter=delimiter,
        )
    # Before the server starts: a bad file is the reader's message and exit status 2.
    files = load_files(
        aggregated or [],
        funnel or [],
        aggregated_options=AggregatedOptions(columns, counts.value, per, year, delimiter),
        funnel_options=funnel_options,
    )
    limits = Limits(running=running, queued=queued, disk_budget=int(disk_budget * 1e9))
    access = access_for(host, port, allow_host or [], token)
    for url in urls(access, host):
        out_console.print(f"dashboard on {url}", highlight=False, soft_wrap=True)
    out_console.print("(Ctrl-C to stop)")
    serve(
        list(directories or []),
        port=port,
        host=host,
        work_dir=work_dir,
        files=files,
        access=access,
        limits=limits,
    )


def main() -> None:
    """Entry point: run the app, turning user errors into one-line messages (exit status 2).

    Usage errors are Typer's own (exit 2); Ctrl-C ends a command with exit status 130, and
    ``run`` first says which batches it kept and the command that goes on with ``--resume``
    (it has already removed its partial tables and marked its manifest).
    """
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        app()
    except StreetlevelError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        raise SystemExit(2) from None
