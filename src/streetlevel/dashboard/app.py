"""The Dash app: four views (municipalities, policies, run one, files) over the directories
and files the dashboard was started with, and the callbacks that fill them. The figures and
tables come from :mod:`streetlevel.dashboard.data` and :mod:`streetlevel.dashboard.files`,
laid out by :mod:`streetlevel.dashboard.views` and :mod:`streetlevel.dashboard.file_views`;
what a request may ask is :mod:`streetlevel.dashboard.guard`'s. Dash serves its JavaScript from its
wheel (``serve_locally``), so the page works without internet access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import DependencyException
from flask import Response, request

from streetlevel.analysis.benchmark import ALL
from streetlevel.constants import DASHBOARD_HOST, DASHBOARD_PORT
from streetlevel.dashboard import file_views, views
from streetlevel.dashboard.access import Access, access_for, install
from streetlevel.dashboard.data import (
    RUN_LEVERS,
    check_run,
    classify,
    municipality_benchmark,
    municipality_funnel,
    policy_table,
)
from streetlevel.dashboard.files import ServedFile
from streetlevel.dashboard.guard import (
    MAX_BODY_BYTES,
    BadRequestError,
    Kind,
    RefusedError,
    checked_body,
    choice,
    count,
    item,
    number,
    optional,
    text,
)
from streetlevel.dashboard.runs import Runner
from streetlevel.errors import StreetlevelError

__all__ = ["create_app"]

REGION = "__region__"
"""The compare-with choice meaning "the municipality's region"."""
SHOWN_INDICATORS = (
    "national_sanction_rate",
    "repeat_share",
    "exit_work_rate",
    "exit_unknown_rate",
    "weeks_per_sanction",
)
"""The run view's result table (the run's whole summary is in its directory)."""
KINDS: dict[str, Kind] = {
    "tabs.value": text,
    "run-dir.value": optional(text),
    "municipality.value": optional(text),
    "compare-with.value": optional(text),
    "sweep-dir.value": optional(text),
    "outcome.value": optional(text),
    "policy-a.value": optional(text),
    "policy-b.value": optional(text),
    "run-start.n_clicks": optional(count),
    "run-preset.value": text,
    **{f"lever-{name}.value": text for name in RUN_LEVERS},
    # The number inputs send null for a value outside their min and max (or none at all).
    "run-scale.value": optional(number),
    "run-replications.value": optional(number),
    "run-poll.n_intervals": optional(count),
    "run-job.data": optional(text),
    # A file is named by its place in the server's list: a path is not even of the kind.
    "file.value": optional(count),
}
"""What each property a callback reads may hold in a request; anything else is refused (400)."""
CALLBACK_ROUTE = "_dash-update-component"


def _guarded(problem: Callable[[str], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn an exception in a callback into a message in the page (``problem(message)``
    gives the callback's outputs), never a stack trace."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any) -> Any:
            try:
                return fn(*args)
            except RefusedError:
                raise  # a forged or refused request: answered 4xx/5xx (see create_app)
            except StreetlevelError as err:
                return problem(str(err))
            except Exception as err:
                return problem(f"could not show this: {type(err).__name__}: {err}")

        inner.__name__ = fn.__name__
        return inner

    return wrap


def create_app(
    directories: list[Path | str],
    work_dir: Path | str,
    seed: int = 1,
    runner: Runner | None = None,
    files: Sequence[ServedFile] = (),
    access: Access | None = None,
) -> Dash:
    """The dashboard over ``directories`` (run and sweep directories) and ``files`` (read
    and judged at start-up: :func:`streetlevel.dashboard.files.load_files`); runs started
    from the page go under ``work_dir`` (through ``runner``, made here if not given: pass one
    to stop its runs when the server stops); who may talk to it is ``access``'s rule
    (default: this machine, without a token)."""
    files = list(files)
    sources = [classify(d) for d in directories]
    runs = [s for s in sources if s.kind == "run"]
    sweeps = [s for s in sources if s.kind == "sweep"]
    runner = runner if runner is not None else Runner(work_dir, seed)
    app = Dash(__name__, title="streetlevel dashboard", serve_locally=True)
    _refuse_forged(app)
    problems = [views.error(s.problem) for s in sources if s.kind == "error"]
    if not runs:
        problems.append(views.error("No run directory given: the municipalities view is empty."))
    if not sweeps:
        problems.append(views.error("No sweep directory given: the policies view is empty."))
    app.layout = html.Div(
        [
            html.H2("streetlevel dashboard"),
            html.Div(problems, id="problems"),
            dcc.Tabs(
                [
                    dcc.Tab(views.municipalities_view(runs), label="Municipalities", value="muni"),
                    dcc.Tab(views.policies_view(sweeps), label="Policies", value="policies"),
                    dcc.Tab(views.run_view(), label="Run one", value="run"),
                    dcc.Tab(file_views.files_view(files), label="Files", value="files"),
                ],
                id="tabs",
                value="muni",
            ),
        ],
        style=views.PAGE_STYLE,
    )
    # After the layout: the hashes are those of the page's inline scripts.
    install(app.server, access or access_for(DASHBOARD_HOST, DASHBOARD_PORT), app.csp_hashes())

    def run_dir(path: str | None) -> str:
        # Matched by its label, never joined or resolved: no path names anything else.
        if path is None:
            raise StreetlevelError("choose a run directory")
        offered = [s.label for s in runs] + [str(p) for p in runner.finished()]
        return choice(path, offered, "run directory")

    def sweep_dir(path: str | None) -> str:
        if path is None:
            raise StreetlevelError("choose a sweep directory")
        return choice(path, [s.label for s in sweeps], "sweep directory")

    @app.callback(
        Output("run-dir", "options"),
        Input("tabs", "value"),
    )
    def _run_dirs(_: str) -> Any:
        # Runs finished from the page join the directories the dashboard was started with.
        return [s.label for s in runs] + [str(p) for p in runner.finished()]

    # -- municipalities ----------------------------------------------------------------------

    @app.callback(
        Output("municipality", "options"),
        Output("municipality", "value"),
        Output("muni-error", "children"),
        Input("run-dir", "value"),
    )
    @_guarded(lambda m: ([], None, views.error(m)))
    def _municipalities(path: str | None) -> Any:
        overall, _ = municipality_benchmark(run_dir(path))
        names = sorted(overall.risk_adjusted["municipality"].unique())
        return names, names[0] if names else None, None

    @app.callback(
        Output("compare-with", "options"),
        Output("compare-with", "value"),
        Input("municipality", "value"),
        State("run-dir", "value"),
    )
    @_guarded(lambda m: ([], None))  # the municipality view shows the run's problem
    def _compare_options(name: str | None, path: str | None) -> Any:
        if name is None:
            return [], None
        # The run's own list, never the options as the client sends them.
        overall, _ = municipality_benchmark(run_dir(path))
        names = sorted(overall.risk_adjusted["municipality"].unique())
        choice(name, names, "municipality")
        others = [{"label": n, "value": n} for n in names if n != name]
        return [{"label": "its region", "value": REGION}, *others], REGION

    @app.callback(
        Output("rates-graph", "figure"),
        Output("muni-table", "children"),
        Output("ranking-title", "children"),
        Output("ranking-table", "children"),
        Output("funnel-img", "src"),
        Input("municipality", "value"),
        Input("compare-with", "value"),
        State("run-dir", "value"),
    )
    @_guarded(lambda m: (go.Figure(), views.error(m), "", None, ""))
    def _municipality(name: str | None, other: str | None, path: str | None) -> Any:
        if name is None:
            return go.Figure(), None, "", None, ""
        chosen = run_dir(path)
        overall, by_category = municipality_benchmark(chosen)
        table = by_category.indicators
        names = set(table["municipality"])
        choice(name, names, "municipality")
        if other is not None:
            choice(other, names | {REGION}, "municipality to compare with")
        mine = table[table["municipality"] == name]
        region = str(mine["region"].iloc[0])
        if other in (None, REGION):
            theirs, other_name = views.region_rates(table, region), f"region {region}"
        else:
            theirs, other_name = views.rates(table[table["municipality"] == other]), str(other)
        ranking = overall.ranking[
            (overall.ranking["region"] == region) & (overall.ranking["category"] == ALL)
        ]
        shown = ranking[["rank", "municipality", "recipients", "rate", "ratio", "adjusted_rank"]]
        return (
            views.rates_figure(views.rates(mine), name, theirs, other_name),
            views.table(views.rates(mine), "muni-figures"),
            f"Ranking in {region}, {overall.year} (by rate as published, and risk-adjusted)",
            views.table(shown.sort_values("rank"), "ranking", highlight=name),
            municipality_funnel(chosen, name),
        )

    # -- policies ------------------------------------------------------------------------------

    @app.callback(
        Output("outcome", "options"),
        Output("outcome", "value"),
        Output("policy-a", "options"),
        Output("policy-a", "value"),
        Output("policy-b", "options"),
        Output("policy-b", "value"),
        Output("policy-error", "children"),
        Input("sweep-dir", "value"),
    )
    @_guarded(lambda m: ([], None, [], None, [], None, views.error(m)))
    def _sweep(path: str | None) -> Any:
        table, _ = policy_table(sweep_dir(path))
        outcomes = list(dict.fromkeys(table["outcome"]))
        policies = list(dict.fromkeys(table["policy"]))
        second = policies[1] if len(policies) > 1 else policies[0]
        options = views.outcome_options(outcomes)
        return options, outcomes[0], policies, policies[0], policies, second, None

    @app.callback(
        Output("policy-graph", "figure"),
        Output("policy-compare", "children"),
        Input("outcome", "value"),
        Input("policy-a", "value"),
        Input("policy-b", "value"),
        State("sweep-dir", "value"),
    )
    @_guarded(lambda m: (go.Figure(), views.error(m)))
    def _policies(outcome: str | None, a: str | None, b: str | None, path: str | None) -> Any:
        if outcome is None:
            return go.Figure(), None
        table, _ = policy_table(sweep_dir(path))
        choice(outcome, set(table["outcome"]), "outcome")
        for policy in (a, b):
            if policy is not None:
                choice(policy, set(table["policy"]), "policy")
        fig = views.policy_figure(table[table["outcome"] == outcome], outcome)
        side = views.side_by_side(table, a, b)
        if side is None:
            return fig, None
        return fig, [html.P(f"A: {a}. B: {b}."), views.table(side, "policy-side")]

    # -- files ---------------------------------------------------------------------------------

    @app.callback(
        Output("file-view", "children"),
        Output("file-error", "children"),
        Input("file", "value"),
    )
    @_guarded(lambda m: (None, views.error(m)))
    def _file(index: int | None) -> Any:
        if index is None:
            return None, views.error(file_views.NO_FILE) if not files else None
        # The results were computed at start-up: no file is opened for a request.
        chosen = item(index, files, "file")
        if chosen.kind == "aggregated":
            return file_views.aggregated_view(chosen), None
        return file_views.funnel_view(chosen), None

    # -- run one -------------------------------------------------------------------------------

    @app.callback(
        Output("run-job", "data"),
        Output("run-poll", "disabled"),
        Output("run-status", "children", allow_duplicate=True),
        Input("run-start", "n_clicks"),
        State("run-preset", "value"),
        State("lever-route", "value"),
        State("lever-norm", "value"),
        State("lever-pressure", "value"),
        State("run-scale", "value"),
        State("run-replications", "value"),
        prevent_initial_call=True,
    )
    @_guarded(lambda m: (no_update, True, views.error(m)))
    def _start(
        clicks: int, preset: str, route: str, norm: str, pressure: str, scale: Any, reps: Any
    ) -> Any:
        if scale is None or reps is None:
            raise StreetlevelError("client scale and replications must be numbers in range")
        levers = {"route": route, "norm": norm, "pressure": pressure}
        try:
            # The form offers nothing else: anything else was forged, and starts no run.
            check_run(preset, levers, scale, reps)
        except StreetlevelError as err:
            raise BadRequestError(str(err)) from None
        # A full queue or disk budget is answered 429 or 507; the queue line says so first.
        job = runner.start(preset, levers, float(scale), int(reps))
        return job.id, False, f"queued: {job.out.name}"

    @app.callback(
        Output("run-progress", "value"),
        Output("run-status", "children"),
        Output("run-results", "children"),
        Output("run-poll", "disabled", allow_duplicate=True),
        Input("run-poll", "n_intervals"),
        State("run-job", "data"),
        prevent_initial_call=True,
    )
    @_guarded(lambda m: (no_update, views.error(m), None, True))
    def _poll(_: int, job_id: str | None) -> Any:
        job = runner.get(job_id) if job_id else None
        if job is None:
            return "0", "", None, True
        percent = str(round(100 * job.done))
        if job.status == "failed":
            return percent, views.error(f"the run failed: {job.message}"), None, True
        if job.status != "complete" or job.summary is None:
            return percent, f"{job.status}: {percent} % of {job.out.name}", None, False
        shown = [i for i in job.summary.indicators if i.name in SHOWN_INDICATORS]
        status = html.Span(
            f"complete: results in {job.out} (also in the municipalities view)", id="run-done"
        )
        return "100", status, views.indicator_table(shown, "run-table"), True

    @app.callback(
        Output("run-queue", "children"),
        Output("run-start", "disabled"),
        Input("tabs", "value"),
        Input("run-poll", "n_intervals"),
        Input("run-job", "data"),
    )
    def _queue(*_: Any) -> Any:
        # Server-side state only: what the page shows before a user presses "Start run".
        state = runner.state()
        full = " (full: wait for a run to finish)" if state.full else ""
        return f"Queue: {state.describe()}{full}", state.full

    return app


def _refuse_forged(app: Dash) -> None:
    """Answer a request the page never sends with 4xx and a one-line reason: a callback
    request is checked (:func:`streetlevel.dashboard.guard.check_body`) before Dash reads it,
    a callback's :class:`BadRequestError` is a 400, and a script or asset the page does not use is a
    404 (Dash's own answer is a 500)."""
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    route = app.config.routes_pathname_prefix + CALLBACK_ROUTE

    def plain(message: str, status: int) -> Response:
        return Response(message + "\n", status=status, mimetype="text/plain")

    def _check_callback() -> Response | None:
        if request.path != route or request.method != "POST":
            return None
        if not request.is_json:
            return plain("a callback request is a JSON body (Content-Type: application/json)", 415)
        # Any failure to parse or check it is the request's: a 400, never a 500.
        checked_body(request.get_data(cache=True), app.callback_map, KINDS)
        return None

    server.before_request(_check_callback)
    server.register_error_handler(RefusedError, lambda err: plain(str(err), err.status))
    server.register_error_handler(DependencyException, lambda err: plain("no such file", 404))
