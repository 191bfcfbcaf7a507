"""Gaussian GLR change-point test (rewards with any scale: revenue, latency, slot payouts).

With a known noise level σ the statistic of a split s of x_1..x_n is the Gaussian log
likelihood ratio

    s (n − s) / (2 σ² n) · (μ_{1:s} − μ_{s+1:n})²,

the sub-Gaussian test of Besson et al. (2022). Agents rarely know σ, so by default
(``sigma=None``) the test is scale-aware: it uses the exact GLR of a mean change under an
unknown common variance,

    (n − 2) / 2 · ln( SS_total / SS_within(s) ),

where SS are sums of squared deviations (from the overall mean, and from each side's mean).
With n/2 in front this is the exact GLR; for large n it equals the known-σ statistic with σ²
replaced by its within-segment estimate, and it is invariant to the reward's unit. Using the
n − 2 degrees of freedom of that estimate instead of n (and ``min_samples``) keeps the heavy
small-sample tail of a t statistic from turning into false alarms on rarely pulled arms, at
no cost once n is in the hundreds. The threshold is ln(3 n^1.5 / δ) in both cases.

References
----------
Besson, L., Kaufmann, E., Maillard, O.-A., Seznec, J. (2022). Efficient change-point detection
for tackling piecewise-stationary bandits. Journal of Machine Learning Research 23(77), 1-40.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> stream = np.concatenate([rng.normal(5.0, 1.0, 2000), rng.normal(0.0, 1.0, 20)])
>>> detector = GaussianGLR(delta=0.01)
>>> for t, x in enumerate(stream):
...     if detector.update(x).drift_detected:
...         break
>>> t, detector.signal.change_point, round(detector.signal.magnitude, 2)
(2001, 2000, -5.49)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from banditops.bandit.drift.glr import GLRDetector


class GaussianGLR(GLRDetector):
    """GLR test for a change in the mean of a Gaussian (sub-Gaussian) reward stream.

    Parameters
    ----------
    delta : float, default 0.01
        False-alarm level, in (0, 1).
    sigma : float or None, default None
        Known noise standard deviation; ``None`` estimates it (scale-aware test).
    min_samples : int, default 6 when ``sigma`` is None, else 2
        No test before this many rewards (variance estimates from a handful of rewards are
        too noisy to trust).
    min_sd : float, default 1e-6
        Floor of the noise estimate, so a constant stream has a finite statistic.
    noise_sd : float or None, default None
        An outside estimate of the noise sd (the drift-aware policy pools it over all arms),
        added to the within-segment variance as ``noise_weight`` pseudo-rewards: a rarely
        pulled arm then gets nearly the power of the known-σ test without trusting the
        variance of its handful of rewards.
    noise_weight : float, default 10
        Weight of ``noise_sd``, in rewards.
    """

    name = "glr_gaussian"

    def __init__(
        self,
        delta: float = 0.01,
        *,
        sigma: float | None = None,
        min_samples: int | None = None,
        min_sd: float = 1e-6,
        noise_sd: float | None = None,
        noise_weight: float = 10.0,
    ) -> None:
        if sigma is not None and not (sigma > 0 and np.isfinite(sigma)):
            raise ValueError(f"sigma must be a positive finite number or None (estimate it); got {sigma!r}")
        if not (min_sd > 0):
            raise ValueError(f"min_sd must be > 0; got {min_sd!r}")
        if noise_sd is not None and not (noise_sd > 0 and np.isfinite(noise_sd)):
            raise ValueError(f"noise_sd must be a positive finite number or None; got {noise_sd!r}")
        if not (noise_weight >= 0 and np.isfinite(noise_weight)):
            raise ValueError(f"noise_weight must be a finite number >= 0; got {noise_weight!r}")
        self.sigma = None if sigma is None else float(sigma)
        self.min_sd = float(min_sd)
        #: Outside guess of the noise sd (e.g. pooled over all arms), worth ``noise_weight``
        #: rewards; a policy may update it at any time.
        self.noise_sd = None if noise_sd is None else float(noise_sd)
        self.noise_weight = float(noise_weight)
        super().__init__(delta, min_samples=min_samples if min_samples is not None else (6 if sigma is None else 2))

    def _split_statistics(
        self, left: tuple[np.ndarray, np.ndarray, np.ndarray], total: tuple[int, float, float]
    ) -> np.ndarray:
        n_left, s_left, _ = left
        n, s, q = total
        n_right = n - n_left
        gap = s_left / n_left - (s - s_left) / n_right
        between = n_left * n_right / n * gap * gap
        if self.sigma is not None:
            return np.asarray(between / (2.0 * self.sigma**2))
        floor = n * self.min_sd**2
        within = q - s_left * s_left / n_left - (s - s_left) ** 2 / n_right
        within = np.maximum(within, 0.0) + floor
        dof = n - 2.0
        if self.noise_sd is not None and self.noise_weight > 0:
            within = within + self.noise_weight * self.noise_sd**2
            dof += self.noise_weight
        return np.asarray(0.5 * dof * np.log1p(between / within))

    def params(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "sigma": self.sigma,
            "min_samples": self.min_samples,
            "min_sd": self.min_sd,
            "noise_sd": self.noise_sd,
            "noise_weight": self.noise_weight,
        }
