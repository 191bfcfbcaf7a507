"""SLOPE: choose a bias–variance hyperparameter (Switch-DR's τ, DRos' λ) from the log alone.

Why: these estimators trade the reward model's bias against the weights' variance through
one hyperparameter, and the right value depends on the data; the ground truth is never
available. SLOPE (a Lepski-type rule) walks from the least biased, most variable candidate
towards less variable ones and stops before an estimate's confidence interval leaves the
intersection of all the intervals before it. This is OBP's ``tuning_method="slope"``
(the SLOPE++ variant of Tucker & Lee), with its width constant √6 − 1.

References
----------
Su, Y., Srinath, P. and Krishnamurthy, A. (2020). Adaptive estimator selection for off-policy
evaluation. ICML 2020. Tucker, G. and Lee, J. (2021). Improved estimator selection for off-policy
evaluation. ICML 2021 Workshop on Reinforcement Learning Theory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from banditops.bandit.ope.base import FloatArray

WIDTH = float(np.sqrt(6.0) - 1.0)


def slope_select(candidates: Sequence[float], rows_for: Callable[[float], FloatArray]) -> float:
    """The chosen candidate; ``candidates`` are ordered from least biased (most variable) onwards.

    ``rows_for(h)`` returns the per-row rewards of the estimator at hyperparameter ``h``.

    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=5000)
    >>> rows = {3.0: 0.5 + 3 * noise, 2.0: 0.5 + 1 * noise, 1.0: 0.9 + 0.1 * noise}  # last is biased
    >>> slope_select([3.0, 2.0, 1.0], rows.__getitem__)
    2.0
    """
    if not candidates:
        raise ValueError("SLOPE needs at least one candidate hyperparameter")
    low, high = -np.inf, np.inf
    chosen = candidates[0]
    for h in candidates:
        rows = rows_for(h)
        centre = float(np.mean(rows))
        half = WIDTH * float(np.std(rows, ddof=1)) / np.sqrt(rows.shape[0])
        low, high = max(low, centre - half), min(high, centre + half)
        if low > high:
            break
        chosen = h
    return chosen
