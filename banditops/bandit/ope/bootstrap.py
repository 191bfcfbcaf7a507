"""Nonparametric bootstrap confidence interval of any estimator of the family.

Each resample redraws the rows with replacement and recomputes the *estimator* on them
(not only the mean of fixed per-row rewards), so self-normalised estimators are
renormalised per resample, as the percentile bootstrap requires (Efron & Tibshirani 1993).
"""

from __future__ import annotations

import numpy as np

from banditops.bandit.ope.base import Estimator, RowTerms


def bootstrap_interval(estimator: Estimator, terms: RowTerms, *, alpha: float = 0.05, n_boot: int = 1000,
                       rng: np.random.Generator) -> tuple[float, float]:  # fmt: skip
    """The (alpha/2, 1-alpha/2) percentile interval of ``estimator`` over ``n_boot`` resamples.

    >>> from banditops.bandit.ope.ipw import InverseProbabilityWeighting
    >>> rng = np.random.default_rng(0)
    >>> terms = RowTerms(np.ones(400), (rng.random(400) < 0.3).astype(float), np.zeros(400), np.zeros(400))
    >>> lo, hi = bootstrap_interval(InverseProbabilityWeighting(), terms, rng=np.random.default_rng(1))
    >>> bool(lo < terms.reward.mean() < hi), round(hi - lo, 2)
    (True, 0.09)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2; got {n_boot}")
    n = terms.weight.shape[0]
    values = np.empty(n_boot)
    for b in range(n_boot):
        values[b] = estimator.estimate(terms.take(np.asarray(rng.integers(0, n, n), dtype=np.int64)))
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
