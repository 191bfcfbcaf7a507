"""Pure figure builders: data in, a ``plotly.graph_objects.Figure`` out (no I/O, no Dash).

Every builder takes plain numbers (or a posterior object of :mod:`banditops.bandit.posteriors`), so
the unit tests can check the traces exactly and the callbacks stay thin. An empty input gives
a figure with a readable "waiting for data" note rather than an error: a fresh experiment
has no pulls yet, and the page should say so.

Colours are fixed per arm (``arm_color``) across all figures, so "arm 3" is the same colour in
the posterior, P(best) and pulls views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import plotly.graph_objects as go

#: Plotly's "D3" qualitative palette: 10 distinct, colour-blind-friendlier than the default.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MODE_COLORS: dict[str, str] = {
    "LEARNING": "#4c78a8",
    "MONITORING": "#54a24b",
    "RELEARNING": "#e45756",
}
#: Marker style per timeline event kind: (symbol, colour).
EVENT_STYLE: dict[str, tuple[str, str]] = {
    "experiment_started": ("star", "#4c78a8"),
    "converged": ("circle", "#54a24b"),
    "drift_injected": ("triangle-down", "#d62728"),
    "drift_detected": ("x", "#ff7f0e"),
    "epoch_opened": ("diamond", "#e45756"),
    "relearning_started": ("diamond", "#e45756"),
    "relearning_done": ("circle-open", "#4c78a8"),
    "arm_added": ("cross", "#9467bd"),
    "arm_retired": ("x-thin-open", "#9467bd"),
    "scenario_reset": ("square", "#7f7f7f"),
}
_FONT = {"family": "Inter, Segoe UI, Helvetica, Arial, sans-serif", "size": 12, "color": "#1f2937"}


class PosteriorLike(Protocol):
    """What the figures need of a posterior (``banditops.bandit.posteriors``' classes provide it)."""

    @property
    def n_arms(self) -> int: ...

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray: ...

    def mean(self) -> np.ndarray: ...

    def credible_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]: ...


def arm_color(arm: int) -> str:
    return PALETTE[arm % len(PALETTE)]


def arm_label(arm: int, names: Sequence[str] | None = None) -> str:
    """What a person reads for an arm: its name (``"summer-sale"``), or ``"arm 3"`` for an arm
    named by its index (an experiment started with integer arms) or when no names are known.

    >>> arm_label(3), arm_label(0, ["summer-sale"]), arm_label(1, ["0", "1"])
    ('arm 3', 'summer-sale', 'arm 1')
    """
    name = names[arm] if names is not None and 0 <= arm < len(names) else str(arm)
    return f"arm {name}" if name.isdigit() else name


def _base_layout(fig: go.Figure, title: str, *, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top", "font": {"size": 15}},
        height=height,
        margin={"l": 55, "r": 20, "t": 66, "b": 45},
        font=_FONT,
        paper_bgcolor="white",
        plot_bgcolor="#fafbfc",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0.0, "font": {"size": 11}},
        uirevision="keep",  # live refresh keeps the user's zoom and hidden traces
    )
    fig.update_xaxes(gridcolor="#e5e7eb", zeroline=False)
    fig.update_yaxes(gridcolor="#e5e7eb", zeroline=False)
    return fig


def _empty(fig: go.Figure, note: str) -> go.Figure:
    fig.add_annotation(
        text=note, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14, "color": "#6b7280"}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# -- posterior against the truth ------------------------------------------------------------
