"""The page: a status header, a banner for unreachable sources, six live graphs, the controls.

Component ids are the contract with :mod:`.callbacks` and the browser tests; they are named
for what they show (``graph-posterior``, ``drift-button``...).
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from dash.development.base_component import Component

from banditops.bandit.arms import SCENARIOS

GRAPHS: tuple[str, ...] = (
    "graph-posterior",
    "graph-pulls",
    "graph-regret",
    "graph-prob-best",
    "graph-timeline",
    "graph-phase-regret",
)
_GRAPH_CONFIG: dict[str, Any] = {
    "displayModeBar": False,
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


def _graph(graph_id: str) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config=_GRAPH_CONFIG, className="graph")  # type: ignore[arg-type]


def _card(title: str | None, *children: Component, class_name: str = "card") -> html.Div:
    header = [html.H3(title, className="card-title")] if title else []
    return html.Div(header + list(children), className=class_name)


def _field(label: str, control: Component) -> html.Label:
    return html.Label([html.Span(label, className="field-label"), control], className="field")


def controls() -> html.Div:
    scenario_options = [{"label": s, "value": s} for s in SCENARIOS]
    return html.Div(
        [
            _card(
                "Environment",
                html.P("Change the world the agents learn from.", className="hint"),
                html.Div(
                    [
                        _field(
                            "Arm", dcc.Dropdown(id="drift-arm", options=[], value=0, clearable=False, placeholder="arm")
                        ),
                        _field(
                            "New mean / p",
                            dcc.Input(id="drift-value", type="number", value=0.0, step="any", debounce=False),
                        ),
                    ],
                    className="field-row",
                ),
                html.Button("Inject drift", id="drift-button", n_clicks=0, className="btn btn-danger"),
                html.Hr(),
                html.Div(
                    [
                        _field("New arm's name", dcc.Input(id="add-name", type="text", placeholder="e.g. summer-sale",
                                                           maxLength=64)),
                        _field("Mean / p", dcc.Input(id="add-value", type="number", value=5.0, step="any")),
                    ],
                    className="field-row",
                ),
                html.Button("Add arm", id="add-button", n_clicks=0, className="btn"),
                html.Hr(),
                html.Div(
                    [
                        _field(
                            "Scenario",
                            dcc.Dropdown(id="reset-scenario", options=scenario_options, value="seed", clearable=False),
                        ),
                        _field("Seed", dcc.Input(id="reset-seed", type="number", placeholder="random", min=0, step=1)),
                    ],
                    className="field-row",
                ),
                html.Button("Reset environment", id="reset-button", n_clicks=0, className="btn"),
            ),
            _card(
                "Airflow",
                html.P("Runs a DAG through the Airflow REST API.", className="hint"),
                html.Div(
                    [
                        _field(
                            "Scenario",
                            dcc.Dropdown(id="exp-scenario", options=scenario_options, value="seed", clearable=False),
                        ),
                        _field("Seed", dcc.Input(id="exp-seed", type="number", placeholder="random", min=0, step=1)),
                    ],
                    className="field-row",
                ),
                html.Div(
                    [
                        html.Button("Start experiment", id="start-button", n_clicks=0, className="btn btn-primary"),
                        html.Button("Force relearning", id="relearn-button", n_clicks=0, className="btn btn-warning"),
                    ],
                    className="button-row",
                ),
            ),
            html.Div(id="action-result", className="action-result", role="status"),
            _card("Recent DAG runs", html.Div(id="airflow-runs", className="runs")),
            _card("Policy evaluation", html.Div(id="evaluation-panel", className="runs")),
        ],
        className="sidebar",
    )


def serve_layout(refresh_ms: int) -> html.Div:
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.H1("BanditOps"),
                            html.Span("Thompson Sampling agents · shared posterior · drift-aware", className="tagline"),
                        ],
                        className="brand",
                    ),
                    html.Div(id="status", className="status"),
                    html.Div(id="links", className="links"),
                ],
                className="topbar",
            ),
            html.Div(id="banner", className="banner-area", role="alert"),
            html.Main(
                [
                    html.Div(
                        [
                            html.Div(
                                [_card(None, _graph("graph-posterior")), _card(None, _graph("graph-pulls"))],
                                className="row row-wide",
                            ),
                            html.Div(
                                [_card(None, _graph("graph-regret")), _card(None, _graph("graph-prob-best"))],
                                className="row",
                            ),
                            html.Div(
                                [_card(None, _graph("graph-timeline")), _card(None, _graph("graph-phase-regret"))],
                                className="row row-wide",
                            ),
                        ],
                        className="charts",
                    ),
                    controls(),
                ],
                className="content",
            ),
            html.Footer(id="footer", className="footer"),
            dcc.Interval(id="tick", interval=refresh_ms, n_intervals=0),
        ],
        className="page",
    )
