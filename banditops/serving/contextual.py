"""Contextual decisions for one request: a Linear Thompson ranking and each slate arm's propensity.

The decision service answers a request that carries a context from a snapshot of the LinTS
posterior (:class:`~banditops.bandit.posteriors.linear_gaussian.LinearGaussianPosterior`), built
once per refresh from the store's linear statistics; nothing here does I/O.

The decision: ONE posterior draw of every allowed arm's score for this user, the arms ranked by
it (Agrawal & Goyal's Linear Thompson Sampling; with a slate, the later slots follow the same
draw, as the non-contextual recommender does).

The decision's draw is :meth:`LinearGaussianPosterior.draw` of :meth:`LinearGaussianPosterior.moments`,
the very step the simulator's LinTS samples with (the benchmark measures what is served).

The propensities: the probability that a Thompson draw puts each slate arm *first* for this
user and this candidate set. There is no closed form with the shared part (the arms' scores are
correlated through β), so it is estimated by Monte Carlo: ``draws`` (M, default 256) standard
normal rows are drawn once per snapshot, each request turns them into M posterior score draws
for its own context (scores are affine in the normals, so this costs an (M × arms) multiply-add,
not M fresh draws), and the estimate of arm ``a`` is

    p̂(a) = (#{rows whose best arm is a} + [a is this decision's first arm]) / (M + 1)

— the decision's own draw is one more posterior draw, so the arm actually shown first never gets
a propensity of 0 (an inverse-propensity weight would be infinite). Its Monte Carlo standard
error is ``sqrt(p(1 − p) / (M + 1))``, at most ``0.5 / sqrt(M + 1)`` = 0.031 for M = 256; an arm
with p well below ``1/M`` is estimated as 0 or ``1/(M + 1)``. The rows are shared by every request
of one snapshot (redrawn at each refresh, at least every second), so two users with the same
context get the same estimate: the errors are correlated within a snapshot, not across them.

Why the count is cheap without a shared part: an arm whose best score over the M rows
(``mean + sd · max_m noise``) is below another arm's worst (``mean + sd · min_m noise``) wins no
row, so only the arms that can win one are scored — usually a handful of 80 once the posterior
has data — and the count is exactly the full (M × arms) one (a unit test checks it). With a
shared part the rows also move with β, so every allowed arm is scored.

References
----------
.. [1] S. Agrawal and N. Goyal, "Thompson Sampling for contextual bandits with linear payoffs",
   ICML 2013.
.. [2] L. Li, W. Chu, J. Langford and X. Wang, "Unbiased offline evaluation of
   contextual-bandit-based news article recommendation algorithms", WSDM 2011 (why each
   decision is logged with its context and propensity).

Examples
--------
>>> import numpy as np
>>> from banditops.bandit.context_model import ContextModelSpec
>>> from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
>>> spec = ContextModelSpec(numeric=("x",))
>>> X = np.array([[1.0, 1.0], [1.0, -1.0]] * 200)
>>> arms = np.array([0, 1] * 200)
>>> stats = LinearGaussianStats.from_batch(2, arms, X, (arms == 0).astype(float))  # arm 0 always clicks
>>> snap = ContextualSnapshot.build(spec, stats, np.random.default_rng(0), draws=512)
>>> choice = snap.decide(np.array([1.0, 1.0]), [0, 1], 2, np.random.default_rng(1))
>>> choice.arms, [round(p, 3) for p in choice.propensities]
((0, 1), [1.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianPosterior, LinearGaussianStats
from banditops.bandit.validators import is_integer

#: Monte Carlo rows per snapshot for the propensities (error <= 0.5 / sqrt(M + 1) = 0.031). Why not
#: more: each request pays an (M x arms) multiply-add and argmax over the arms that can win a row
#: (all of them with a shared part: about 60 µs for 80 arms at 256 rows; a few without one).
DEFAULT_PROPENSITY_DRAWS = 256


@dataclass(frozen=True, slots=True)
class ContextualChoice:
    """The ranked slate for one user and, aligned with it, each arm's P(ranked first)."""

    arms: tuple[int, ...]
    propensities: tuple[float, ...]


