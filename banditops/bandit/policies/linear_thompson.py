"""Linear Thompson Sampling: for each context, play the arm whose sampled score is highest.

Each decision uses its own draw from the linear-Gaussian posterior
(:class:`~banditops.bandit.posteriors.linear_gaussian.LinearGaussianPosterior`), so an arm is
played with the posterior probability that it is the best *for that user*. A batch of ``n``
contexts is decided in one vectorised call against one posterior snapshot, as the
non-contextual agents do: the posterior is rebuilt once per batch from the folded statistics,
and within the batch it does not move.

References
----------
.. [1] S. Agrawal and N. Goyal, "Thompson Sampling for contextual bandits with linear payoffs",
   ICML 2013.

Examples
--------
>>> from banditops.bandit.posteriors.linear_gaussian import LinearGaussianPosterior, LinearGaussianStats
>>> X = np.array([[1.0, 0.0], [0.0, 1.0]] * 50)
>>> arms = np.array([0, 1] * 50)
>>> stats = LinearGaussianStats.from_batch(3, arms, X, np.ones(100))  # arm 0 pays on feature 0, arm 1 on 1
>>> post = LinearGaussianPosterior(stats, scale=0.1)
>>> lin_ts = LinearThompsonSampling(np.random.default_rng(3))
>>> lin_ts.select(post, np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])).tolist()
[0, 1, 0]
>>> # arm 1 taken down: arms 0 and 2 know nothing about feature 1, so each draw decides
>>> lin_ts.select(post, np.array([[0.0, 1.0], [0.0, 1.0]]), retired=[1]).tolist()
[0, 0]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianPosterior


class LinearThompsonSampling:
    """Thompson decisions from a :class:`LinearGaussianPosterior`, many contexts per call.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of every posterior draw; inject a seeded one for reproducible runs.
    """

    #: Contexts scored per numpy call: bounds memory at about 20 MB for K = 80, d = 20.
    block_rows: int = 8192

    def __init__(self, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        self.rng = rng

    def select(
        self,
        posterior: LinearGaussianPosterior,
        contexts: npt.ArrayLike,
        shared: npt.ArrayLike | None = None,
        *,
        retired: Iterable[int] = (),
    ) -> np.ndarray:
        """One arm (int64) per row of ``contexts`` (n, d); retired arms are never chosen."""
        X = np.asarray(contexts, dtype=np.float64)
        mask = active_mask(posterior.n_arms, retired)
        inactive = None if mask.all() else ~mask
        Z = None if shared is None else np.asarray(shared, dtype=np.float64)
        per_row = Z is not None and Z.ndim == 3
        arms = np.empty(X.shape[0] if X.ndim == 2 else 0, dtype=np.int64)
        if X.ndim != 2:
            posterior.sample_scores(self.rng, X, Z)  # raises the ValueError naming the valid shape
        for start in range(0, arms.size, self.block_rows):
            stop = min(start + self.block_rows, arms.size)
            scores = posterior.sample_scores(self.rng, X[start:stop], Z[start:stop] if per_row and Z is not None else Z)
            if inactive is not None:
                scores[:, inactive] = -np.inf
            arms[start:stop] = scores.argmax(axis=1)
        return arms
