"""Self-normalised doubly robust (SNDR): DR whose correction term is self-normalised.

Why: DR's correction inherits IPW's variance from the weights' fluctuation; dividing it by
the mean weight (as SNIPW does for IPW) bounds it, with an O(1/n) bias.

References
----------
Kallus, N. and Uehara, M. (2019). Intrinsically efficient, stable, and bounded off-policy
evaluation for reinforcement learning. NeurIPS 2019. As implemented in Saito et al. (2021),
Open Bandit Dataset and Pipeline, NeurIPS Datasets and Benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import RowTerms
from banditops.bandit.ope.dr import dr_rows


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust:
    """V̂ = mean_t [ q̂(x_t, π_e) + (w_t / mean(w)) (r_t − q̂(x_t, a_t)) ].

    >>> rng = np.random.default_rng(2)
    >>> reward = (rng.random(1000) < 0.3).astype(float)
    >>> terms = RowTerms(np.full(1000, 3.0), reward, np.full(1000, 0.2), np.full(1000, 0.2))
    >>> round(SelfNormalizedDoublyRobust().estimate(terms), 3), float(round(reward.mean(), 3))
    (0.31, 0.31)
    """

    name: str = "sndr"
    needs_reward_model: bool = True

    def estimate(self, terms: RowTerms) -> float:
        mean_weight = float(np.mean(terms.weight))
        if mean_weight <= 0:
            raise ValueError("SNDR is undefined: the candidate gives zero probability to every logged row")
        return float(np.mean(dr_rows(terms, terms.weight / mean_weight)))
