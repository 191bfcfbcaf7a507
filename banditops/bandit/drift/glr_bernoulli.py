"""Bernoulli GLR change-point test (clicks, conversions, any reward in [0, 1]).

For a stream x_1..x_n and a split s the statistic is

    s · kl(μ_{1:s}, μ_{1:n}) + (n − s) · kl(μ_{s+1:n}, μ_{1:n})

with kl the Bernoulli Kullback–Leibler divergence, i.e. the log likelihood ratio of "one
change at s" against "no change". The test alarms when the largest statistic over the
candidate splits exceeds ln(3 n^1.5 / δ), which bounds the false-alarm probability of the whole
(unbounded) stream by about δ. It is the detector of GLR-klUCB, which is why it is the default
for Bernoulli arms.

References
----------
Besson, L., Kaufmann, E., Maillard, O.-A., Seznec, J. (2022). Efficient change-point detection
for tackling piecewise-stationary bandits. Journal of Machine Learning Research 23(77), 1-40.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> stream = np.concatenate([rng.random(500) < 0.9, rng.random(100) < 0.2]).astype(float)
>>> detector = BernoulliGLR(delta=0.01)
>>> for t, x in enumerate(stream):
...     if detector.update(x).drift_detected:
...         break
>>> t, detector.signal.change_point, round(detector.signal.magnitude, 3)
(507, 500, -0.908)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from banditops.bandit.drift.glr import GLRDetector

_EPS = 1e-12


def bernoulli_kl(p: np.ndarray, q: np.ndarray | float) -> np.ndarray:
    """kl(p, q) = p ln(p/q) + (1−p) ln((1−p)/(1−q)), clipped away from 0 and 1.

    >>> float(bernoulli_kl(np.array(0.5), 0.5)), round(float(bernoulli_kl(np.array(0.0), 0.9)), 4)
    (0.0, 2.3026)
    """
    p = np.clip(p, _EPS, 1 - _EPS)
    q = np.clip(q, _EPS, 1 - _EPS)
    return np.asarray(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q)))


class BernoulliGLR(GLRDetector):
    """GLR test for a change in the mean of a Bernoulli (or [0, 1]-bounded) reward stream.

    Parameters
    ----------
    delta : float, default 0.01
        False-alarm level, in (0, 1).
    min_samples : int, default 2
        No test before this many rewards.
    """

    name = "glr_bernoulli"
    binary = True

    def _check_value(self, x: float) -> float:
        value = self._check_reward(x)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"BernoulliGLR takes rewards in [0, 1] (0 or 1 for clicks); got {x!r}")
        return value

    def _check_batch_kind(self, n: int, total: float, sumsq: float) -> None:
        if not (0.0 <= total <= n and sumsq <= total + 1e-9):
            raise ValueError(f"BernoulliGLR takes batches of rewards in [0, 1]: need 0 <= sum <= n; got {total}, n={n}")

    def _split_statistics(
        self, left: tuple[np.ndarray, np.ndarray, np.ndarray], total: tuple[int, float, float]
    ) -> np.ndarray:
        n_left, s_left, _ = left
        n, s, _ = total
        n_right = n - n_left
        mu = s / n
        return np.asarray(
            n_left * bernoulli_kl(s_left / n_left, mu) + n_right * bernoulli_kl((s - s_left) / n_right, mu)
        )

    def params(self) -> dict[str, Any]:
        return {"delta": self.delta, "min_samples": self.min_samples}
