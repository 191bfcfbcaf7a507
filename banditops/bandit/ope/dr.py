"""Doubly robust (DR): the direct method plus an importance-weighted correction of its residual.

Why: unbiased when either the propensities or the reward model are right, and with less
variance than IPW whenever the reward model explains part of the reward.

References
----------
Dudík, M., Langford, J. and Li, L. (2011). Doubly robust policy evaluation and learning. ICML 2011.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import FloatArray, RowTerms


def dr_rows(terms: RowTerms, correction_weight: FloatArray) -> FloatArray:
    """q̂(x_t, π_e) + ω_t (r_t − q̂(x_t, a_t)): the per-row DR reward for any weight ω (shared by DR's variants)."""
    return terms.q_policy + correction_weight * (terms.reward - terms.q_logged)


@dataclass(frozen=True)
class DoublyRobust:
    """V̂ = mean_t [ q̂(x_t, π_e) + w_t (r_t − q̂(x_t, a_t)) ].

    >>> rng = np.random.default_rng(1)
    >>> reward = (rng.random(1000) < 0.3).astype(float)
    >>> q = np.full(1000, 0.25)
    >>> terms = RowTerms(np.ones(1000), reward, q, q)  # candidate = logger: DR = mean reward
    >>> round(DoublyRobust().estimate(terms), 3), float(round(reward.mean(), 3))
    (0.303, 0.303)
    """

    name: str = "dr"
    needs_reward_model: bool = True

    def estimate(self, terms: RowTerms) -> float:
        return float(np.mean(dr_rows(terms, terms.weight)))
