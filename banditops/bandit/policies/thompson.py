"""Thompson Sampling: play each arm with the posterior probability that it is the best.

Drawing one sample of every arm's mean from the posterior and playing the argmax does
exactly that, with no tuning constant: arms the posterior is unsure about win some draws
(exploration), and the posterior's confidence in the leader grows as the evidence does
(exploitation). BanditOps agents decide a whole batch against one posterior snapshot read
from Redis, then write the batch's totals back in one atomic update.

Three paths, with their trade-offs:

- ``select(posterior, n)``: ``n`` decisions from one ``(n, K)`` array of draws — the
  fast path (about 2 million decisions/s for K = 10 Bernoulli arms on one core). Within
  the batch the posterior does not move; that delay is what batched Thompson Sampling
  accepts in exchange for one store round-trip per batch, and it costs little regret
  while batches are small compared with the pulls already seen.
- ``select_one(posterior)``: one decision from one joint draw, for when each reward
  arrives before the next decision. A numpy call for K draws costs about 10 µs, almost all
  of it call overhead, so the sampler keeps a block of draws from the *same* posterior
  object and hands out one row per call; the block doubles (1, 2, 4, … up to
  ``max_block_rows``) each time the same posterior is asked again. Posteriors are
  immutable, so every row is an exact, independent draw from the posterior being asked:
  a loop that builds a new posterior per pull pays one 1-row draw per decision as before,
  and a loop (or server) that reuses a snapshot gets decisions for about 1 µs each. The
  cost: the generator is consumed ahead, at most twice the draws actually used.
- ``thompson_choice(draws)``: the pure argmax, for simulations that keep ``(R, K)``
  parameter arrays of ``R`` replications and draw for all of them at once (with
  :func:`~banditops.bandit.posteriors.beta_params` and ``rng.beta``, or
  :func:`~banditops.bandit.posteriors.nig_params` and :func:`~banditops.bandit.posteriors.sample_nig_mean`):
  no Python per replication.

What is never done: serving a draw of one posterior object when asked about another.
A draw from a stale posterior is a decision that ignores the rewards seen since, so the
block is dropped as soon as a different posterior object is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.posteriors.base import Posterior, check_size
from banditops.bandit.validators import is_integer


def thompson_choice(draws: np.ndarray, retired: Iterable[int] = ()) -> np.ndarray:
    """The Thompson decision of each row of posterior draws: argmax over the last axis.

    ``draws`` has shape ``(..., K)``; retired arms are never chosen. Returns int64 indices
    of shape ``draws.shape[:-1]``.

    Examples
    --------
    >>> thompson_choice(np.array([[0.2, 0.9, 0.5], [0.7, 0.1, 0.6]]), retired=[0]).tolist()
    [1, 2]
    """
    theta = np.asarray(draws, dtype=np.float64)
    retired = tuple(retired)
    if retired:
        theta = np.where(active_mask(theta.shape[-1], retired), theta, -np.inf)
    return np.asarray(theta.argmax(axis=-1), dtype=np.int64)


class JointSampler(Protocol):
    """What a draw block draws from: a posterior, or any fixed source of joint per-arm scores."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray: ...

    def sample_one(self, rng: np.random.Generator) -> np.ndarray: ...


class DrawBlock:
    """Joint draws of ONE posterior object, handed out one unused row at a time.

    The one draw-block cache of the project (the sequential ``select_one``/``rank`` path and the
    decision service's recommender both use it): a numpy call for K draws costs ~10 µs of call
    overhead, so rows are drawn in blocks — ``first_rows`` the first time a posterior is asked,
    then doubling up to ``max_rows`` while the same object keeps being asked. Posteriors are
    immutable, so every row is an exact, independent draw from the posterior asked; a different
    posterior object drops the block at once (a stale draw would ignore the rewards seen since).

    >>> from banditops.bandit.posteriors import make_posterior
    >>> from banditops.bandit.stats import ArmStats
    >>> post = make_posterior("bernoulli", ArmStats.zeros(3))
    >>> block = DrawBlock(np.random.default_rng(0), first_rows=4, max_rows=4)
    >>> block.next(post).shape, block.rows
    ((3,), 4)
    """

    def __init__(self, rng: np.random.Generator, *, first_rows: int = 1, max_rows: int = 1024) -> None:
        if not (1 <= first_rows <= max_rows):
            raise ValueError(f"need 1 <= first_rows <= max_rows; got {first_rows}, {max_rows}")
        self.rng = rng
        self.first_rows, self.max_rows = int(first_rows), int(max_rows)
        # The posterior the block was drawn from (held, so its id cannot be reused) and the next row.
        self._posterior: JointSampler | None = None
        self._block = np.empty((0, 0))
        self._cursor = 0

    @property
    def rows(self) -> int:
        """Rows in the current block."""
        return int(self._block.shape[0])

    def next(self, posterior: JointSampler) -> np.ndarray:
        """One unused joint draw from ``posterior``, shape ``(K,)``."""
        if posterior is not self._posterior:
            self._posterior = posterior
            self._block = (posterior.sample_one(self.rng)[np.newaxis, :] if self.first_rows == 1
                           else posterior.sample(self.rng, self.first_rows))
            self._cursor = 0
        elif self._cursor >= self._block.shape[0]:
            self._block = posterior.sample(self.rng, min(2 * self._block.shape[0], self.max_rows))
            self._cursor = 0
        row: np.ndarray = self._block[self._cursor]
        self._cursor += 1
        return row


