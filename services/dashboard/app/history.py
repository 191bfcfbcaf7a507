"""History over time, derived from the store's streams (so a restarted dashboard still shows it).

Why derive rather than record: the dashboard is stateless by design — it can be restarted,
scaled or opened late and still draw the whole experiment. The store's summary stream holds
one entry per applied batch (epoch, pulls before it, per-arm n/sum/sumsq); replaying it in
order rebuilds the per-epoch posterior at every point, hence P(best) over time, pulls and
regret. The replay is incremental: each refresh reads only the entries after the last one seen.

Regret per batch is the summary's ``regret`` field when the store records it; otherwise it is
estimated from the batch's per-arm pulls and the environment's *current* true means (exact
until the truth drifts, approximate for batches before a drift). The exact cumulative number,
``StoreState.regret``, is always shown in the header.

The point list is thinned (every other point dropped, step doubled) past ``max_points`` so the
memory and the per-point P(best) cost stay bounded on experiments of any length.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, SupportsInt

import numpy as np

from banditops.bandit.stats import ArmStats
from banditops.store.types import BatchSummary, Event

from .figures import ModeSpan, TimelineMark, arm_label

if TYPE_CHECKING:
    from banditops.bandit.posteriors.base import Posterior

#: Makes a posterior from (reward kind, stats, prior); injected so this module imports no policy code at import time.
PosteriorFactory = Callable[[str, ArmStats, dict[str, float] | None], "Posterior"]


@dataclass
class HistoryPoint:
    pulls: int
    epoch: int
    regret: float
    prob_best: list[float]


@dataclass
class History:
    """What the figures over time need; rebuilt incrementally from the summary stream."""

    points: list[HistoryPoint] = field(default_factory=list)
    #: Regret and pulls accrued per epoch (phase).
    phase_regret: dict[int, float] = field(default_factory=dict)
    phase_pulls: dict[int, int] = field(default_factory=dict)
    #: True when regret came (partly) from the current truth rather than the store.
    regret_estimated: bool = False


class HistoryTracker:
    """Replays the summary stream incrementally into a bounded :class:`History`.

    Thread-safe: Dash callbacks of several browser tabs may call :meth:`update` at once.
    """

    def __init__(self, posterior_factory: PosteriorFactory | None, *, max_points: int = 300, pb_draws: int = 1000):
        self.posterior_factory = posterior_factory
        self.max_points = max_points
        self.pb_draws = pb_draws
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.cursor = "0-0"
        self.history = History()
        self._epoch_stats: dict[int, ArmStats] = {}
        self._pulls = 0
        self._regret = 0.0
        self._step = 1
        self._last_point_pulls = -1
        self._identity: tuple[Any, ...] | None = None

    def update(
        self,
        fetch: Callable[[str], Sequence[BatchSummary]],
        *,
        identity: tuple[Any, ...],
        total_pulls: int,
        reward_kind: str,
        prior: dict[str, float] | None,
        truth_means: Sequence[float] | None,
    ) -> History:
        """Read the summaries after the cursor (``fetch(cursor)``, oldest first) and fold them in.

        ``identity`` names the experiment (e.g. the id of its ``experiment_started`` event); when it
        changes, or the store's ``total_pulls`` falls below what was replayed, the store was reset
        and the replay starts over.
        """
        with self._lock:
            if identity != self._identity or total_pulls < self._pulls:
                self._reset()
                self._identity = identity
            for _ in range(200):  # bounded catch-up per refresh; the rest comes on the next refresh
                batch = fetch(self.cursor)
                if not batch:
                    break
                for summary in batch:
                    self._fold(summary, reward_kind, prior, truth_means)
                    self.cursor = summary.id
            return History(
                points=list(self.history.points),
                phase_regret=dict(self.history.phase_regret),
                phase_pulls=dict(self.history.phase_pulls),
                regret_estimated=self.history.regret_estimated,
            )

    def _fold(
        self, summary: BatchSummary, reward_kind: str, prior: dict[str, float] | None, truth: Sequence[float] | None
    ) -> None:
        stats = summary.stats
        epoch = int(summary.epoch)
        previous = self._epoch_stats.get(epoch)
        self._epoch_stats[epoch] = stats if previous is None else previous + stats
        n = stats.total
        regret = batch_regret(summary, truth)
        if regret is None:
            regret = 0.0
        elif getattr(summary, "regret", None) is None:
            self.history.regret_estimated = True
        self._pulls += n
        self._regret += regret
        self.history.phase_regret[epoch] = self.history.phase_regret.get(epoch, 0.0) + regret
        self.history.phase_pulls[epoch] = self.history.phase_pulls.get(epoch, 0) + n
        if self._pulls - self._last_point_pulls < self._step and self.history.points:
            last = self.history.points[-1]
            if last.epoch == epoch:  # keep the latest value without adding a point
                last.pulls, last.regret = self._pulls, self._regret
                return
        self.history.points.append(
            HistoryPoint(
                self._pulls, epoch, self._regret, self._prob_best(self._epoch_stats[epoch], reward_kind, prior)
            )
        )
        self._last_point_pulls = self._pulls
        if len(self.history.points) > self.max_points:
            self.history.points = self.history.points[::2] + (
                [] if len(self.history.points) % 2 else [self.history.points[-1]]
            )
            self._step *= 2

    def _prob_best(self, stats: ArmStats, reward_kind: str, prior: dict[str, float] | None) -> list[float]:
        if self.posterior_factory is None or stats.n_arms == 0:
            return []
        try:
            posterior = self.posterior_factory(reward_kind, stats, prior)
            # Seeded by the pull count: a replay after a restart draws the same curve.
            rng = np.random.default_rng(self._pulls)
            return [float(p) for p in posterior.prob_best(rng, draws=self.pb_draws)]
        except Exception:  # a bad prior or a missing module must not break the history
            return []


def batch_regret(summary: BatchSummary, truth_means: Sequence[float] | None) -> float | None:
    """The batch's pseudo-regret: the store's number when it records one, else Σ n_a (μ* − μ_a).

    Examples
    --------
    >>> from banditops.store.types import Mode
    >>> s = ArmStats.from_pulls([0, 1, 1], [1.0, 0.0, 1.0], n_arms=2)
    >>> batch_regret(BatchSummary("1-0", "b", 1, Mode.LEARNING, 0, s), [0.2, 0.5])
    0.3
    """
    recorded = getattr(summary, "regret", None)
    if recorded is not None:
        return float(recorded)
    if truth_means is None or len(truth_means) == 0:
        return None
    means = np.asarray(truth_means, dtype=np.float64)
    n = summary.stats.n.astype(np.float64)
    k = min(means.size, n.size)
    gaps = float(means.max()) - means[:k]
    return round(float(np.dot(n[:k], gaps)), 12)


# -- timeline -------------------------------------------------------------------------------
_MODE_BY_EVENT = {
    "experiment_started": "LEARNING",
    "converged": "MONITORING",
    "epoch_opened": "RELEARNING",
    "relearning_done": "LEARNING",
}


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _num(fields: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = fields.get(name)
        try:
            if value is not None and value != "":
                number = float(value)
                if math.isfinite(number):
                    return number
        except (TypeError, ValueError):
            continue
    return None


def _arm(value: str | SupportsInt | None, names: Sequence[str] | None) -> str:
    """An event's arm (an internal index) as a person reads it: its name (see ``arm_label``)."""
    try:
        if value is None:
            raise TypeError("no arm")
        return arm_label(int(value), names)
    except (TypeError, ValueError):
        return f"arm {value}"


