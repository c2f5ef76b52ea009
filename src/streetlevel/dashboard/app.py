"""The Dash app: three views (municipalities, policies, run one) over the directories the
dashboard was started with. The figures and tables come from :mod:`streetlevel.dashboard.data`;
this module only lays them out. Dash serves its JavaScript from its wheel
(``serve_locally``), so the page works without internet access.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import DependencyException
from flask import Response, request

from streetlevel.benchmark import ALL
from streetlevel.dashboard.data import (
    REPLICATION_LIMITS,
    RUN_LEVERS,
    RUN_PRESETS,
    SCALE_LIMITS,
    Runner,
    Source,
    check_run,
    classify,
    lever_levels,
    municipality_benchmark,
    municipality_funnel,
    policy_table,
)
from streetlevel.dashboard.guard import (
    MAX_BODY_BYTES,
    BadRequestError,
    Kind,
    check_body,
    choice,
    count,
    number,
    optional,
    text,
    texts,
)
from streetlevel.errors import StreetlevelError
from streetlevel.indicators import ratio

__all__ = ["create_app"]

REGION = "__region__"
"""The compare-with choice meaning "the municipality's region"."""
POLL_MS = 500
PRESET_LEVEL = "as_2011"
"""The norm lever's level that leaves the preset's own strictness: the default."""
DEFAULT_SCALE = 0.05
DEFAULT_REPLICATIONS = 1
SHOWN_INDICATORS = (
    "national_sanction_rate",
    "repeat_share",
    "exit_work_rate",
    "exit_unknown_rate",
    "weeks_per_sanction",
)
"""The run view's result table (the run's whole summary is in its directory)."""
ERROR_STYLE = {"color": "#b00020", "fontWeight": "bold", "margin": "0.5em 0"}
CELL_STYLE = {"padding": "2px 10px", "textAlign": "left"}
PAGE_STYLE = {"fontFamily": "sans-serif", "maxWidth": "1100px", "margin": "0 auto"}
KINDS: dict[str, Kind] = {
    "tabs.value": text,
    "run-dir.value": optional(text),
    "municipality.value": optional(text),
    "municipality.options": optional(texts),
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
}
"""What each property a callback reads may hold in a request; anything else is refused (400)."""
CALLBACK_ROUTE = "_dash-update-component"


def _error(message: str) -> html.Div:
    return html.Div(message, className="error", style=ERROR_STYLE)


def _guarded(problem: Callable[[str], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn an exception in a callback into a message in the page (``problem(message)``
    gives the callback's outputs), never a stack trace."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any) -> Any:
            try:
                return fn(*args)
            except BadRequestError:
                raise  # a forged request: answered 400 (see create_app), not shown in a page
            except StreetlevelError as err:
                return problem(str(err))
            except Exception as err:
                return problem(f"could not show this: {type(err).__name__}: {err}")

        inner.__name__ = fn.__name__
        return inner

    return wrap


def _table(frame: pd.DataFrame, table_id: str, highlight: str | None = None) -> html.Table:
    """A plain HTML table (the figures are text a reader, and a test, can find)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.3f}"
        return str(value)

    header = html.Tr([html.Th(c, style=CELL_STYLE) for c in frame.columns])
    rows = [
        html.Tr(
            [html.Td(cell(v), style=CELL_STYLE) for v in row],
            className="highlight" if highlight is not None and highlight in row else "",
            style={"background": "#dbe9f6"} if highlight is not None and highlight in row else {},
        )
        for row in frame.itertuples(index=False)
    ]
    return html.Table(
        [html.Thead(header), html.Tbody(rows)],
        id=table_id,
        style={"borderCollapse": "collapse", "fontSize": "0.85em"},
    )


def _rates(indicators: pd.DataFrame) -> pd.DataFrame:
    """Sanction rate by year and category (rows of ``benchmark``'s indicators)."""
    return indicators[["year", "category", "recipients", "sanctioned", "rate"]].sort_values(
        ["category", "year"], ignore_index=True
    )


def _region_rates(indicators: pd.DataFrame, region: str) -> pd.DataFrame:
    """The region's rate: its municipalities' sanctioned per full-year recipient (the rate's
    definition summed over them, not a mean of rates)."""
    rows = indicators[indicators["region"] == region]
    sums = rows.groupby(["year", "category"], as_index=False)[
        ["recipients", "recipient_years", "sanctioned"]
    ].sum()
    sums["rate"] = ratio(sums["sanctioned"], sums["recipient_years"])
    return sums[["year", "category", "recipients", "sanctioned", "rate"]]


def _rates_figure(mine: pd.DataFrame, name: str, other: pd.DataFrame, other_name: str) -> Any:
    fig = go.Figure()
    for frame, label, dash in ((mine, name, "solid"), (other, other_name, "dot")):
        for category, rows in frame.groupby("category", sort=True):
            fig.add_trace(
                go.Scatter(
                    x=rows["year"],
                    y=rows["rate"],
                    mode="lines+markers",
                    name=f"{label}: {category}",
                    line={"dash": dash},
                )
            )
    fig.update_layout(
        title=f"Sanction rate by category: {name} and {other_name}",
        xaxis_title="year",
        yaxis_title="sanctioned per full-year recipient",
        xaxis={"dtick": 1},
        margin={"t": 50, "l": 60, "r": 20, "b": 40},
        height=380,
    )
    return fig


