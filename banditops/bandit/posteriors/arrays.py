"""Per-arm posterior parameters kept as arrays and moved one reward at a time: the policies' hot path.

The posterior classes (:mod:`banditops.bandit.posteriors`) are immutable views of sufficient
statistics, right for a store read or a snapshot; a policy that plays pull by pull needs the
same posterior updated in O(1) per reward. This module is that one conjugate update; every
policy (the simulator's and the agents' rounds alike) uses it, and a unit test holds it to
``make_posterior(kind, stats, prior)``.

References
----------
Murphy, K. P. (2007). Conjugate Bayesian analysis of the Gaussian distribution (the recursive
Normal–Inverse-Gamma update). Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., ch. 2-3.

Examples
--------
>>> import numpy as np
>>> post = PosteriorArrays("bernoulli", 2)
>>> post.add(1, 1.0); post.add(1, 1.0); post.add(0, 0.0)
>>> post.means().round(3).tolist(), post.stats().n.tolist()
([0.333, 0.75], [1, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from banditops.bandit.policies.thompson import DrawBlock
from banditops.bandit.posteriors import beta_params, make_posterior, nig_params, sample_nig_mean
from banditops.bandit.stats import ArmStats


class _MovingDrawBlock(DrawBlock):
    """The project's draw block over a posterior that moves in place, one arm at a time.

    :class:`~banditops.bandit.policies.thompson.DrawBlock` serves immutable posteriors: a new
    object drops the block. :class:`PosteriorArrays` is ONE object whose arms move with every
    reward, so after an update only the moved arms' unused draws are redrawn (:meth:`redraw`), and
    a refit of every arm drops the block (:meth:`drop`). Filling, handing out and refilling rows
    stay the draw block's own.
    """

    def drop(self) -> None:
        """Every arm moved: the next row comes from a fresh block."""
        self._posterior = None

    def redraw(self, arms: Iterable[int], draw_arm: Callable[[np.random.Generator, int, int], np.ndarray]) -> None:
        """Redraw the unused rows of ``arms`` from their posteriors now (nothing while no rows are left)."""
        remaining = self.rows - self._cursor
        if self._posterior is None or remaining <= 0:
            return
        for arm in arms:
            self._block[self._cursor:, arm] = draw_arm(self.rng, arm, remaining)


class PosteriorArrays:
    """Per-arm sufficient statistics and posterior parameters, for hot loops.

    The parameters come from the posteriors' own :func:`~banditops.bandit.posteriors.beta_params`
    and :func:`~banditops.bandit.posteriors.nig_params` whenever an arm is (re)set, and are moved
    one reward at a time with the conjugate update in between (Beta: a success adds to
    alpha, a failure to beta; Normal–Inverse-Gamma: the recursive form of ``nig_params``),
    so a pull costs O(1) scalar work; ``draw`` uses ``rng.beta`` /
    :func:`~banditops.bandit.posteriors.sample_nig_mean` exactly as the posterior classes do, and a
    unit test holds both to ``make_posterior(kind, stats, prior)``.
    """

    def __init__(self, reward_kind: str, n_arms: int, prior: Mapping[str, float] | None = None) -> None:
        # Building one posterior validates the kind and the prior and completes its defaults.
        self.prior = make_posterior(reward_kind, ArmStats.zeros(n_arms), prior).prior
        self.kind = reward_kind
        self.n_arms = n_arms
        self.n = np.zeros(n_arms, np.int64)
        self.s = np.zeros(n_arms)
        self.q = np.zeros(n_arms)
        self._stale: set[int] = set()
        self._draws: _MovingDrawBlock | None = None
        self._refit()

    #: Draws kept per arm for :meth:`draw_sequential`.
    buffer_depth = 64

    def _refit(self) -> None:
        if self._draws is not None:  # every arm's parameters may have moved
            self._draws.drop()
        if self.kind == "bernoulli":
            self._a, self._b = beta_params(self.n, self.s, self.prior["alpha"], self.prior["beta"])
        else:
            self._mu, self._kappa, self._alpha, self._beta = nig_params(self.n, self.s, self.q, **self.prior)

    def clear(self) -> None:
        self.n[:] = 0
        self.s[:] = 0.0
        self.q[:] = 0.0
        self._refit()

    def set_stats(self, stats: ArmStats) -> None:
        """Every arm's totals at once (e.g. read from the store), parameters refitted."""
        n = stats.padded(self.n_arms) if stats.n_arms < self.n_arms else stats
        self.n[:] = np.asarray(n.n[: self.n_arms], np.int64)
        self.s[:] = np.asarray(n.sum[: self.n_arms], np.float64)
        self.q[:] = np.asarray(n.sumsq[: self.n_arms], np.float64)
        self._refit()

    def set_arm(self, arm: int, rewards: np.ndarray) -> None:
        self.n[arm] = rewards.size
        self.s[arm] = float(rewards.sum())
        self.q[arm] = float((rewards * rewards).sum())
        self._refit()

    def add(self, arm: int, x: float) -> None:
        self._stale.add(arm)
        self.n[arm] += 1
        self.s[arm] += x
        self.q[arm] += x * x
        if self.kind == "bernoulli":
            self._a[arm] += x
            self._b[arm] += 1.0 - x
        else:
            kappa = float(self._kappa[arm])
            mu = float(self._mu[arm])
            self._beta[arm] += kappa * (x - mu) ** 2 / (2.0 * (kappa + 1.0))
            self._mu[arm] = (kappa * mu + x) / (kappa + 1.0)
            self._kappa[arm] = kappa + 1.0
            self._alpha[arm] += 0.5

    def add_batch(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        k = self.n_arms
        self.n += np.bincount(arms, minlength=k)
        self.s += np.bincount(arms, weights=rewards, minlength=k)
        self.q += np.bincount(arms, weights=rewards * rewards, minlength=k)
        self._refit()

    def stats(self) -> ArmStats:
        return ArmStats(self.n.copy(), self.s.copy(), self.q.copy())

    def draw_arm(self, rng: np.random.Generator, arm: int, size: int) -> np.ndarray:
        """``size`` posterior draws of one arm's mean."""
        if self.kind == "bernoulli":
            return rng.beta(self._a[arm], self._b[arm], size=size)
        return sample_nig_mean(self._mu[arm], self._kappa[arm], self._alpha[arm], self._beta[arm], rng, size=(size,))

    def draw_sequential(self, rng: np.random.Generator) -> np.ndarray:
        """One joint draw ``(K,)`` for a sequential decision, from a block of ``buffer_depth`` draws.

        Why: a sequential loop changes one arm's posterior per pull, yet a fresh joint draw
        redraws all K arms (``rng.beta`` on K elements costs ~9 µs, mostly call overhead).
        The project's draw block (:class:`~banditops.bandit.policies.thompson.DrawBlock`) keeps
        ``buffer_depth`` joint draws from the current posterior, each used once; after :meth:`add`
        only that arm's unused draws are redrawn. Every returned vector is still an exact,
        independent draw from the current posterior (unused draws of an unchanged posterior are
        as good as new ones), at about half the cost. Use one generator per instance.
        """
        if self._draws is None:
            self._draws = _MovingDrawBlock(rng, first_rows=self.buffer_depth, max_rows=self.buffer_depth)
        self._draws.rng = rng
        if self._stale:
            self._draws.redraw(self._stale, self.draw_arm)
            self._stale.clear()
        return self._draws.next(self)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` joint draws ``(n, K)`` (what a draw block asks of the posterior it serves)."""
        return self.draw(rng, n)

    def sample_one(self, rng: np.random.Generator) -> np.ndarray:
        """One joint draw ``(K,)``."""
        return self.draw(rng)

    def draw(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """Posterior draws of the arm means: ``(K,)`` for ``None``, else ``(size, K)``."""
        if self.kind == "bernoulli":
            return rng.beta(self._a, self._b) if size is None else rng.beta(self._a, self._b, size=(size, self.n_arms))
        shape = None if size is None else (size, self.n_arms)
        return sample_nig_mean(self._mu, self._kappa, self._alpha, self._beta, rng, size=shape)

    def means(self) -> np.ndarray:
        """Posterior means of the arm means (the leader is their argmax)."""
        if self.kind == "bernoulli":
            return np.asarray(self._a / (self._a + self._b))
        return self._mu.copy()
