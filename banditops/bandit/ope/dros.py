"""Doubly robust with optimistic shrinkage (DRos).

Why: instead of cutting large weights (Switch-DR) it shrinks every weight smoothly,
w → λw / (w² + λ), the weight that minimises a bound on DR's mean squared error; λ = 0 is
the direct method, λ → ∞ is DR. λ is chosen from the log by SLOPE, as OBP's
``DoublyRobustWithShrinkageTuning`` does, unless it is given.

References
----------
Su, Y., Dimakopoulou, M., Krishnamurthy, A. and Dudík, M. (2020). Doubly robust off-policy
evaluation with shrinkage. ICML 2020.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import FloatArray, RowTerms
from banditops.bandit.ope.dr import dr_rows
from banditops.bandit.ope.slope import slope_select

DEFAULT_LAMBDAS = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, float("inf"))


def shrunk_weight(weight: FloatArray, lam: float) -> FloatArray:
    if np.isinf(lam):
        return weight
    return lam * weight / (weight**2 + lam)


def dros_rows(terms: RowTerms, lam: float) -> FloatArray:
    return dr_rows(terms, shrunk_weight(terms.weight, lam))


@dataclass(frozen=True)
class DoublyRobustWithShrinkage:
    """V̂ = mean_t [ q̂(x_t, π_e) + λw_t/(w_t² + λ) (r_t − q̂(x_t, a_t)) ].

    ``lam=None`` tunes λ over ``lambdas`` by SLOPE on each call.

    >>> rng = np.random.default_rng(5)
    >>> weight = rng.choice([0.5, 40.0], p=[0.98, 0.02], size=2000)
    >>> reward = (rng.random(2000) < 0.3).astype(float)
    >>> terms = RowTerms(weight, reward, np.full(2000, 0.3), np.full(2000, 0.3))
    >>> round(DoublyRobustWithShrinkage(lam=100.0).estimate(terms), 4)
    0.3073
    """

    lam: float | None = None
    lambdas: Sequence[float] = DEFAULT_LAMBDAS
    name: str = "dros"
    needs_reward_model: bool = True

    def __post_init__(self) -> None:
        if self.lam is not None and not self.lam >= 0:
            raise ValueError(f"lam must be >= 0 (or None to tune it); got {self.lam}")
        if any(not v >= 0 for v in self.lambdas):
            raise ValueError(f"every lambda candidate must be >= 0; got {list(self.lambdas)}")

    def chosen_lambda(self, terms: RowTerms) -> float:
        if self.lam is not None:
            return self.lam
        return slope_select(sorted(self.lambdas, reverse=True), lambda v: dros_rows(terms, v))

    def estimate(self, terms: RowTerms) -> float:
        return float(np.mean(dros_rows(terms, self.chosen_lambda(terms))))

    def fixed(self, terms: RowTerms) -> DoublyRobustWithShrinkage:
        """The estimator with λ frozen at its tuned value (what the bootstrap resamples)."""
        return DoublyRobustWithShrinkage(lam=self.chosen_lambda(terms), lambdas=self.lambdas)
