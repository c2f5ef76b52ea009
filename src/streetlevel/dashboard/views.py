"""The page's parts: the three views (municipalities, policies, run one) and the tables and
figures they draw. :mod:`streetlevel.dashboard.app` wires them to the data with callbacks.

Indicators are shown by their labels and in their units, as the CLI shows them (the catalogue,
:mod:`streetlevel.output.catalogue`): a share in %, a difference of shares in percentage
points; dropdowns list labels and send names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

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
from streetlevel.output.catalogue import MEAN_CI, SPREAD, SPREAD_PERCENTILES, find, lookup

if TYPE_CHECKING:
    from streetlevel.output.summary import Indicator

__all__ = [
    "PAGE_STYLE",
    "error",
    "indicator_table",
    "municipalities_view",
    "outcome_options",
    "policies_view",
    "policy_figure",
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


SCOPE = "benchmark"
"""The catalogue's scope of the municipalities view's tables (a benchmark's columns)."""


def table(
    frame: pd.DataFrame, table_id: str, highlight: str | None = None, scope: str | None = SCOPE
) -> html.Table:
    """A plain HTML table (the figures are text a reader, and a test, can find): a column
    that is an indicator of the catalogue (in ``scope``; none with ``None``) under its label,
    in its unit."""
    entries = [find(str(c), scope) if scope is not None else None for c in frame.columns]

    def cell(value: Any, column: int) -> str:
        entry = entries[column]
        if entry is not None:
            return entry.format(value)
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.3f}"
        return str(value)

    header = html.Tr(
        [
            html.Th(c if e is None else e.label, style=CELL_STYLE)
            for c, e in zip(frame.columns, entries, strict=True)
        ]
    )
    rows = [
        html.Tr(
            [html.Td(cell(v, i), style=CELL_STYLE) for i, v in enumerate(row)],
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
    rate = lookup("rate", SCOPE)
    fig = go.Figure()
    for frame, label, dash in ((mine, name, "solid"), (other, other_name, "dot")):
        for category, rows in frame.groupby("category", sort=True):
            fig.add_trace(
                go.Scatter(
                    x=rows["year"],
                    y=rate.scaled(rows["rate"]),
                    mode="lines+markers",
                    name=f"{label}: {category}",
                    line={"dash": dash},
                )
            )
    fig.update_layout(
        title=f"{rate.label.capitalize()} by category: {name} and {other_name}",
        xaxis_title=lookup("year").label,
        yaxis_title=rate.axis_label,
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
            html.Div(id="run-queue"),
            html.Progress(id="run-progress", value="0", max="100", style={"width": "100%"}),
            html.Div(id="run-status"),
            html.Div(id="run-results"),
            dcc.Store(id="run-job"),
            dcc.Interval(id="run-poll", interval=POLL_MS, disabled=True),
        ]
    )


def side_by_side(table: pd.DataFrame, a: str | None, b: str | None) -> pd.DataFrame | None:
    """Every outcome of policies ``a`` and ``b``, by its label: mean and spread of replications
    (2.5th to 97.5th percentile) in its unit, and the difference of the means (a difference of
    shares in percentage points)."""
    if a is None or b is None:
        return None
    cols = ["outcome", "mean", "spread_low", "spread_high"]
    left = table[table["policy"] == a][cols]
    right = table[table["policy"] == b][cols]
    side = left.merge(right, on="outcome", suffixes=(" A", " B"))
    rows = []
    for row in side.to_dict("records"):
        entry = lookup(row["outcome"])
        rows.append(
            {
                "outcome": entry.label,
                "mean A": entry.format(row["mean A"]),
                f"{SPREAD} A": entry.format_interval(row["spread_low A"], row["spread_high A"]),
                "mean B": entry.format(row["mean B"]),
                f"{SPREAD} B": entry.format_interval(row["spread_low B"], row["spread_high B"]),
                "B - A": entry.format_difference(row["mean B"] - row["mean A"]),
            }
        )
    return pd.DataFrame(rows, columns=list(SIDE_COLUMNS))


SIDE_COLUMNS = ("outcome", "mean A", f"{SPREAD} A", "mean B", f"{SPREAD} B", "B - A")
"""The side-by-side table's columns: the spread of replications is where one replication's
figure falls (2.5th to 97.5th percentile), not a confidence interval of the mean."""


def outcome_options(outcomes: Iterable[str]) -> list[dict[str, str]]:
    """A dropdown's options for outcomes: each one's label shown, its name sent."""
    return [{"label": lookup(o).label, "value": o} for o in outcomes]


def policy_figure(rows: pd.DataFrame, outcome: str) -> Any:
    """Each policy's mean of ``outcome`` with its spread of replications, in the outcome's unit
    (``rows``: the comparison's rows of that outcome, with their ``policy``)."""
    entry = lookup(outcome)
    mean, low, high = (
        entry.scaled(rows[c].to_numpy(dtype=float)) for c in ("mean", "spread_low", "spread_high")
    )
    fig = go.Figure(
        go.Scatter(
            x=mean,
            y=rows["policy"],
            mode="markers",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": high - mean,
                "arrayminus": mean - low,
            },
        )
    )
    fig.update_layout(
        title=f"{entry.label}: mean and {SPREAD_PERCENTILES}",
        xaxis_title=entry.axis_label,
        height=max(300, 40 * len(rows) + 120),
        margin={"l": 220, "t": 50},
    )
    return fig


def indicator_table(indicators: Iterable[Indicator], table_id: str) -> html.Table:
    """A run's indicators by label: mean, spread of replications and 95 % CI of the mean, in
    their units (the table ``streetlevel run`` prints, for the indicators given)."""
    columns = ["indicator", "mean", SPREAD_PERCENTILES, MEAN_CI]
    rows = [
        dict(
            zip(
                columns,
                (
                    i.label or lookup(i.name).label,
                    i.format(i.mean),
                    lookup(i.name).format_interval(i.low, i.high),
                    lookup(i.name).format_interval(i.ci_low, i.ci_high),
                ),
                strict=True,
            )
        )
        for i in indicators
    ]
    return table(pd.DataFrame(rows, columns=columns), table_id)