def posterior_figure(
    posterior: PosteriorLike | None,
    truth_means: Sequence[float] | None = None,
    *,
    rng: np.random.Generator,
    draws: int = 2000,
    level: float = 0.95,
    retired: Sequence[int] = (),
    names: Sequence[str] | None = None,
    title: str = "Posterior of every arm vs. the true mean",
) -> go.Figure:
    """Violins of posterior draws per arm, the credible interval, and the true mean marked.

    Why violins of draws rather than closed-form densities: the same picture works for both
    conjugate families (Beta and Normal–Inverse-Gamma's Student-t marginal) and it is exactly
    what Thompson Sampling acts on — one draw per decision.

    Traces, in order: one ``Violin`` per arm (named by :func:`arm_label`), one ``Scatter`` named
    ``"{level:.0%} credible interval"`` (posterior mean with asymmetric error bars), and, when
    the truth is known, one ``Scatter`` named ``"true mean"``.
    """
    fig = go.Figure()
    _base_layout(fig, title, height=360)
    if posterior is None or posterior.n_arms == 0:
        return _empty(fig, "waiting for the store: no posterior yet")
    k = posterior.n_arms
    labels = [arm_label(a, names) + (" (retired)" if a in retired else "") for a in range(k)]
    samples = np.asarray(posterior.sample(rng, draws), dtype=np.float64)
    mean = np.asarray(posterior.mean(), dtype=np.float64)
    lo, hi = (np.asarray(x, dtype=np.float64) for x in posterior.credible_interval(level))
    for arm in range(k):
        fig.add_trace(
            go.Violin(
                x=[labels[arm]] * samples.shape[0],
                y=samples[:, arm],
                name=arm_label(arm, names),
                legendgroup=arm_label(arm, names),
                showlegend=False,
                line={"color": arm_color(arm), "width": 1.2},
                fillcolor=arm_color(arm),
                opacity=0.45,
                spanmode="hard",
                points=False,
                width=0.8,
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=mean,
            mode="markers",
            name=f"{level:.0%} credible interval",
            marker={"color": "#111827", "size": 7},
            error_y={"type": "data", "array": hi - mean, "arrayminus": mean - lo, "thickness": 1.6, "width": 6},
            customdata=np.stack([lo, hi], axis=1),
            hovertemplate="%{x}<br>posterior mean %{y:.3f}<br>CI [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
            "<extra></extra>",
        )
    )
    focus = [lo[np.isfinite(lo)], hi[np.isfinite(hi)]]
    if truth_means is not None and len(truth_means) > 0:
        truth = np.asarray(truth_means, dtype=np.float64)
        shown = min(k, truth.shape[0])
        fig.add_trace(
            go.Scatter(
                x=labels[:shown],
                y=truth[:shown],
                mode="markers",
                name="true mean",
                marker={"symbol": "line-ew", "size": 38, "line": {"width": 3.5, "color": "#dc2626"}},
                hovertemplate="%{x}<br>true mean %{y:.3f}<extra></extra>",
            )
        )
        focus.append(truth[:shown])
    _focus_y(fig, np.concatenate(focus) if focus else np.array([]))
    fig.update_layout(violinmode="overlay", yaxis_title="expected reward")
    return fig


