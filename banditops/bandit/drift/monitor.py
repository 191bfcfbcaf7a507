"""Per-arm drift monitoring over batch summaries: what the Airflow drift sensor runs.

The Redis store appends one :class:`~banditops.store.types.BatchSummary` per applied batch
(per-arm count, sum, sum of squares, and ``pulls_before``: the epoch's pull count before the
batch). :class:`ArmDriftMonitor` keeps one detector per arm, feeds each arm's share of every
batch to that arm's detector, and reports the first change it is sure of as a
:class:`~banditops.bandit.drift.base.DriftSignal` whose ``change_point`` is in the epoch's pull count
(the ``pulls_before`` of the first batch after the change), so it lines up with the store,
MLflow and the dashboard.

Every arm is watched, not only the played one: an arm that was poor and became the best is
seen as soon as the exploration floor pulls it again.

Its whole state is JSON (:meth:`ArmDriftMonitor.to_dict` / :meth:`ArmDriftMonitor.from_dict`),
so a deferrable trigger that is restarted on another triggerer rebuilds it exactly, or simply
replays the summary stream from the epoch's start.

References
----------
Besson, L., Kaufmann, E., Maillard, O.-A., Seznec, J. (2022). Efficient change-point detection
for tackling piecewise-stationary bandits. Journal of Machine Learning Research 23(77), 1-40
(one GLR test per arm, fed only that arm's rewards).

Usage from a sensor/trigger::

    monitor = ArmDriftMonitor(n_arms=config.n_arms, reward_kind=config.reward_kind,
                              delta=config.drift_delta)
    for summary in store.summaries(since=cursor):
        if summary.epoch != epoch:
            continue
        signal = monitor.update(summary.stats, summary.pulls_before)
        if signal is not None:
            ...  # branch into relearning with signal.to_dict()

Examples
--------
>>> import numpy as np
>>> from banditops.bandit.stats import ArmStats
>>> rng = np.random.default_rng(0)
>>> monitor = ArmDriftMonitor(n_arms=2, reward_kind="gaussian")
>>> pulls, signal = 0, None
>>> while signal is None:
...     means = [1.0, 3.0] if pulls < 2000 else [1.0, 0.0]   # arm 1 drops at pull 2000
...     arms = rng.integers(0, 2, 100)
...     stats = ArmStats.from_pulls(arms, rng.normal(np.take(means, arms), 1.0), n_arms=2)
...     signal = monitor.update(stats, pulls_before=pulls)
...     pulls += 100
>>> signal.arm, signal.change_point, round(signal.magnitude, 2), pulls
(1, 2000, -3.07, 2100)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from banditops.bandit.arms import REWARD_KINDS
from banditops.bandit.drift import detector_from_dict, make_detector
from banditops.bandit.drift.base import DriftDetector, DriftSignal
from banditops.bandit.stats import ArmStats


class ArmDriftMonitor:
    """One drift detector per arm, fed with per-batch per-arm summaries.

    Parameters
    ----------
    n_arms : int
        Arms watched; grows by itself when a summary carries more arms (arms added at runtime).
    reward_kind : {"bernoulli", "gaussian"}
        Picks the GLR test of that kind.
    detector : str, default "glr"
        A name from :data:`banditops.bandit.drift.DETECTORS`.
    delta : float, default 0.01
        False-alarm level of each arm's test.
    detector_params : dict, optional
        Extra hyperparameters of the detector.

    Notes
    -----
    Once an arm alarms the monitor latches: :meth:`update` keeps returning that signal until
    :meth:`reset` (a new epoch starts a new monitor or resets this one).
    """

    def __init__(
        self,
        n_arms: int,
        reward_kind: str,
        *,
        detector: str = "glr",
        delta: float = 0.01,
        detector_params: dict[str, Any] | None = None,
    ) -> None:
        if int(n_arms) != n_arms or n_arms < 1:
            raise ValueError(f"n_arms must be an integer >= 1; got {n_arms!r}")
        if reward_kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {reward_kind!r}; valid kinds: {', '.join(REWARD_KINDS)}")
        self.reward_kind = reward_kind
        self.detector = detector
        self.delta = float(delta)
        self.detector_params = dict(detector_params or {})
        make_detector(detector, reward_kind, delta=delta, **self.detector_params)  # validate the name once
        self._n_arms = int(n_arms)
        self.reset()

    # -- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every arm's history and any signal (e.g. a new epoch)."""
        self._detectors = [self._new_detector() for _ in range(self._n_arms)]
        self._cum_n: list[list[int]] = [[0] for _ in range(self._n_arms)]
        self._positions: list[list[int]] = [[] for _ in range(self._n_arms)]
        self._signal: DriftSignal | None = None
        self._batches = 0

    def _new_detector(self) -> DriftDetector:
        return make_detector(self.detector, self.reward_kind, delta=self.delta, **self.detector_params)

    @property
    def n_arms(self) -> int:
        return self._n_arms

    @property
    def batches(self) -> int:
        """Batch summaries fed since the last reset."""
        return self._batches

    @property
    def detectors(self) -> tuple[DriftDetector, ...]:
        return tuple(self._detectors)

    @property
    def drift_detected(self) -> bool:
        return self._signal is not None

    @property
    def signal(self) -> DriftSignal | None:
        return self._signal

    def progress(self) -> np.ndarray:
        """Per arm, how close its test is to an alarm (statistic / threshold)."""
        return np.array([d.progress for d in self._detectors])

    # -- feeding -----------------------------------------------------------------------------
    def update(self, stats: ArmStats, pulls_before: int) -> DriftSignal | None:
        """Feed one batch summary; returns the (latched) signal, or ``None`` while no drift.

        ``pulls_before`` is the epoch's pull count before this batch. Invalid summaries raise
        ``ValueError`` and change nothing.
        """
        if int(pulls_before) != pulls_before or pulls_before < 0:
            raise ValueError(f"pulls_before must be an integer >= 0; got {pulls_before!r}")
        self._validate(stats)
        while self._n_arms < stats.n_arms:
            self._detectors.append(self._new_detector())
            self._cum_n.append([0])
            self._positions.append([])
            self._n_arms += 1
        self._batches += 1
        fresh: list[DriftSignal] = []
        for arm in np.flatnonzero(stats.n > 0):
            k = int(arm)
            n = int(stats.n[k])
            detector = self._detectors[k]
            was_alarmed = detector.drift_detected
            detector.update_batch(n, float(stats.sum[k]), float(stats.sumsq[k]))
            self._cum_n[k].append(self._cum_n[k][-1] + n)
            self._positions[k].append(int(pulls_before))
            if detector.signal is not None and not was_alarmed:
                fresh.append(detector.signal.for_arm(k, self._epoch_position(k, detector.signal.change_point)))
        if self._signal is None and fresh:
            self._signal = max(fresh, key=_strength)
        return self._signal

    def _validate(self, stats: ArmStats) -> None:
        if not (stats.n.shape == stats.sum.shape == stats.sumsq.shape) or stats.n.ndim != 1:
            raise ValueError("stats must hold 1-D n, sum and sumsq of the same length")
        if np.any(stats.n < 0):
            raise ValueError("arm counts must be >= 0")
        if not (np.all(np.isfinite(stats.sum)) and np.all(np.isfinite(stats.sumsq))):
            raise ValueError("batch sums must be finite numbers")
        for k in np.flatnonzero(stats.n > 0):
            DriftDetector._check_batch(int(stats.n[k]), float(stats.sum[k]), float(stats.sumsq[k]))
            if self.reward_kind == "bernoulli" and not (0.0 <= stats.sum[k] <= stats.n[k]):
                raise ValueError(f"Bernoulli rewards must be in [0, 1]: arm {int(k)} has sum {stats.sum[k]} > n")

    def _epoch_position(self, arm: int, arm_pulls: int) -> int:
        """Epoch pull count where the arm's ``arm_pulls``-th pull (0-based) happened."""
        cum = self._cum_n[arm]
        j = int(np.searchsorted(cum, arm_pulls, side="right")) - 1
        j = min(max(j, 0), len(self._positions[arm]) - 1)
        return self._positions[arm][j] + (arm_pulls - cum[j]) if arm_pulls > cum[j] else self._positions[arm][j]

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "n_arms": self._n_arms,
            "reward_kind": self.reward_kind,
            "detector": self.detector,
            "delta": self.delta,
            "detector_params": self.detector_params,
            "batches": self._batches,
            "arms": [d.to_dict() for d in self._detectors],
            "cum_n": self._cum_n,
            "positions": self._positions,
            "signal": None if self._signal is None else self._signal.to_dict(),
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ArmDriftMonitor:
        monitor = cls(
            payload["n_arms"],
            payload["reward_kind"],
            detector=payload.get("detector", "glr"),
            delta=payload.get("delta", 0.01),
            detector_params=payload.get("detector_params"),
        )
        monitor._detectors = [detector_from_dict(d) for d in payload["arms"]]
        monitor._cum_n = [list(map(int, c)) for c in payload["cum_n"]]
        monitor._positions = [list(map(int, p)) for p in payload["positions"]]
        monitor._batches = int(payload.get("batches", 0))
        monitor._signal = None if payload.get("signal") is None else DriftSignal.from_dict(payload["signal"])
        return monitor


def _strength(signal: DriftSignal) -> float:
    ratio = signal.statistic / signal.threshold if signal.threshold and np.isfinite(signal.threshold) else np.nan
    return float(ratio) if np.isfinite(ratio) else abs(signal.magnitude)