def lifecycle_label(event: Event, names: Sequence[str] | None = None) -> str:
    """One short line per store event, with the numbers a person wants to see first; arms by name.

    >>> lifecycle_label(Event("1-0", "converged", 0.0, {"leader": 1}), ["summer-sale", "winter"])
    'converged: winter'
    """
    f = event.fields
    kind = event.kind
    if kind == "converged":
        leader, pb = f.get("leader"), _num(f, "prob_best")
        return (
            f"converged: {_arm(leader, names)}" + (f" (P={pb:.2f})" if pb is not None else "")
            if leader is not None
            else "converged"
        )
    if kind in ("arm_added", "arm_retired"):
        name = str(f.get("name") or f.get("arm", "?"))
        return f"{'added' if kind == 'arm_added' else 'retired'}: {f'arm {name}' if name.isdigit() else name}"
    if kind == "drift_detected":
        parts = [f"drift detected: {_arm(f.get('arm', '?'), names)}"]
        magnitude = _num(f, "magnitude")
        if magnitude is not None:
            parts.append(f"Δ={magnitude:+.2f}")
        delay = _num(f, "delay", "delay_pulls", "detection_delay")
        if delay is not None:
            parts.append(f"delay {delay:.0f} pulls")
        change_point = _num(f, "change_point")
        if change_point is not None and delay is None:
            parts.append(f"change at pull {change_point:.0f}")
        return " ".join(parts)
    if kind == "epoch_opened":
        label = f"relearning: epoch {f.get('epoch', '?')}"
        if f.get("arm") is not None:  # opened by a drift: say which arm, how much, how late
            drift = lifecycle_label(Event(event.id, "drift_detected", event.ts, f), names)
            return f"{drift} → epoch {f.get('epoch', '?')}"
        return label
    if kind == "mode_changed":
        return f"mode → {f.get('to') or f.get('new_mode') or f.get('mode') or '?'}"
    return kind.replace("_", " ")