def _focus_y(fig: go.Figure, values: np.ndarray) -> None:
    """Zoom the y axis on the intervals and the truth: an arm with no data samples from a weak
    prior whose tails would otherwise flatten every other violin."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    lo, hi = float(values.min()), float(values.max())
    # Prior-only arms have huge intervals; cap the span at a few times the truth/data spread.
    q_lo, q_hi = np.quantile(values, [0.1, 0.9])
    spread = max(float(q_hi - q_lo), 1e-3)
    lo, hi = max(lo, float(q_lo) - 1.5 * spread), min(hi, float(q_hi) + 1.5 * spread)
    pad = 0.08 * max(hi - lo, 1e-3)
    fig.update_yaxes(range=[lo - pad, hi + pad])


# -- regret -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegretSeries:
    """Cumulative pseudo-regret against total pulls, with the epoch of each point."""

    pulls: Sequence[int]
    regret: Sequence[float]
    epochs: Sequence[int]


def lai_robbins_curve(
    start_pull: int, start_regret: float, constant: float, end_pull: int, points: int = 80
) -> tuple[np.ndarray, np.ndarray]:
    """The reference ``start_regret + C·ln(t)`` over the pulls ``t`` of one stationary epoch.

    Examples
    --------
    >>> x, y = lai_robbins_curve(100, 5.0, 2.0, 100 + 1000, points=3)
    >>> x.tolist(), y.round(3).tolist()
    ([101, 132, 1100], [5.0, 11.931, 18.816])
    """
    t = np.unique(np.geomspace(1, max(end_pull - start_pull, 1), points).round().astype(np.int64))
    return start_pull + t, start_regret + constant * np.log(t)


def regret_figure(
    series: RegretSeries,
    *,
    lai_robbins_constant: float | None = None,
    title: str = "Cumulative regret vs. Lai–Robbins C·ln T",
    note: str | None = None,
) -> go.Figure:
    """Cumulative pseudo-regret, epoch boundaries, and C·ln T from the current epoch's start.

    Why only the current epoch gets the reference: the Lai–Robbins bound is for a stationary
    instance, and each epoch is one (the constant ``C`` is computed from the current true means).
    Traces: ``"cumulative regret"`` and, with a constant, ``"Lai–Robbins C·ln T"``.
    """
    fig = go.Figure()
    _base_layout(fig, title)
    pulls = np.asarray(series.pulls, dtype=np.int64)
    regret = np.asarray(series.regret, dtype=np.float64)
    epochs = np.asarray(series.epochs, dtype=np.int64)
    if pulls.size == 0:
        return _empty(fig, "no pulls yet")
    if pulls[0] > 0:  # every run starts at zero regret
        pulls, regret, epochs = np.r_[0, pulls], np.r_[0.0, regret], np.r_[epochs[0], epochs]
    fig.add_trace(
        go.Scatter(
            x=pulls,
            y=regret,
            mode="lines",
            name="cumulative regret",
            line={"color": "#1f2937", "width": 2.2},
            customdata=epochs,
            hovertemplate="pulls %{x}<br>regret %{y:.1f}<br>epoch %{customdata}<extra></extra>",
        )
    )
    starts = [0] + [i for i in range(1, epochs.size) if epochs[i] != epochs[i - 1]]
    for i in starts[1:]:
        fig.add_vline(x=int(pulls[i - 1]), line={"color": MODE_COLORS["RELEARNING"], "dash": "dot", "width": 1.5})
        fig.add_annotation(
            x=int(pulls[i - 1]),
            y=1,
            yref="paper",
            text=f"epoch {int(epochs[i])}",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"size": 11, "color": MODE_COLORS["RELEARNING"]},
        )
    if lai_robbins_constant is not None and math.isfinite(lai_robbins_constant):
        first = starts[-1]
        start_pull = int(pulls[first - 1]) if first > 0 else 0
        start_regret = float(regret[first - 1]) if first > 0 else 0.0
        x, y = lai_robbins_curve(start_pull, start_regret, lai_robbins_constant, int(pulls[-1]))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name="Lai–Robbins C·ln T",
                line={"color": "#dc2626", "dash": "dash", "width": 1.8},
                hovertemplate=f"C = {lai_robbins_constant:.2f}<br>pulls %{{x}}<br>C·ln T %{{y:.1f}}<extra></extra>",
            )
        )
    if note:
        fig.add_annotation(
            text=note,
            showarrow=False,
            xref="paper",
            yref="paper",
            x=1.0,
            y=0.02,
            xanchor="right",
            font={"size": 10, "color": "#6b7280"},
        )
    fig.update_layout(xaxis_title="total pulls", yaxis_title="regret")
    return fig


def phase_regret_figure(
    epochs: Sequence[int], regret: Sequence[float], pulls: Sequence[int], *, title: str = "Regret per phase"
) -> go.Figure:
    """One bar per epoch (phase): regret accrued in it, with its pulls and regret per pull in the hover."""
    fig = go.Figure()
    _base_layout(fig, title)
    if len(epochs) == 0:
        return _empty(fig, "no phase yet")
    per_pull = [r / p if p else 0.0 for r, p in zip(regret, pulls, strict=True)]
    fig.add_trace(
        go.Bar(
            x=[f"epoch {e}" for e in epochs],
            y=list(regret),
            name="regret per phase",
            marker={
                "color": [MODE_COLORS["LEARNING"] if i == 0 else MODE_COLORS["RELEARNING"] for i in range(len(epochs))]
            },
            text=[f"{r:.0f}" for r in regret],
            textposition="auto",
            customdata=np.stack([np.asarray(pulls, dtype=np.float64), np.asarray(per_pull)], axis=1),
            hovertemplate="%{x}<br>regret %{y:.1f}<br>pulls %{customdata[0]:.0f}"
            "<br>regret/pull %{customdata[1]:.4f}<extra></extra>",
        )
    )
    fig.update_layout(yaxis_title="regret", showlegend=False)
    return fig


# -- P(best) and pulls ------------------------------------------------------------------------
def prob_best_figure(
    pulls: Sequence[int],
    prob_best: Sequence[Sequence[float]],
    *,
    epochs: Sequence[int] | None = None,
    threshold: float | None = None,
    names: Sequence[str] | None = None,
    title: str = "P(arm is best) over time",
) -> go.Figure:
    """One line per arm: the posterior probability that it is the best, against total pulls.

    ``prob_best`` is a (points, K) table; arms added later have shorter rows, padded with NaN
    (no line before the arm existed). ``threshold`` draws the convergence level 1 − δ.
    """
    fig = go.Figure()
    _base_layout(fig, title)
    if len(pulls) == 0:
        return _empty(fig, "no pulls yet")
    k = max(len(row) for row in prob_best)
    table = np.full((len(prob_best), k), np.nan)
    for i, row in enumerate(prob_best):
        table[i, : len(row)] = row
    for arm in range(k):
        fig.add_trace(
            go.Scatter(
                x=list(pulls),
                y=table[:, arm],
                mode="lines",
                name=arm_label(arm, names),
                line={"color": arm_color(arm), "width": 2},
                hovertemplate=f"{arm_label(arm, names)}<br>pulls %{{x}}<br>P(best) %{{y:.3f}}<extra></extra>",
            )
        )
    if threshold is not None:
        fig.add_hline(y=threshold, line={"color": "#6b7280", "dash": "dot", "width": 1})
    if epochs is not None:
        ep = list(epochs)
        for i in range(1, len(ep)):
            if ep[i] != ep[i - 1]:
                fig.add_vline(x=pulls[i - 1], line={"color": MODE_COLORS["RELEARNING"], "dash": "dot", "width": 1.5})
    fig.update_layout(xaxis_title="total pulls", yaxis_title="P(best)", yaxis_range=[-0.02, 1.02])
    return fig


def pulls_figure(
    pulls_per_arm: Sequence[int],
    *,
    leader: int | None = None,
    best_true: int | None = None,
    retired: Sequence[int] = (),
    names: Sequence[str] | None = None,
    title: str = "Pulls per arm (current epoch)",
) -> go.Figure:
    """Bar per arm; the text on each bar is its pull count, the leader and the true best are named."""
    fig = go.Figure()
    _base_layout(fig, title)
    if len(pulls_per_arm) == 0:
        return _empty(fig, "no arms yet")
    labels = []
    for arm in range(len(pulls_per_arm)):
        tags = [
            t
            for t, on in (("leader", arm == leader), ("true best", arm == best_true), ("retired", arm in retired))
            if on
        ]
        labels.append(arm_label(arm, names) + (f"<br><sub>{', '.join(tags)}</sub>" if tags else ""))
    fig.add_trace(
        go.Bar(
            x=labels,
            y=list(pulls_per_arm),
            name="pulls",
            marker={"color": [arm_color(a) for a in range(len(pulls_per_arm))]},
            text=[str(int(n)) for n in pulls_per_arm],
            textposition="auto",
            hovertemplate="%{x}<br>%{y} pulls<extra></extra>",
        )
    )
    fig.update_layout(yaxis_title="pulls", showlegend=False)
    return fig


# -- timeline of modes, epochs and events ---------------------------------------------------
@dataclass(frozen=True)
class ModeSpan:
    """The loop was in ``mode`` (epoch ``epoch``) from ``start`` to ``end`` (unix seconds)."""

    mode: str
    epoch: int
    start: float
    end: float


@dataclass(frozen=True)
class TimelineMark:
    """One event on the timeline: where it came from (``row``), what, and a one-line label."""

    ts: float
    kind: str
    row: str
    label: str
    detail: dict[str, Any] = field(default_factory=dict)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def timeline_figure(
    spans: Sequence[ModeSpan], marks: Sequence[TimelineMark], *, title: str = "Timeline: modes, epochs and events"
) -> go.Figure:
    """Mode bands (one horizontal bar per span, coloured by mode) and event markers per source.

    Rows, top to bottom: ``environment`` (drift injected, arm added, scenario reset — from the
    environment's event log), ``lifecycle`` (converged, drift detected, epoch opened... — from
    the store's event stream), ``mode``. One marker trace per event kind, named after it.

    Why the labels are hover text and not printed next to the markers: events cluster in time
    (a drift, its detection and the new epoch land seconds apart on an axis of hours), so printed
    labels ran over each other however they were placed; the docs' old screenshot showed it.
    Markers with the label (and the event's fields) in their hover text stay legible at any
    number of events, and the legend names every kind. The labels are also kept in each trace's
    ``text`` (not drawn: the mode is ``markers``), so a test or a person reads them off the figure.
    Band captions that do not fit their band are hidden (``uniformtext``), never shrunk to specks.
    """
    fig = go.Figure()
    _base_layout(fig, title, height=330)
    if not spans and not marks:
        return _empty(fig, "no events yet")
    for mode in ("LEARNING", "MONITORING", "RELEARNING"):
        own = [s for s in spans if s.mode == mode]
        if not own:
            continue
        fig.add_trace(
            go.Bar(
                base=[_dt(s.start) for s in own],
                x=[max((s.end - s.start) * 1000.0, 1.0) for s in own],  # a date axis measures bars in ms
                y=["mode"] * len(own),
                orientation="h",
                name=mode,
                marker={"color": MODE_COLORS[mode]},
                opacity=0.85,
                text=[f"{mode.lower()} · epoch {s.epoch}" for s in own],
                textposition="inside",
                insidetextanchor="middle",
                hovertemplate=f"{mode}<br>%{{text}}<extra></extra>",
            )
        )
    kinds = list(dict.fromkeys(m.kind for m in marks))
    for kind in kinds:
        own_marks = sorted((m for m in marks if m.kind == kind), key=lambda m: m.ts)
        symbol, color = EVENT_STYLE.get(kind, ("circle", "#374151"))
        fig.add_trace(
            go.Scatter(
                x=[_dt(m.ts) for m in own_marks],
                y=[m.row for m in own_marks],
                mode="markers",
                name=kind.replace("_", " "),
                text=[m.label for m in own_marks],
                marker={"symbol": symbol, "size": 13, "color": color, "line": {"width": 1, "color": "white"}},
                hovertext=[
                    "<br>".join([f"<b>{m.label}</b>", f"{_dt(m.ts):%H:%M:%S} UTC"]
                                + [f"{k}: {v}" for k, v in m.detail.items()])
                    for m in own_marks
                ],
                hoverinfo="text",
                hoverlabel={"bgcolor": "white", "bordercolor": color, "font": {"color": "#1f2937"}},
            )
        )
    times = [t for s in spans for t in (s.start, s.end)] + [m.ts for m in marks]
    lo, hi = min(times), max(times)
    pad = max(hi - lo, 10.0)
    fig.update_xaxes(range=[_dt(lo - 0.03 * pad), _dt(hi + 0.03 * pad)])
    fig.update_layout(
        barmode="overlay", xaxis_type="date", hovermode="closest",
        uniformtext={"minsize": 10, "mode": "hide"},
        # below the plot: above it, the legend of a dozen kinds ran into the title
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0.0, "font": {"size": 11}},
        margin={"l": 80, "r": 20, "t": 40, "b": 110},
    )
    fig.update_yaxes(categoryorder="array", categoryarray=["mode", "lifecycle", "environment"], range=[-0.6, 2.5])
    return fig
