"""The one interface every drift detector speaks, and the signal it raises.

A detector watches the reward stream of ONE arm. It is fed either one reward at a time
(``update(x)``, the simulator and the decision service) or one per-arm batch summary at a time
(``update_batch(n, sum, sumsq)``, what the Redis summary stream carries to the Airflow drift
sensor). When it is convinced the stream's mean has changed it latches a :class:`DriftSignal`
(read-only ``drift_detected`` / ``signal``) until it is reset, so a caller that reads it late
still sees it.

Examples
--------
>>> from banditops.bandit.drift.glr_gaussian import GaussianGLR
>>> detector = GaussianGLR(sigma=1.0)
>>> for x in [0.0] * 50 + [5.0] * 3:
...     _ = detector.update(x)
>>> detector.drift_detected, detector.signal.change_point
(True, 50)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Self

import numpy as np


@dataclass(frozen=True)
class DriftSignal:
    """A detected change of one arm's mean.

    Attributes
    ----------
    arm : int or None
        The arm whose stream changed (``None`` while a lone detector does not know its arm).
    change_point : int
        Estimated number of pulls before the change: in the detector's own stream, or, from
        :class:`~banditops.bandit.drift.monitor.ArmDriftMonitor`, in the epoch's pull count.
    magnitude : float
        Mean after the change minus mean before it (negative: the arm got worse).
    statistic, threshold : float
        The test statistic that crossed the threshold, and that threshold.
    detector : str
        Name of the detector that raised it (``glr_gaussian``, ``page_hinkley``, ...).
    """

    arm: int | None
    change_point: int
    magnitude: float
    statistic: float
    threshold: float
    detector: str
    #: Pulls seen by the detector when it raised the alarm (its own stream).
    detected_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> DriftSignal:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in known})

    def for_arm(self, arm: int, change_point: int | None = None) -> DriftSignal:
        """The same signal attributed to ``arm`` (and re-expressed in another pull count)."""
        return replace(self, arm=arm, change_point=self.change_point if change_point is None else change_point)


class DriftDetector(ABC):
    """A change-point detector over one arm's rewards.

    Hyperparameters are public attributes named like the constructor arguments; learned state
    is private and cleared by :meth:`_reset`. ``update`` and ``update_batch`` return ``self``.
    """

    #: Short name used in signals, the CLI and serialised state.
    name: str = "detector"

    def __init__(self) -> None:
        self._reset()

    # -- learned state ---------------------------------------------------------------------
    @abstractmethod
    def _reset(self) -> None:
        """Forget everything learned (hyperparameters stay)."""

    def reset(self) -> Self:
        """Start over, e.g. after the caller acted on a signal."""
        self._reset()
        return self

    # -- feeding -----------------------------------------------------------------------------
    @abstractmethod
    def update(self, x: float) -> Self:
        """Feed one reward; raises ``ValueError`` on a reward the detector cannot take."""

    @abstractmethod
    def update_batch(self, n: int, sum: float, sumsq: float) -> Self:
        """Feed the summary of ``n`` consecutive rewards (count, sum, sum of squares)."""

    def restore(self, rewards: Sequence[float] | np.ndarray) -> Self:
        """Start over as the detector that has been fed ``rewards``, in order.

        Why: agents are stateless between rounds; each round rebuilds an arm's detector from the
        arm's reward stream kept in the store. The default replays :meth:`update` (exact, O(n)
        Python calls); a detector whose state is a function of prefix sums (the GLR tests)
        overrides it with a vectorised rebuild. Either way a change the stream already shows
        is latched (``drift_detected``) when this returns.
        """
        self._reset()
        for x in np.asarray(rewards, dtype=np.float64).tolist():
            self.update(x)
        return self

    # -- reading -----------------------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        return self._signal is not None

    @property
    def signal(self) -> DriftSignal | None:
        return self._signal

    @property
    def n_seen(self) -> int:
        """Rewards fed since the last reset."""
        return self._n_seen

    @property
    def progress(self) -> float:
        """Latest statistic as a share of its threshold (0 when unknown): how close an alarm is.

        The drift-aware policy spends confirmation pulls on an arm whose progress is high.
        """
        return 0.0

    @property
    def trend(self) -> float:
        """Direction of the change the latest test leans to: +1 a rise, -1 a fall, 0 unknown.

        With :attr:`progress` it tells a policy that a poor arm may have become good.
        """
        return 0.0

    # -- persistence -------------------------------------------------------------------------
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-able."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Learned state, JSON-able."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.name, "params": self.params(), "state": self.state_dict()}

    # -- shared validation -----------------------------------------------------------------
    _signal: DriftSignal | None
    _n_seen: int

    @staticmethod
    def _check_reward(x: float) -> float:
        value = float(x)
        if not math.isfinite(value):
            raise ValueError(f"reward must be a finite number; got {x!r}")
        return value

    @staticmethod
    def _check_batch(n: int, total: float, sumsq: float) -> tuple[int, float, float]:
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"batch count n must be an integer >= 1; got {n!r}")
        s, q = float(total), float(sumsq)
        if not (math.isfinite(s) and math.isfinite(q)):
            raise ValueError("batch sum and sumsq must be finite numbers")
        # Cauchy–Schwarz: sum^2 <= n * sumsq for any real rewards (tolerance for rounding).
        if q < 0 or s * s > n * q * (1 + 1e-9) + 1e-9:
            raise ValueError(f"inconsistent batch summary: need sumsq >= 0 and sum^2 <= n*sumsq; got {s}, {q}")
        return int(n), s, q
