"""Direct method (DM): the reward model's prediction averaged under the candidate.

Why: no importance weights, hence the lowest variance of the family; it is as good as the
reward model, and biased when the model is (Beygelzimer & Langford 2009; Dudík et al. 2011
use it as the baseline that doubly robust corrects).

References
----------
Dudík, M., Langford, J. and Li, L. (2011). Doubly robust policy evaluation and learning. ICML 2011.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import RowTerms


@dataclass(frozen=True)
class DirectMethod:
    """V̂ = mean_t Σ_a π_e(a|x_t,k_t) q̂(x_t,a,k_t).

    >>> rng = np.random.default_rng(0)
    >>> q_policy = rng.uniform(0.1, 0.3, 500)
    >>> terms = RowTerms(np.ones(500), np.zeros(500), np.zeros(500), q_policy)
    >>> round(DirectMethod().estimate(terms), 4)
    0.2062
    """

    name: str = "dm"
    needs_reward_model: bool = True

    def estimate(self, terms: RowTerms) -> float:
        return float(np.mean(terms.q_policy))
