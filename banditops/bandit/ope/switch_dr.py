"""Switch doubly robust (Switch-DR): DR on rows with small weights, the direct method elsewhere.

Why: the few rows with huge importance weights carry most of DR's variance; switching them
to the reward model's prediction bounds the variance for a bias limited to those rows. The
threshold τ is chosen from the log by SLOPE (as OBP's ``SwitchDoublyRobustTuning``) unless
it is given.

References
----------
Wang, Y.-X., Agarwal, A. and Dudík, M. (2017). Optimal and adaptive off-policy evaluation in
contextual bandits. ICML 2017.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import FloatArray, RowTerms
from banditops.bandit.ope.dr import dr_rows
from banditops.bandit.ope.slope import slope_select

DEFAULT_TAUS = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, float("inf"))


def switch_rows(terms: RowTerms, tau: float) -> FloatArray:
    return dr_rows(terms, np.where(terms.weight <= tau, terms.weight, 0.0))


@dataclass(frozen=True)
class SwitchDoublyRobust:
    """V̂ = mean_t [ q̂(x_t, π_e) + 1{w_t ≤ τ} w_t (r_t − q̂(x_t, a_t)) ].

    ``tau=None`` tunes τ over ``taus`` by SLOPE on each call.

    >>> rng = np.random.default_rng(4)
    >>> weight = rng.choice([0.5, 40.0], p=[0.98, 0.02], size=2000)
    >>> reward = (rng.random(2000) < 0.3).astype(float)
    >>> terms = RowTerms(weight, reward, np.full(2000, 0.3), np.full(2000, 0.3))
    >>> est = SwitchDoublyRobust(tau=10.0)
    >>> round(est.estimate(terms), 4)
    0.2991
    """

    tau: float | None = None
    taus: Sequence[float] = DEFAULT_TAUS
    name: str = "switch_dr"
    needs_reward_model: bool = True

    def __post_init__(self) -> None:
        if self.tau is not None and not self.tau >= 0:
            raise ValueError(f"tau must be >= 0 (or None to tune it); got {self.tau}")
        if any(not t >= 0 for t in self.taus):
            raise ValueError(f"every tau candidate must be >= 0; got {list(self.taus)}")

    def chosen_tau(self, terms: RowTerms) -> float:
        if self.tau is not None:
            return self.tau
        return slope_select(sorted(self.taus, reverse=True), lambda t: switch_rows(terms, t))

    def estimate(self, terms: RowTerms) -> float:
        return float(np.mean(switch_rows(terms, self.chosen_tau(terms))))

    def fixed(self, terms: RowTerms) -> SwitchDoublyRobust:
        """The estimator with τ frozen at its tuned value (what the bootstrap resamples)."""
        return SwitchDoublyRobust(tau=self.chosen_tau(terms), taus=self.taus)