def env_label(event: dict[str, Any], names: Sequence[str] | None = None) -> tuple[str, str]:
    """(kind, label) of an environment event; the environment's ``drift`` is a *drift injected*.

    The environment numbers its arms as the store does (the agents pull by internal index), so
    ``names`` (the store's) name them.
    """
    kind = str(event.get("kind", "event"))
    arm = event.get("arm")
    if kind == "drift":
        before, after = event.get("before") or {}, event.get("after") or {}
        b = _num(before, "mean", "p")
        a = _num(after, "mean", "p")
        change = f" {b:g}→{a:g}" if a is not None and b is not None else ""
        return "drift_injected", f"drift injected: {_arm(arm, names)}{change}"
    if kind == "arm_added":
        return "arm_added", f"{_arm(arm, names)} added"
    if kind == "scenario_reset":
        name = (event.get("after") or {}).get("scenario") if isinstance(event.get("after"), dict) else None
        return "scenario_reset", f"scenario reset{': ' + str(name) if name else ''}"
    return kind, kind.replace("_", " ")


def build_timeline(
    events: Sequence[Event],
    env_events: Sequence[dict[str, Any]],
    *,
    now: float,
    current_mode: str | None,
    current_epoch: int | None,
    names: Sequence[str] | None = None,
) -> tuple[list[ModeSpan], list[TimelineMark]]:
    """Mode spans from the store's events (the current mode closes the last span at ``now``) and marks.

    Examples
    --------
    >>> evs = [Event("1-0", "experiment_started", 100.0, {}), Event("2-0", "converged", 160.0, {"leader": 1})]
    >>> spans, marks = build_timeline(evs, [], now=200.0, current_mode="MONITORING", current_epoch=1)
    >>> [(s.mode, s.start, s.end) for s in spans]
    [('LEARNING', 100.0, 160.0), ('MONITORING', 160.0, 200.0)]
    >>> [m.label for m in marks]
    ['experiment started', 'converged: arm 1']
    """
    spans: list[ModeSpan] = []
    marks: list[TimelineMark] = []
    mode: str | None = None
    epoch = span_epoch = 1
    start = 0.0
    for event in sorted(events, key=lambda e: e.ts):
        new_mode = _MODE_BY_EVENT.get(event.kind)
        if event.kind == "mode_changed":
            value = event.fields.get("to") or event.fields.get("new_mode") or event.fields.get("mode")
            new_mode = str(value).upper() if value else None
        if event.kind == "experiment_started":  # epochs continue across resets: read it
            started = _num(event.fields, "epoch")
            epoch = int(started) if started is not None else 1
        if event.kind == "epoch_opened":
            epoch_value = _num(event.fields, "epoch")
            epoch = int(epoch_value) if epoch_value is not None else epoch + 1
        if new_mode and new_mode != mode:
            if mode is not None:
                spans.append(ModeSpan(mode, span_epoch, start, event.ts))
            mode, start, span_epoch = new_mode, event.ts, epoch
        elif new_mode and mode == new_mode and event.kind in ("epoch_opened", "experiment_started"):
            spans.append(ModeSpan(mode, span_epoch, start, event.ts))
            start, span_epoch = event.ts, epoch
        if event.kind != "mode_changed":  # mode changes are the bands; no duplicate marker
            detail = {k: _fmt(v) for k, v in event.fields.items()}
            marks.append(TimelineMark(event.ts, event.kind, "lifecycle", lifecycle_label(event, names), detail))
    if current_mode and mode is None:
        mode, start, span_epoch = current_mode, now, current_epoch or epoch
    if mode is not None:
        last_mode = current_mode or mode
        if last_mode != mode:
            spans.append(ModeSpan(mode, span_epoch, start, now))
            mode, start, span_epoch = last_mode, now, current_epoch or epoch
        spans.append(ModeSpan(mode, current_epoch or span_epoch, start, max(now, start)))
    for env_event in env_events:
        ts = _num(env_event, "t")
        if ts is None:
            continue
        kind, label = env_label(env_event, names)
        detail = {k: _fmt(v) for k, v in env_event.items() if k not in ("kind", "t") and v is not None}
        marks.append(TimelineMark(ts, kind, "environment", label, detail))
    return spans, marks