def _municipalities_view(runs: list[Source]) -> html.Div:
    options = [{"label": s.label, "value": s.label} for s in runs]
    return html.Div(
        [
            html.Label("Run directory"),
            dcc.Dropdown(options, options[0]["value"] if options else None, id="run-dir"),
            html.Div(id="muni-error"),
            html.Div(
                [
                    html.Div(
                        [html.Label("Municipality"), dcc.Dropdown(id="municipality")],
                        style={"flex": 1},
                    ),
                    html.Div(
                        [html.Label("Compare with"), dcc.Dropdown(id="compare-with")],
                        style={"flex": 1},
                    ),
                ],
                style={"display": "flex", "gap": "1em"},
            ),
            dcc.Graph(id="rates-graph", config={"displaylogo": False}),
            html.H4("Its figures"),
            html.Div(id="muni-table"),
            html.H4(id="ranking-title"),
            html.Div(id="ranking-table"),
            html.H4("Funnel plot (risk-adjusted)"),
            html.Img(id="funnel-img", style={"maxWidth": "100%"}),
        ]
    )


def _policies_view(sweeps: list[Source]) -> html.Div:
    options = [{"label": s.label, "value": s.label} for s in sweeps]
    return html.Div(
        [
            html.Label("Sweep directory"),
            dcc.Dropdown(options, options[0]["value"] if options else None, id="sweep-dir"),
            html.Div(id="policy-error"),
            html.Label("Outcome"),
            dcc.Dropdown(id="outcome"),
            dcc.Graph(id="policy-graph", config={"displaylogo": False}),
            html.Div(
                [
                    html.Div(
                        [html.Label("Policy A"), dcc.Dropdown(id="policy-a")], style={"flex": 1}
                    ),
                    html.Div(
                        [html.Label("Policy B"), dcc.Dropdown(id="policy-b")], style={"flex": 1}
                    ),
                ],
                style={"display": "flex", "gap": "1em"},
            ),
            html.Div(id="policy-compare"),
        ]
    )


def _run_view() -> html.Div:
    levels = lever_levels()
    levers = [
        html.Div(
            [
                html.Label(name),
                dcc.Dropdown(
                    values,
                    PRESET_LEVEL if PRESET_LEVEL in values else values[0],
                    id=f"lever-{name}",
                    clearable=False,
                ),
            ],
            style={"flex": 1},
        )
        for name, values in levels.items()
    ]
    return html.Div(
        [
            html.Label("Preset (its era)"),
            dcc.Dropdown(list(RUN_PRESETS), RUN_PRESETS[0], id="run-preset", clearable=False),
            html.Div(levers, style={"display": "flex", "gap": "1em"}),
            html.Div(
                [
                    html.Label("client scale (clients per recipient) "),
                    dcc.Input(
                        id="run-scale",
                        type="number",
                        value=DEFAULT_SCALE,
                        min=SCALE_LIMITS[0],
                        max=SCALE_LIMITS[1],
                    ),
                    html.Label(" replications "),
                    dcc.Input(
                        id="run-replications",
                        type="number",
                        value=DEFAULT_REPLICATIONS,
                        min=REPLICATION_LIMITS[0],
                        max=REPLICATION_LIMITS[1],
                        step=1,
                    ),
                    html.Button("Start run", id="run-start", n_clicks=0),
                ],
                style={"margin": "1em 0"},
            ),
            html.Progress(id="run-progress", value="0", max="100", style={"width": "100%"}),
            html.Div(id="run-status"),
            html.Div(id="run-results"),
            dcc.Store(id="run-job"),
            dcc.Interval(id="run-poll", interval=POLL_MS, disabled=True),
        ]
    )


