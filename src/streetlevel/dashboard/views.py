"""The page's parts: the three views (municipalities, policies, run one) and the tables and
figures they draw. :mod:`streetlevel.dashboard.app` wires them to the data with callbacks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from streetlevel.dashboard.data import (
    REPLICATION_LIMITS,
    RUN_PRESETS,
    SCALE_LIMITS,
    Source,
    lever_levels,
)
from streetlevel.model.indicators import ratio

__all__ = [
    "PAGE_STYLE",
    "error",
    "municipalities_view",
    "policies_view",
    "rates",
    "rates_figure",
    "region_rates",
    "run_view",
    "side_by_side",
    "table",
]

POLL_MS = 500
PRESET_LEVEL = "as_2011"
"""The norm lever's level that leaves the preset's own strictness: the default."""
DEFAULT_SCALE = 0.05
DEFAULT_REPLICATIONS = 1
ERROR_STYLE = {"color": "#b00020", "fontWeight": "bold", "margin": "0.5em 0"}
CELL_STYLE = {"padding": "2px 10px", "textAlign": "left"}
PAGE_STYLE = {"fontFamily": "sans-serif", "maxWidth": "1100px", "margin": "0 auto"}


def error(message: str) -> html.Div:
    return html.Div(message, className="error", style=ERROR_STYLE)


def table(frame: pd.DataFrame, table_id: str, highlight: str | None = None) -> html.Table:
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


def rates(indicators: pd.DataFrame) -> pd.DataFrame:
    """Sanction rate by year and category (rows of ``benchmark``'s indicators)."""
    return indicators[["year", "category", "recipients", "sanctioned", "rate"]].sort_values(
        ["category", "year"], ignore_index=True
    )


def region_rates(indicators: pd.DataFrame, region: str) -> pd.DataFrame:
    """The region's rate: its municipalities' sanctioned per full-year recipient (the rate's
    definition summed over them, not a mean of rates)."""
    rows = indicators[indicators["region"] == region]
    sums = rows.groupby(["year", "category"], as_index=False)[
        ["recipients", "recipient_years", "sanctioned"]
    ].sum()
    sums["rate"] = ratio(sums["sanctioned"], sums["recipient_years"])
    return sums[["year", "category", "recipients", "sanctioned", "rate"]]


def rates_figure(mine: pd.DataFrame, name: str, other: pd.DataFrame, other_name: str) -> Any:
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


def municipalities_view(runs: list[Source]) -> html.Div:
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


def policies_view(sweeps: list[Source]) -> html.Div:
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


def run_view() -> html.Div:
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


def side_by_side(table: pd.DataFrame, a: str | None, b: str | None) -> pd.DataFrame | None:
    """Every outcome of policies ``a`` and ``b``: mean and interval, and the difference."""
    if a is None or b is None:
        return None
    cols = ["outcome", "mean", "low", "high"]
    left = table[table["policy"] == a][cols]
    right = table[table["policy"] == b][cols]
    side = left.merge(right, on="outcome", suffixes=(" A", " B"))
    side["B - A"] = side["mean B"] - side["mean A"]
    return side
