"""Self-normalised inverse probability weighting (SNIPW, SNIPS).

Why: dividing by the mean weight keeps the estimate inside the range of the rewards and
removes the variance that comes from the weights' own fluctuation around 1, at the cost of
a small O(1/n) bias.

References
----------
Swaminathan, A. and Joachims, T. (2015). The self-normalized estimator for counterfactual
learning. NeurIPS 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import RowTerms


@dataclass(frozen=True)
class SelfNormalizedInverseProbabilityWeighting:
    """V̂ = Σ w_t r_t / Σ w_t.

    >>> rng = np.random.default_rng(3)
    >>> weight = rng.choice([0.5, 1.5], size=2000)
    >>> reward = (rng.random(2000) < 0.4).astype(float)
    >>> terms = RowTerms(weight, reward, np.zeros(2000), np.zeros(2000))
    >>> round(SelfNormalizedInverseProbabilityWeighting().estimate(terms), 4)
    0.4171
    """

    name: str = "snipw"
    needs_reward_model: bool = False

    def estimate(self, terms: RowTerms) -> float:
        total = float(np.sum(terms.weight))
        if total <= 0:
            raise ValueError("SNIPW is undefined: the candidate gives zero probability to every logged row")
        return float(np.sum(terms.weight * terms.reward)) / total