def create_app(directories: list[Path | str], work_dir: Path | str, seed: int = 1) -> Dash:
    """The dashboard over ``directories`` (run and sweep directories); runs started from the
    page go under ``work_dir``."""
    sources = [classify(d) for d in directories]
    runs = [s for s in sources if s.kind == "run"]
    sweeps = [s for s in sources if s.kind == "sweep"]
    runner = Runner(work_dir, seed)
    app = Dash(__name__, title="streetlevel dashboard", serve_locally=True)
    _refuse_forged(app)
    problems = [_error(s.problem) for s in sources if s.kind == "error"]
    if not runs:
        problems.append(_error("No run directory given: the municipalities view is empty."))
    if not sweeps:
        problems.append(_error("No sweep directory given: the policies view is empty."))
    app.layout = html.Div(
        [
            html.H2("streetlevel dashboard"),
            html.Div(problems, id="problems"),
            dcc.Tabs(
                [
                    dcc.Tab(_municipalities_view(runs), label="Municipalities", value="muni"),
                    dcc.Tab(_policies_view(sweeps), label="Policies", value="policies"),
                    dcc.Tab(_run_view(), label="Run one", value="run"),
                ],
                id="tabs",
                value="muni",
            ),
        ],
        style=PAGE_STYLE,
    )

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
    @_guarded(lambda m: ([], None, _error(m)))
    def _municipalities(path: str | None) -> Any:
        overall, _ = municipality_benchmark(run_dir(path))
        names = sorted(overall.risk_adjusted["municipality"].unique())
        return names, names[0] if names else None, None

    @app.callback(
        Output("compare-with", "options"),
        Output("compare-with", "value"),
        Input("municipality", "value"),
        State("municipality", "options"),
    )
    def _compare_options(name: str | None, names: list[str] | None) -> Any:
        if name is None:
            return [], None
        choice(name, names or [], "municipality")
        others = [{"label": n, "value": n} for n in names or [] if n != name]
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
    @_guarded(lambda m: (go.Figure(), _error(m), "", None, ""))
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
            theirs, other_name = _region_rates(table, region), f"region {region}"
        else:
            theirs, other_name = _rates(table[table["municipality"] == other]), str(other)
        ranking = overall.ranking[
            (overall.ranking["region"] == region) & (overall.ranking["category"] == ALL)
        ]
        shown = ranking[["rank", "municipality", "recipients", "rate", "ratio", "adjusted_rank"]]
        return (
            _rates_figure(_rates(mine), name, theirs, other_name),
            _table(_rates(mine), "muni-figures"),
            f"Ranking in {region}, {overall.year} (by rate as published, and risk-adjusted)",
            _table(shown.sort_values("rank"), "ranking", highlight=name),
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
    @_guarded(lambda m: ([], None, [], None, [], None, _error(m)))
    def _sweep(path: str | None) -> Any:
        table, _ = policy_table(sweep_dir(path))
        outcomes = list(dict.fromkeys(table["outcome"]))
        policies = list(dict.fromkeys(table["policy"]))
        second = policies[1] if len(policies) > 1 else policies[0]
        return outcomes, outcomes[0], policies, policies[0], policies, second, None

    @app.callback(
        Output("policy-graph", "figure"),
        Output("policy-compare", "children"),
        Input("outcome", "value"),
        Input("policy-a", "value"),
        Input("policy-b", "value"),
        State("sweep-dir", "value"),
    )
    @_guarded(lambda m: (go.Figure(), _error(m)))
    def _policies(outcome: str | None, a: str | None, b: str | None, path: str | None) -> Any:
        if outcome is None:
            return go.Figure(), None
        table, _ = policy_table(sweep_dir(path))
        choice(outcome, set(table["outcome"]), "outcome")
        for policy in (a, b):
            if policy is not None:
                choice(policy, set(table["policy"]), "policy")
        rows = table[table["outcome"] == outcome]
        fig = go.Figure(
            go.Scatter(
                x=rows["mean"],
                y=rows["policy"],
                mode="markers",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": rows["high"] - rows["mean"],
                    "arrayminus": rows["mean"] - rows["low"],
                },
            )
        )
        fig.update_layout(
            title=f"{outcome}: mean and 95 % interval across replications",
            height=max(300, 40 * len(rows) + 120),
            margin={"l": 220, "t": 50},
        )
        side = _side_by_side(table, a, b)
        if side is None:
            return fig, None
        return fig, [html.P(f"A = {a}; B = {b}"), _table(side, "policy-side")]

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
    @_guarded(lambda m: (no_update, True, _error(m)))
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
    @_guarded(lambda m: (no_update, _error(m), None, True))
    def _poll(_: int, job_id: str | None) -> Any:
        job = runner.get(job_id) if job_id else None
        if job is None:
            return "0", "", None, True
        percent = str(round(100 * job.done))
        if job.status == "failed":
            return percent, _error(f"the run failed: {job.message}"), None, True
        if job.status != "complete" or job.summary is None:
            return percent, f"{job.status}: {percent} % of {job.out.name}", None, False
        shown = [i for i in job.summary.indicators if i.name in SHOWN_INDICATORS]
        frame = pd.DataFrame(
            [{"indicator": i.name, "mean": i.mean, "low": i.low, "high": i.high} for i in shown]
        )
        status = html.Span(
            f"complete: results in {job.out} (also in the municipalities view)", id="run-done"
        )
        return "100", status, _table(frame, "run-table"), True

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
        body = request.get_json(silent=True)
        if body is None:
            return plain("the request body is not valid JSON", 400)
        check_body(body, app.callback_map, KINDS)
        return None

    server.before_request(_check_callback)
    server.register_error_handler(BadRequestError, lambda err: plain(str(err), 400))
    server.register_error_handler(DependencyException, lambda err: plain("no such file", 404))


def _side_by_side(table: pd.DataFrame, a: str | None, b: str | None) -> pd.DataFrame | None:
    """Every outcome of policies ``a`` and ``b``: mean and interval, and the difference."""
    if a is None or b is None:
        return None
    cols = ["outcome", "mean", "low", "high"]
    left = table[table["policy"] == a][cols]
    right = table[table["policy"] == b][cols]
    side = left.merge(right, on="outcome", suffixes=(" A", " B"))
    side["B - A"] = side["mean B"] - side["mean A"]
    return side
