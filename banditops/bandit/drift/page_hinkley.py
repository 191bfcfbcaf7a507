"""Page–Hinkley test with scale-aware defaults.

The two-sided Page–Hinkley (CUSUM-type) test accumulates the deviations of each reward from
the running mean, minus a tolerance δ, and alarms when the accumulated deviation rises more than
λ above its running minimum. River's implementation states δ and λ in reward units (defaults
0.005 and 50), which suits no bandit in particular: a click stream never reaches λ = 50 in
time, a revenue stream alarms on noise. Here δ and λ are stated in units of the stream's
running standard deviation, so one default (δ = 0.5 σ, λ = 25 σ: a shift of one σ or more
is found, noise is not) serves every scale.

References
----------
Page, E. S. (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
Hinkley, D. V. (1971). Inference about the change-point from cumulative sum tests.
Biometrika 58(3), 509-523.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> stream = np.concatenate([rng.normal(10.0, 2.0, 300), rng.normal(2.0, 2.0, 50)])
>>> detector = PageHinkley()
>>> for t, x in enumerate(stream):
...     if detector.update(x).drift_detected:
...         break
>>> t, detector.signal.change_point, round(detector.signal.magnitude, 2)
(308, 300, -7.87)
"""

from __future__ import annotations

import math
from typing import Any, Self

from banditops.bandit.drift.base import DriftDetector, DriftSignal

MODES: tuple[str, ...] = ("both", "up", "down")


class PageHinkley(DriftDetector):
    """Two-sided Page–Hinkley test, tolerance and threshold in standard deviations.

    Parameters
    ----------
    delta : float, default 0.5
        Tolerated drift per reward, in running standard deviations (about half the smallest
        shift worth finding).
    threshold : float, default 25.0
        Alarm level λ of the accumulated deviation, in running standard deviations.
    min_samples : int, default 30
        No alarm before this many rewards (the scale estimate needs them).
    mode : {"both", "up", "down"}, default "both"
        Which direction of change to watch.
    min_sd : float, default 1e-6
        Floor of the scale estimate (a constant stream).
    """

    name = "page_hinkley"

    def __init__(
        self,
        delta: float = 0.5,
        threshold: float = 25.0,
        *,
        min_samples: int = 30,
        mode: str = "both",
        min_sd: float = 1e-6,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if not (delta >= 0 and math.isfinite(delta)):
            raise ValueError(f"delta must be a finite number >= 0 (in standard deviations); got {delta!r}")
        if not (threshold > 0 and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number > 0 (in standard deviations); got {threshold!r}")
        if min_samples < 1 or min_sd <= 0:
            raise ValueError("min_samples must be >= 1 and min_sd > 0")
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.min_samples = int(min_samples)
        self.mode = mode
        self.min_sd = float(min_sd)
        super().__init__()

    def _reset(self) -> None:
        self._n_seen = 0
        self._sum = 0.0
        self._sumsq = 0.0
        # Accumulated deviations (up, down), their running minima and where they were reached.
        self._up = self._down = 0.0
        self._up_min = self._down_min = 0.0
        self._up_at = self._down_at = 0
        self._sum_at_up = self._sum_at_down = 0.0
        self._progress = 0.0
        self._signal: DriftSignal | None = None

    @property
    def progress(self) -> float:
        return self._progress

    @property
    def trend(self) -> float:
        return 1.0 if (self._up - self._up_min) >= (self._down - self._down_min) else -1.0

    def _sd(self) -> float:
        n = self._n_seen
        if n < 2:
            return self.min_sd
        var = (self._sumsq - self._sum * self._sum / n) / (n - 1)
        return max(math.sqrt(max(var, 0.0)), self.min_sd)

    def update(self, x: float) -> Self:
        value = self._check_reward(x)
        self._step(1, value, value * value)
        return self

    def update_batch(self, n: int, sum: float, sumsq: float) -> Self:
        """A batch counts as ``n`` rewards at its mean (exactly :meth:`update` when ``n`` is 1)."""
        count, total, squares = self._check_batch(n, sum, sumsq)
        self._step(count, total, squares)
        return self

    def _step(self, n: int, total: float, squares: float) -> None:
        self._n_seen += n
        self._sum += total
        self._sumsq += squares
        mean = self._sum / self._n_seen
        sd = self._sd()
        tolerance = self.delta * sd * n
        self._up += total - n * mean - tolerance
        self._down += n * mean - total - tolerance
        if self._up < self._up_min:
            self._up_min, self._up_at, self._sum_at_up = self._up, self._n_seen, self._sum
        if self._down < self._down_min:
            self._down_min, self._down_at, self._sum_at_down = self._down, self._n_seen, self._sum
        rise = (self._up - self._up_min) / sd if self.mode != "down" else 0.0
        fall = (self._down - self._down_min) / sd if self.mode != "up" else 0.0
        statistic = max(rise, fall)
        self._progress = statistic / self.threshold
        if self._signal is None and self._n_seen >= self.min_samples and statistic > self.threshold:
            at, s_at = (self._up_at, self._sum_at_up) if rise >= fall else (self._down_at, self._sum_at_down)
            before = s_at / at if at else math.nan
            after = (self._sum - s_at) / (self._n_seen - at)
            self._signal = DriftSignal(
                arm=None,
                change_point=at,
                magnitude=after - before if at else 0.0,
                statistic=statistic,
                threshold=self.threshold,
                detector=self.name,
                detected_at=self._n_seen,
            )

    def params(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "threshold": self.threshold,
            "min_samples": self.min_samples,
            "mode": self.mode,
            "min_sd": self.min_sd,
        }

    _STATE = ("_n_seen", "_sum", "_sumsq", "_up", "_down", "_up_min", "_down_min", "_up_at", "_down_at",
              "_sum_at_up", "_sum_at_down", "_progress")

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name.lstrip("_"): getattr(self, name) for name in self._STATE}
        state["signal"] = None if self._signal is None else self._signal.to_dict()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self._reset()
        for name in self._STATE:
            setattr(self, name, state[name.lstrip("_")])
        self._signal = None if state.get("signal") is None else DriftSignal.from_dict(state["signal"])