@dataclass(frozen=True)
class ContextualSnapshot:
    """The LinTS posterior of one store refresh, with the normals its propensities reuse."""

    spec: ContextModelSpec
    posterior: LinearGaussianPosterior
    #: (K, M) standard normals, one row per ARM (a request gathers whole rows of the arms it
    #: scores: contiguous copies): draw m's score of arm a is mean_a + sd_a · noise[a, m] (+ shared part).
    noise: np.ndarray
    #: (M, k) standard normals of the shared weights' draws.
    shared_noise: np.ndarray
    #: (K,) each arm's largest and smallest normal over the M rows: the exact pruning bounds.
    noise_max: np.ndarray
    noise_min: np.ndarray

    @classmethod
    def build(
        cls, spec: ContextModelSpec, stats: LinearGaussianStats, rng: np.random.Generator,
        draws: int = DEFAULT_PROPENSITY_DRAWS,
    ) -> ContextualSnapshot:
        if not is_integer(draws) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1; got {draws!r}")
        posterior = LinearGaussianPosterior(stats, ridge=spec.ridge, scale=spec.scale)
        noise = np.ascontiguousarray(rng.standard_normal((draws, stats.n_arms)).T)
        return cls(spec, posterior, noise, rng.standard_normal((draws, stats.shared_dim)),
                   noise.max(axis=1), noise.min(axis=1))

    @property
    def n_arms(self) -> int:
        return self.posterior.n_arms

    @property
    def draws(self) -> int:
        return int(self.noise.shape[1])

    def decide(
        self, x: np.ndarray, allowed: Sequence[int] | np.ndarray | None, k: int, rng: np.random.Generator,
        arm_features: np.ndarray | None = None,
    ) -> ContextualChoice:
        """Rank ``k`` of the ``allowed`` arm indices for the encoded context ``x`` (d,).

        ``allowed`` ``None`` means every arm of the model, in index order (the service passes it
        when no arm is retired and no candidates were sent: nothing to gather, ~30 % of the call).
        ``arm_features`` (len(allowed), shared_dim) is required exactly when the model has a
        shared part. The caller has validated ``x``, ``allowed`` and ``k``.
        """
        post = self.posterior
        idx = None if allowed is None else np.asarray(allowed, dtype=np.intp)
        moments = post.moments(x[None], None if arm_features is None else arm_features[None], idx)
        own = post.draw(moments, rng)[0]  # the decision: the same sampling step as the simulator's
        order = (-own).argsort(kind="stable")[:k]  # methods, not np.* wrappers: a request pays for few calls
        slate = order.tolist()  # positions in ``allowed``
        mean, sd, coupling = moments.mean[0], moments.sd[0], moments.coupling[0]
        if post.shared_dim:
            rows = (self.noise if idx is None else self.noise[idx]) * sd[:, None] + mean[:, None]
            rows += coupling @ post.shared_draws(self.shared_noise).T
            wins = np.bincount(rows.argmax(axis=0), minlength=mean.size)[order].tolist()
        else:
            # Exact pruning: an arm whose best row score is below some arm's worst row score wins no
            # row, so the Monte Carlo count runs over the arms that can win one (a handful once
            # the posterior has data) and gives exactly what the full (M x arms) count would.
            low, high = (self.noise_min, self.noise_max) if idx is None else (self.noise_min[idx], self.noise_max[idx])
            lowest = sd * low
            lowest += mean
            highest = sd * high
            highest += mean
            alive = (highest >= np.maximum.reduce(lowest)).nonzero()[0]
            if alive.size == 1:
                won = {int(alive[0]): self.draws}
            else:
                rows = self.noise.take(alive if idx is None else idx.take(alive), axis=0)  # a plain row gather
                rows *= sd.take(alive)[:, None]
                rows += mean.take(alive)[:, None]
                won = dict(zip(alive.tolist(), np.bincount(rows.argmax(axis=0), minlength=alive.size).tolist(),
                               strict=True))
            wins = [won.get(position, 0) for position in slate]
        wins[0] += 1  # the decision's own draw put slate[0] first
        total = self.draws + 1
        arms = slate if idx is None else idx[order].tolist()
        return ContextualChoice(tuple(arms), tuple(w / total for w in wins))