class ThompsonSampling:
    """Thompson Sampling over any :class:`~banditops.bandit.posteriors.Posterior`.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of every posterior draw; inject a seeded one for reproducible runs.

    References
    ----------
    .. [1] W. R. Thompson, "On the likelihood that one unknown probability exceeds another in
       view of the evidence of two samples", Biometrika 25(3/4), 1933.
    .. [2] S. Agrawal and N. Goyal, "Analysis of Thompson Sampling for the multi-armed bandit
       problem", COLT 2012; "Further optimal regret bounds for Thompson Sampling",
       AISTATS 2013.
    .. [3] D. Russo, B. Van Roy, A. Kazerouni, I. Osband and Z. Wen, "A tutorial on Thompson
       Sampling", Foundations and Trends in Machine Learning 11(1), 2018.

    Examples
    --------
    >>> from banditops.bandit.posteriors import make_posterior
    >>> from banditops.bandit.stats import ArmStats
    >>> stats = ArmStats(np.array([100, 100, 5]), np.array([10.0, 30.0, 1.0]), np.array([10.0, 30.0, 1.0]))
    >>> post = make_posterior("bernoulli", stats)
    >>> ts = ThompsonSampling(np.random.default_rng(42))

    Arm 2 has only 5 pulls, so its wide posterior still wins some draws (exploration):

    >>> ts.select(post, 8).tolist()
    [1, 1, 1, 1, 1, 1, 1, 2]
    >>> ts.select(post, 4, retired=[1]).tolist()
    [2, 2, 2, 2]
    >>> ts.rank(post, 2).tolist()
    [2, 1]
    >>> ts.select_one(post)
    2
    """

    #: Rows of posterior draws made per numpy call in :meth:`select`.
    block_rows: int = 65_536
    #: Largest block of draws :meth:`select_one` and :meth:`rank` keep for one posterior.
    max_block_rows: int = 1024

    def __init__(self, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        self.rng = rng
        self._draws = DrawBlock(rng, max_rows=self.max_block_rows)  # see the module docstring

    def select(self, posterior: Posterior, n: int, *, retired: Iterable[int] = ()) -> np.ndarray:
        """``n`` arms (int64), each the argmax of its own independent posterior draw.

        Draws are made in blocks of at most :attr:`block_rows` rows, so memory stays bounded
        (about 5 MB for K = 10) however large ``n`` is, and each block stays in cache.
        """
        n = check_size(n, "n")
        mask = active_mask(posterior.n_arms, retired)
        inactive = None if mask.all() else ~mask
        arms = np.empty(n, dtype=np.int64)
        for start in range(0, n, self.block_rows):
            theta = posterior.sample(self.rng, min(self.block_rows, n - start))
            if inactive is not None:
                theta[:, inactive] = -np.inf
            arms[start : start + theta.shape[0]] = theta.argmax(axis=1)
        return arms

    def select_one(self, posterior: Posterior, *, retired: Iterable[int] = ()) -> int:
        """One arm from one posterior draw: the sequential path."""
        theta = self._next_draw(posterior)
        if retired:
            theta[~active_mask(posterior.n_arms, retired)] = -np.inf
        return int(theta.argmax())

    def rank(
        self,
        posterior: Posterior,
        k: int,
        *,
        candidates: Iterable[int] | None = None,
        retired: Iterable[int] = (),
    ) -> np.ndarray:
        """The top ``k`` arms by ONE posterior draw, best first (int64).

        One draw ranks a whole page of slots consistently: the first slot is a Thompson
        decision, and each next slot is the Thompson decision among the arms left. Only
        ``candidates`` (default: every arm) that are not retired are ranked; if fewer than
        ``k`` remain, all of them are returned.
        """
        k = check_size(k, "k")
        mask = active_mask(posterior.n_arms, retired)
        if candidates is not None:
            allowed = np.zeros_like(mask)
            for arm in candidates:
                if not is_integer(arm) or not 0 <= arm < posterior.n_arms:
                    raise ValueError(f"candidate {arm!r} is not an arm; valid arms are 0..{posterior.n_arms - 1}")
                allowed[int(arm)] = True
            mask &= allowed
        arms = np.flatnonzero(mask)
        if arms.size == 0:
            raise ValueError("no candidate arm is active: every candidate is retired")
        theta = self._next_draw(posterior)[arms]
        order = np.argsort(-theta, kind="stable")[:k]
        return arms[order].astype(np.int64)

    def _next_draw(self, posterior: Posterior) -> np.ndarray:
        """One unused joint draw from ``posterior``, shape ``(K,)`` (see the module docstring)."""
        return self._draws.next(posterior)
