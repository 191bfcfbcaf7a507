"""Shared machinery of the generalized likelihood ratio (GLR) change-point tests.

Both GLR tests (Bernoulli and Gaussian) keep prefix sums of (count, sum, sum of squares) at
every entry boundary, so the statistic of any split point costs O(1), and test only split
points on a geometric grid (1, 2, 4, ... entries from either end) so one test costs O(log n):
recent changes are found at full resolution, old ones at a resolution that shrinks with age.
An entry is one reward or one batch summary; with one-reward batches the two feeds agree
exactly.

References
----------
Besson, L., Kaufmann, E., Maillard, O.-A., Seznec, J. (2022). Efficient change-point detection
for tackling piecewise-stationary bandits. Journal of Machine Learning Research 23(77), 1-40.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from banditops.bandit.drift.base import DriftDetector, DriftSignal

_POW2 = 2 ** np.arange(62, dtype=np.int64)


def glr_threshold(n: int, delta: float) -> float:
    """Threshold ln(3 n^1.5 / δ) of Besson et al. (2022) after ``n`` observations.

    >>> round(glr_threshold(10_000, 0.01), 3)
    19.519
    """
    return math.log(3.0 * n**1.5 / delta)


class GLRDetector(DriftDetector):
    """Base of the GLR tests: prefix sums, geometric split grid, threshold, signal."""

    name = "glr"
    #: Rewards are 0/1 (the Bernoulli test).
    binary: bool = False

    def __init__(self, delta: float = 0.01, *, min_samples: int = 2) -> None:
        if not (0.0 < delta < 1.0):
            raise ValueError(f"delta (false-alarm level) must be in (0, 1); got {delta!r}")
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2; got {min_samples!r}")
        self.delta = float(delta)
        self.min_samples = int(min_samples)
        super().__init__()

    def _reset(self) -> None:
        self._cn = np.zeros(64, np.int64)
        self._cs = np.zeros(64)
        self._cq = np.zeros(64)
        self._m = 0
        self._n_seen = 0
        self._signal: DriftSignal | None = None
        self._progress = 0.0
        self._trend = 0.0

    @property
    def progress(self) -> float:
        return self._progress

    @property
    def trend(self) -> float:
        return self._trend

    @property
    def totals(self) -> tuple[int, float, float]:
        """(count, sum, sum of squares) of everything fed since the last reset."""
        m = self._m
        return int(self._cn[m]), float(self._cs[m]), float(self._cq[m])

    def totals_after(self, change_point: int) -> tuple[int, float, float]:
        """(count, sum, sumsq) of the rewards after ``change_point`` (a split this detector holds)."""
        j = int(np.searchsorted(self._cn[: self._m + 1], change_point))
        if j > self._m or self._cn[j] != change_point:
            raise ValueError(f"{change_point} is not an entry boundary of this stream")
        m = self._m
        return int(self._cn[m] - self._cn[j]), float(self._cs[m] - self._cs[j]), float(self._cq[m] - self._cq[j])

    def keep_after(self, change_point: int) -> Self:
        """Forget the rewards before ``change_point`` and the signal; keep the post-change ones.

        After an alarm the post-change samples are the freshest evidence about the arm; the
        drift-aware policy keeps them rather than starting from nothing.
        """
        j = int(np.searchsorted(self._cn[: self._m + 1], change_point))
        if j > self._m or self._cn[j] != change_point:
            raise ValueError(f"{change_point} is not an entry boundary of this stream")
        cn = self._cn[j : self._m + 1] - self._cn[j]
        cs = self._cs[j : self._m + 1] - self._cs[j]
        cq = self._cq[j : self._m + 1] - self._cq[j]
        m = cn.size - 1
        self._reset()
        self._grow(m + 1)
        self._cn[: m + 1], self._cs[: m + 1], self._cq[: m + 1] = cn, cs, cq
        self._m = m
        self._n_seen = int(cn[m])
        return self

    # -- feeding -----------------------------------------------------------------------------
    def update(self, x: float) -> Self:
        value = self._check_value(x)
        self._append(1, value, value * value)
        return self

    def update_batch(self, n: int, sum: float, sumsq: float) -> Self:
        count, total, squares = self._check_batch(n, sum, sumsq)
        self._check_batch_kind(count, total, squares)
        self._append(count, total, squares)
        return self

    def restore(self, rewards: Sequence[float] | np.ndarray) -> Self:
        """The detector after ``rewards``, rebuilt from their prefix sums in O(n) numpy.

        Only the last position is tested (the split grid of that test spans the whole stream, so a
        change the stream shows is still found); the tests a replay would have run at earlier
        positions are skipped, as they were run when those rewards arrived.
        """
        values = np.asarray(rewards, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("rewards must be finite numbers")
        if self.binary and not np.isin(values, (0.0, 1.0)).all():
            raise ValueError("Bernoulli rewards must be 0 or 1")
        self._reset()
        m = int(values.size)
        self._grow(m + 1)
        self._cn[: m + 1] = np.arange(m + 1)
        self._cs[1 : m + 1] = np.cumsum(values)
        self._cq[1 : m + 1] = np.cumsum(values * values)
        self._m = m
        self._n_seen = m
        if m:
            self._test()
        return self

    def _check_value(self, x: float) -> float:
        return self._check_reward(x)

    def _check_batch_kind(self, n: int, total: float, sumsq: float) -> None:
        return None

    def _grow(self, size: int) -> None:
        if size <= self._cn.size:
            return
        capacity = max(size, 2 * self._cn.size)
        for attr in ("_cn", "_cs", "_cq"):
            old = getattr(self, attr)
            new = np.zeros(capacity, old.dtype)
            new[: old.size] = old
            setattr(self, attr, new)

    def _append(self, n: int, total: float, sumsq: float) -> None:
        m = self._m + 1
        if m >= self._cn.size:
            self._grow(m + 1)
        cn, cs, cq = self._cn, self._cs, self._cq
        cn[m] = cn[m - 1] + n
        cs[m] = cs[m - 1] + total
        cq[m] = cq[m - 1] + sumsq
        self._m = m
        self._n_seen += n
        if self._signal is None:
            self._test()

    # -- the test ----------------------------------------------------------------------------
    def split_points(self) -> np.ndarray:
        """Entry indices tested: 1, 2, 4, ... from the start and from the end (with repeats)."""
        m = self._m
        d = _POW2[: (m - 1).bit_length()]
        return np.concatenate((d, m - d))

    @abstractmethod
    def _split_statistics(
        self, left: tuple[np.ndarray, np.ndarray, np.ndarray], total: tuple[int, float, float]
    ) -> np.ndarray:
        """GLR statistic of each candidate split, vectorised.

        ``left`` holds (count, sum, sumsq) before each candidate split, ``total`` the stream's.
        """

    def _test(self) -> None:
        m = self._m
        n = int(self._cn[m])
        if m < 2 or n < self.min_samples:
            return
        idx = self.split_points()
        n_left = self._cn[idx]
        s_left = self._cs[idx]
        stats = self._split_statistics((n_left, s_left, self._cq[idx]), (n, float(self._cs[m]), float(self._cq[m])))
        k = int(np.argmax(stats))
        statistic = float(stats[k])
        threshold = glr_threshold(n, self.delta)
        self._progress = statistic / threshold
        nl = int(n_left[k])
        before = float(s_left[k]) / nl
        after = (float(self._cs[m]) - float(s_left[k])) / (n - nl)
        self._trend = 1.0 if after > before else -1.0
        if statistic > threshold:
            self._signal = DriftSignal(
                arm=None,
                change_point=nl,
                magnitude=after - before,
                statistic=statistic,
                threshold=threshold,
                detector=self.name,
                detected_at=n,
            )

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        m = self._m
        return {
            "cn": self._cn[: m + 1].tolist(),
            "cs": self._cs[: m + 1].tolist(),
            "cq": self._cq[: m + 1].tolist(),
            "signal": None if self._signal is None else self._signal.to_dict(),
            "progress": self._progress,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._reset()
        cn = np.asarray(state["cn"], np.int64)
        self._grow(cn.size)
        self._cn[: cn.size] = cn
        self._cs[: cn.size] = np.asarray(state["cs"], np.float64)
        self._cq[: cn.size] = np.asarray(state["cq"], np.float64)
        self._m = cn.size - 1
        self._n_seen = int(cn[-1])
        self._signal = None if state.get("signal") is None else DriftSignal.from_dict(state["signal"])
        self._progress = float(state.get("progress", 0.0))
