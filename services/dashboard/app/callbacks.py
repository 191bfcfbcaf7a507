"""Dash callbacks: one live refresh (every ``dashboard_refresh_s``) and one for the controls.

Thin by design: the refresh asks the :class:`~.sources.DataCollector` for one consistent
:class:`~.sources.DashboardData`, turns it into figures with :mod:`.figures` and into header
and banner components here. Any failure becomes a banner line, never a stack trace: Dash runs
with ``debug=False`` and every callback catches what it does not expect.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, html, no_update

from . import actions, figures
from .config import Settings
from .history import build_timeline
from .layout import GRAPHS
from .sources import WATCHED_DAGS, DashboardData, Notice, lai_robbins_constant

if TYPE_CHECKING:
    from .sources import DataCollector

log = logging.getLogger(__name__)


def _chip(key: str, value: str, chip_id: str) -> html.Div:
    return html.Div([html.Span(key, className="k"), html.Span(value, className="v")], className="chip", id=chip_id)


def _leader(data: DashboardData) -> tuple[int | None, float | None]:
    posterior, state = data.posterior, data.state
    if posterior is None or state is None or state.stats.total == 0:
        return None, None
    try:
        prob = np.asarray(posterior.prob_best(np.random.default_rng(0), draws=2000), dtype=np.float64)
        if state.retired:
            prob[list(state.retired)] = -1.0
        leader = int(np.argmax(prob))
        return leader, float(prob[leader])
    except Exception:
        means = np.asarray(posterior.mean(), dtype=np.float64)
        return int(np.nanargmax(means)), None


def _names(data: DashboardData) -> tuple[str, ...] | None:
    """The arms' names (the store's name table), to label every figure and chip by name."""
    return data.state.config.names if data.state is not None else None


def status_children(data: DashboardData) -> list[Any]:
    state = data.state
    mode = state.mode.value if state is not None else "UNKNOWN"
    leader, prob = _leader(data)
    names = _names(data)
    best_true = (data.truth or {}).get("best_arm")
    children: list[Any] = [html.Div(mode, className=f"mode mode-{mode}", id="status-mode")]
    if state is not None:
        children += [
            _chip("epoch", str(state.epoch), "status-epoch"),
            _chip("total pulls", f"{state.total_pulls:,}", "status-pulls"),
            _chip(
                "leader",
                "—" if leader is None
                else figures.arm_label(leader, names) + (f" · P(best) {prob:.2f}" if prob is not None else ""),
                "status-leader",
            ),
            _chip("regret", f"{state.regret:,.1f}", "status-regret"),
            _chip("experiment", f"{state.config.name} · {state.config.reward_kind}", "status-experiment"),
        ]
    if best_true is not None:
        children.append(_chip("true best", figures.arm_label(int(best_true), names), "status-best"))
    if data.truth and data.truth.get("scenario"):
        children.append(_chip("scenario", str(data.truth["scenario"]), "status-scenario"))
    return children


def links_children(data: DashboardData, settings: Settings) -> list[Any]:
    links: list[Any] = [
        html.A(
            link.label + (f" ({link.status.lower()})" if link.status else ""),
            href=link.url,
            target="_blank",
            rel="noopener",
        )
        for link in data.mlflow_links
    ]
    if not data.mlflow_links and settings.mlflow_link_url:
        links.append(html.A("MLflow", href=settings.mlflow_link_url, target="_blank", rel="noopener"))
    if settings.airflow_url:
        links.append(
            html.A(
                "Airflow DAG runs",
                href=f"{settings.airflow_link_url}/dags/bandit_learning/runs",
                target="_blank",
                rel="noopener",
            )
        )
    return links


def _data_attrs(**values: str) -> dict[str, Any]:
    """``data-*`` attributes (what the browser tests and CSS can select on)."""
    return {f"data-{k}": v for k, v in values.items()}


def banner_children(notices: list[Notice]) -> list[Any]:
    order = {"error": 0, "warning": 1, "info": 2}
    seen: set[str] = set()
    out: list[Any] = []
    for notice in sorted(notices, key=lambda n: order[n.level]):
        if notice.text in seen:
            continue
        seen.add(notice.text)
        out.append(
            html.Div(
                [html.Strong(notice.source), html.Span(notice.text)],
                className=f"banner banner-{notice.level}",
                **_data_attrs(source=notice.source, level=notice.level),
            )
        )
    return out


def runs_children(data: DashboardData, settings: Settings) -> list[Any]:
    rows: list[Any] = []
    for dag_id in WATCHED_DAGS:
        for run in data.airflow_runs.get(dag_id, [])[:3]:
            run_id = str(run.get("dag_run_id", ""))
            state = str(run.get("state", ""))
            url = f"{settings.airflow_link_url}/dags/{dag_id}/runs/{run_id}"
            rows.append(
                html.Tr(
                    [
                        html.Td(html.A(f"{dag_id}", href=url, target="_blank", rel="noopener", title=run_id)),
                        html.Td(html.Span(state, className=f"state state-{state}")),
                    ]
                )
            )
    if not rows:
        return [html.Span("no runs to show (or Airflow not reachable)", className="muted")]
    return [html.Table(html.Tbody(rows))]


def evaluation_children(data: DashboardData) -> list[Any]:
    """The last ``bandit_policy_evaluation``: each policy's estimate [interval] and the gate's decision."""
    raw = data.meta.get("last_evaluation")
    try:
        summary = json.loads(raw) if raw else None
    except ValueError:
        summary = None
    if not summary:
        return [html.Span("no evaluation yet (trigger bandit_policy_evaluation)", className="muted")]
    est = str(summary.get("gate_estimator", ""))
    rows = [html.Tr([html.Th("policy"), html.Th(f"{est} estimate [95%]")])]
    for name, r in summary.get("policies", {}).items():
        rows.append(html.Tr([html.Td(name), html.Td(f"{r['estimate']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]")]))
    decision = summary.get("decision") or {}
    when = datetime.fromtimestamp(float(summary.get("ts", 0)), tz=UTC)
    verdict = (f"promoted {decision.get('candidate')}" if summary.get("promoted") else
               f"kept the live policy ({decision.get('candidate')}: lower bound {decision.get('candidate_lo', 0):.3f} "
               f"vs live {decision.get('live_estimate', 0):.3f} + margin {decision.get('margin', 0):g}"
               + (", passed but promotion not asked)" if decision.get("promote") else ")"))  # fmt: skip
    return [
        html.Table(html.Tbody(rows)),
        html.P(f"Gate: {verdict}", id="evaluation-decision",
               **_data_attrs(promoted=str(bool(summary.get("promoted"))).lower())),
        html.Span(f"{summary.get('n_rows', 0)} logged decisions · {when:%Y-%m-%d %H:%M} UTC", className="muted"),
    ]


def build_figures(data: DashboardData, settings: Settings) -> list[go.Figure]:
    """The six figures, in :data:`.layout.GRAPHS` order."""
    state = data.state
    truth = data.truth or {}
    retired = sorted(state.retired) if state is not None else []
    names = _names(data)
    leader, _ = _leader(data)
    posterior_fig = figures.posterior_figure(
        data.posterior,
        truth.get("means"),
        rng=np.random.default_rng(0),
        draws=settings.dashboard_posterior_draws,
        retired=retired,
        names=names,
    )
    pulls_fig = figures.pulls_figure(
        state.stats.n.tolist() if state is not None else [],
        leader=leader,
        best_true=truth.get("best_arm"),
        retired=retired,
        names=names,
    )
    points = data.history.points
    series = figures.RegretSeries([p.pulls for p in points], [p.regret for p in points], [p.epoch for p in points])
    regret_title = "Cumulative regret vs. Lai–Robbins C·ln T"
    regret_fig = figures.regret_figure(
        series,
        lai_robbins_constant=lai_robbins_constant(data.truth),
        title=regret_title,
        note="per-batch regret estimated from the current true means" if data.history.regret_estimated else None,
    )
    with_pb = [p for p in points if p.prob_best]
    threshold = 1.0 - state.config.convergence_delta if state is not None else None
    prob_fig = figures.prob_best_figure(
        [p.pulls for p in with_pb],
        [p.prob_best for p in with_pb],
        epochs=[p.epoch for p in with_pb],
        threshold=threshold,
        names=names,
    )
    spans, marks = build_timeline(
        data.events,
        data.env_events,
        now=data.fetched_at,
        current_mode=state.mode.value if state is not None else None,
        current_epoch=state.epoch if state is not None else None,
        names=names,
    )
    timeline_fig = figures.timeline_figure(spans, marks)
    epochs = sorted(data.history.phase_pulls)
    phase_fig = figures.phase_regret_figure(
        epochs, [data.history.phase_regret[e] for e in epochs], [data.history.phase_pulls[e] for e in epochs]
    )
    return [posterior_fig, pulls_fig, regret_fig, prob_fig, timeline_fig, phase_fig]


def register_callbacks(app: Dash, collector: DataCollector, settings: Settings) -> None:
    """Wire the refresh and the controls to ``collector`` (a :class:`~.sources.DataCollector`)."""
    latest: dict[str, DashboardData] = {}

    @app.callback(
        [Output("status", "children"), Output("links", "children"), Output("banner", "children")]
        + [Output(g, "figure") for g in GRAPHS]
        + [Output("drift-arm", "options"), Output("airflow-runs", "children"), Output("footer", "children"),
           Output("evaluation-panel", "children")],
        Input("tick", "n_intervals"),
    )
    def refresh(_n: int) -> list[Any]:
        started = time.perf_counter()
        try:
            data = collector.collect()
            latest["data"] = data
            figs = build_figures(data, settings)
            n_arms = len((data.truth or {}).get("means") or []) or (data.state.stats.n_arms if data.state else 0)
            # the environment takes the index; a person picks the name
            names = _names(data)
            arm_options = [{"label": figures.arm_label(a, names), "value": a} for a in range(n_arms)]
            footer = (
                f"refreshed {datetime.fromtimestamp(data.fetched_at, tz=UTC):%H:%M:%S} UTC in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms · namespace {settings.namespace}"
            )
            return [
                status_children(data),
                links_children(data, settings),
                banner_children(data.notices),
                *figs,
                arm_options,
                runs_children(data, settings),
                footer,
                evaluation_children(data),
            ]
        except Exception as exc:  # the page must keep working: say what failed, keep the last figures
            log.exception("dashboard refresh failed")
            banner = banner_children([Notice("Dashboard", f"refresh failed: {type(exc).__name__}: {str(exc)[:200]}")])
            return [no_update, no_update, banner] + [no_update] * len(GRAPHS) + [no_update] * 4

    @app.callback(
        Output("action-result", "children"),
        Output("action-result", "className"),
        Input("drift-button", "n_clicks"),
        Input("add-button", "n_clicks"),
        Input("reset-button", "n_clicks"),
        Input("start-button", "n_clicks"),
        Input("relearn-button", "n_clicks"),
        State("drift-arm", "value"),
        State("drift-value", "value"),
        State("add-value", "value"),
        State("add-name", "value"),
        State("reset-scenario", "value"),
        State("reset-seed", "value"),
        State("exp-scenario", "value"),
        State("exp-seed", "value"),
        prevent_initial_call=True,
    )
    def act(  # noqa: PLR0917 - Dash passes inputs and states positionally
        _d: int,
        _a: int,
        _r: int,
        _s: int,
        _l: int,
        drift_arm: actions.FormValue,
        drift_value: actions.FormValue,
        add_value: actions.FormValue,
        add_name: actions.FormValue,
        reset_scenario: actions.FormValue,
        reset_seed: actions.FormValue,
        exp_scenario: actions.FormValue,
        exp_seed: actions.FormValue,
    ) -> tuple[Any, str]:
        try:
            result = _run_action(ctx.triggered_id, collector, settings, latest, locals())
        except Exception as exc:
            log.exception("dashboard action failed")
            result = actions.ActionResult(False, f"action failed: {type(exc).__name__}: {str(exc)[:200]}")
        body: list[Any] = [html.Span(("✓ " if result.ok else "✗ ") + result.message)]
        if result.link:
            body += [" · ", html.A("open in Airflow", href=result.link, target="_blank", rel="noopener")]
        return body, "action-result " + ("result-ok" if result.ok else "result-error")


def _run_action(
    trigger: object, collector: DataCollector, settings: Settings, latest: dict[str, DashboardData],
    values: dict[str, actions.FormValue],
) -> actions.ActionResult:
    if not settings.dashboard_password:  # fail closed: controls that act with admin credentials need a login
        return actions.ActionResult(
            False, "the controls are off: this dashboard has no password (set BANDITOPS_DASHBOARD_PASSWORD; "
                   "`make up` generates one)"
        )
    if trigger in ("drift-button", "add-button"):
        # Fresh truth, not the last refresh's: the arm count or kind may have changed since.
        try:
            truth = dict(collector.env.truth())
        except Exception:
            truth = None
        if trigger == "drift-button":
            return actions.inject_drift(collector.env, truth, values["drift_arm"], values["drift_value"],
                                        collector.store)
        airflow = collector.airflow if settings.airflow_url else None
        return actions.add_arm(collector.env, airflow, settings.airflow_link_url, truth, values["add_value"],
                               store=collector.store, name=values.get("add_name"))
    if trigger == "reset-button":
        return actions.reset_scenario(collector.env, values["reset_scenario"], values["reset_seed"])
    if trigger in ("start-button", "relearn-button") and not settings.airflow_url:
        return actions.ActionResult(
            False, "Airflow is not configured: set BANDITOPS_AIRFLOW_URL (and its user/password)"
        )
    if trigger == "start-button":
        return actions.start_experiment(
            collector.airflow, settings.airflow_link_url, values["exp_scenario"], values["exp_seed"]
        )
    if trigger == "relearn-button":
        return actions.force_relearning(collector.airflow, settings.airflow_link_url, collector.store.state().epoch)
    return actions.ActionResult(False, f"unknown control {trigger!r}")
