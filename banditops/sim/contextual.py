"""A seeded contextual world and the loop that plays any contextual policy on it.

The world (issue 15): K = 20 arms, d = 10 user features, T = 50,000 rounds. Round ``t`` brings
a user ``x_t ~ N(0, I_d)``; arm ``a`` is clicked with probability
``σ(b_a + x_t·w_a)``, a logistic function of a per-arm linear score, with
``w_a ~ N(0, I_d / d)`` (so every score has sd 1 whatever ``d``) and base rates
``b_a ~ N(-1.5, 0.5²)`` (clicks around 20%, the best arm for a user near 50%). Everything is
drawn from the seed, so ``banditops simulate --scenario contextual --policy lin_ts`` reruns it.

Why common random numbers: the world also draws one uniform ``u_t`` per round and the click is
``u_t < p_t(arm)``, so every policy run with the same seed meets the same users *and* the same
luck; differences between policies are then differences of decisions, not of draws.

Why the regret is against the contextual oracle: ``Σ_t max_a p_t(a) − p_t(A_t)`` is what a
per-user recommender loses; a non-contextual policy's regret therefore grows linearly (it can
at best play the arm that is best on average), which is exactly the gap contextual bandits are
for. Policies see ``[1, x_t]``: the same design (an intercept per arm) for every contender.

The loop decides a batch of users against one snapshot of the policy's state, then learns the
batch — the way BanditOps agents and the decision service work. Batches grow 1, 2, 4, ... up
to ``batch`` rounds, so the first rewards are used quickly.

Examples
--------
>>> world = ContextualWorld.generate(seed=0, horizon=2000)
>>> world.contexts.shape, world.click_probability.shape
((2000, 11), (2000, 20))
>>> result = play(world, CONTEXTUAL_POLICIES["lin_ts"](world, 0), batch=100)
>>> round(result.regret, 1), result.rounds
(390.8, 2000)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from banditops.bandit.policies.linear_thompson import LinearThompsonSampling
from banditops.bandit.policies.thompson import ThompsonSampling
from banditops.bandit.posteriors import make_posterior
from banditops.bandit.posteriors.linear_gaussian import (
    DEFAULT_RIDGE,
    DEFAULT_SCALE,
    LinearGaussianPosterior,
    LinearGaussianStats,
)
from banditops.bandit.stats import ArmStats
from banditops.bandit.validators import is_integer
from banditops.sim.simulation import mean_ci


@dataclass(frozen=True)
class ContextualWorld:
    """Users, click probabilities and per-round luck of one seeded run (see the module docstring)."""

    seed: int
    weights: np.ndarray  # (K, d)
    base: np.ndarray  # (K,)
    contexts: np.ndarray  # (T, 1 + d): the intercept column, then the user features
    click_probability: np.ndarray  # (T, K)
    luck: np.ndarray  # (T,) uniforms: the click of arm a in round t is luck[t] < p[t, a]

    @classmethod
    def generate(
        cls,
        seed: int,
        *,
        n_arms: int = 20,
        dim: int = 10,
        horizon: int = 50_000,
        base_mean: float = -1.5,
        base_sd: float = 0.5,
    ) -> ContextualWorld:
        for name, value, low in (("seed", seed, 0), ("n_arms", n_arms, 1), ("dim", dim, 1), ("horizon", horizon, 1)):
            if not is_integer(value) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        rng = np.random.default_rng([int(seed), 15])
        weights = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(n_arms, dim))
        base = rng.normal(base_mean, base_sd, size=n_arms)
        users = rng.normal(size=(horizon, dim))
        luck = rng.random(horizon)
        probability = 1.0 / (1.0 + np.exp(-(base + users @ weights.T)))
        contexts = np.hstack([np.ones((horizon, 1)), users])
        return cls(int(seed), weights, base, contexts, probability, luck)

    @property
    def n_arms(self) -> int:
        return int(self.weights.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.contexts.shape[0])

    @property
    def feature_dim(self) -> int:
        """Columns a policy sees: the intercept plus the d user features."""
        return int(self.contexts.shape[1])

    def clicks(self, rounds: slice, arms: np.ndarray) -> np.ndarray:
        """The (0/1) rewards of playing ``arms`` in ``rounds``."""
        rows = np.arange(self.horizon)[rounds]
        clicked: np.ndarray = (self.luck[rows] < self.click_probability[rows, arms]).astype(np.float64)
        return clicked


class ContextualPolicy(Protocol):
    """What the loop needs from a contender: decide a batch, then learn it."""

    def decide(self, contexts: np.ndarray) -> np.ndarray:
        """One arm index per row of ``contexts`` (n, 1 + d)."""
        ...

    def learn(self, contexts: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> None:
        """Fold the batch's outcomes in."""
        ...


class LinTSPolicy:
    """BanditOps Linear Thompson Sampling: the statistics a store would keep, folded with ``add``.

    ``scale="noise"`` replaces the fixed width by the posterior's own noise estimate — the pooled
    residual sd ``sqrt((RSS + 0.25) / (n + 1))`` (one pseudo-observation of variance 0.25, the
    largest a click can have) — the principled alternative the benchmark reports next to the
    default (it over-explores: see :data:`~banditops.bandit.posteriors.linear_gaussian.DEFAULT_SCALE`).

    The same LinTS as the decision service's: the defaults ``λ`` and ``v`` are the ones a
    :class:`~banditops.bandit.context_model.ContextModelSpec` gets, and a decision goes through
    :meth:`LinearGaussianPosterior.moments` and :meth:`LinearGaussianPosterior.draw`, the two
    steps :meth:`~banditops.serving.contextual.ContextualSnapshot.decide` calls per request.
    """

    def __init__(self, n_arms: int, dim: int, rng: np.random.Generator, ridge: float = DEFAULT_RIDGE,
                 scale: float | str = DEFAULT_SCALE):
        if isinstance(scale, str) and scale != "noise":
            raise ValueError(f"scale must be a number > 0 or 'noise'; got {scale!r}")
        self.stats = LinearGaussianStats.zeros(n_arms, dim)
        self.ridge, self.scale = ridge, scale
        self._rr = np.zeros(n_arms)  # Σ r² per arm: only the noise estimate needs it
        self._policy = LinearThompsonSampling(rng)
        self._posterior = LinearGaussianPosterior(self.stats, ridge, self._width())

    def _width(self) -> float:
        if not isinstance(self.scale, str):
            return float(self.scale)
        theta = LinearGaussianPosterior(self.stats, self.ridge, 1.0).theta_mean()
        rss = (self._rr - 2 * np.einsum("ai,ai->a", theta, self.stats.xr)
               + np.einsum("ai,aij,aj->a", theta, self.stats.xx, theta)).sum()
        return float(np.sqrt(max((rss + 0.25) / (self.stats.n.sum() + 1), 1e-6)))

    def decide(self, contexts: np.ndarray) -> np.ndarray:
        return self._policy.select(self._posterior, contexts)

    def learn(self, contexts: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> None:
        self.stats = self.stats.add(LinearGaussianStats.from_batch(self.stats.n_arms, arms, contexts, rewards))
        self._rr += np.bincount(arms, weights=np.square(rewards), minlength=self.stats.n_arms)
        # rebuilt once per batch, when the statistics change, as a reader of the store would
        self._posterior = LinearGaussianPosterior(self.stats, self.ridge, self._width())


class BetaThompsonPolicy:
    """The project's non-contextual Beta-Bernoulli Thompson Sampling: it ignores the user."""

    def __init__(self, n_arms: int, rng: np.random.Generator):
        self.stats = ArmStats.zeros(n_arms)
        self._policy = ThompsonSampling(rng)

    def decide(self, contexts: np.ndarray) -> np.ndarray:
        return self._policy.select(make_posterior("bernoulli", self.stats), int(contexts.shape[0]))

    def learn(self, contexts: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> None:
        self.stats = self.stats + ArmStats.from_pulls(arms, rewards, self.stats.n_arms)


PolicyFactory = Callable[[ContextualWorld, int], ContextualPolicy]

#: The contextual scenario's policies by CLI name; the benchmark adds the other libraries' ones.
CONTEXTUAL_POLICIES: dict[str, PolicyFactory] = {
    "lin_ts": lambda world, seed: LinTSPolicy(world.n_arms, world.feature_dim, np.random.default_rng([seed, 1])),
    "ts": lambda world, seed: BetaThompsonPolicy(world.n_arms, np.random.default_rng([seed, 1])),
    "lin_ts_noise": lambda world, seed: LinTSPolicy(world.n_arms, world.feature_dim, np.random.default_rng([seed, 1]),
                                                    scale="noise"),
}


@dataclass(frozen=True)
class ContextualResult:
    """One policy on one seeded world."""

    seed: int
    rounds: int
    regret: float
    regret_at: dict[int, float]  # cumulative regret at a few checkpoints
    clicks: float
    decide_seconds: float
    total_seconds: float

    @property
    def decisions_per_s(self) -> float:
        return self.rounds / self.decide_seconds if self.decide_seconds > 0 else float("inf")


def play(world: ContextualWorld, policy: ContextualPolicy, batch: int = 100) -> ContextualResult:
    """Play ``policy`` on every round of ``world`` in growing batches up to ``batch`` rounds."""
    if not is_integer(batch) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1; got {batch!r}")
    best = world.click_probability.max(axis=1)
    lost = np.empty(world.horizon)
    clicks, decide_seconds, start, size, t = 0.0, 0.0, time.perf_counter(), 1, 0
    while t < world.horizon:
        rounds = slice(t, min(t + size, world.horizon))
        contexts = world.contexts[rounds]
        began = time.perf_counter()
        arms = np.asarray(policy.decide(contexts), dtype=np.int64)
        decide_seconds += time.perf_counter() - began
        rewards = world.clicks(rounds, arms)
        policy.learn(contexts, arms, rewards)
        lost[rounds] = best[rounds] - world.click_probability[np.arange(world.horizon)[rounds], arms]
        clicks += float(rewards.sum())
        t, size = rounds.stop, min(2 * size, batch)
    curve = np.cumsum(lost)
    checkpoints = sorted({min(world.horizon, c) for c in (1000, 5000, 10_000, 20_000, world.horizon)})
    return ContextualResult(
        world.seed, world.horizon, float(curve[-1]), {c: float(curve[c - 1]) for c in checkpoints}, clicks,
        decide_seconds, time.perf_counter() - start,
    )


def simulate_contextual(
    policy: str | PolicyFactory,
    seeds: list[int],
    horizon: int = 50_000,
    batch: int = 100,
    progress: Callable[[ContextualResult], None] | None = None,
    **world: Any,
) -> dict[str, Any]:
    """A JSON-able report of ``policy`` over ``seeds``: cumulative regret and decisions/s, 95% intervals."""
    if isinstance(policy, str):
        if policy not in CONTEXTUAL_POLICIES:
            raise ValueError(f"unknown contextual policy {policy!r}; valid policies: {', '.join(CONTEXTUAL_POLICIES)}")
        name, factory = policy, CONTEXTUAL_POLICIES[policy]
    else:
        name, factory = getattr(policy, "__name__", "custom"), policy
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    results = []
    for seed in seeds:
        instance = ContextualWorld.generate(seed, horizon=horizon, **world)
        result = play(instance, factory(instance, seed), batch)
        results.append(result)
        if progress is not None:
            progress(result)
    return {
        "scenario": "contextual",
        "policy": name,
        "seeds": len(seeds),
        "horizon": horizon,
        "batch": batch,
        "summary": {
            "cumulative_regret": mean_ci([r.regret for r in results]),
            "click_rate": mean_ci([r.clicks / r.rounds for r in results]),
            "decisions_per_s": mean_ci([r.decisions_per_s for r in results]),
            "regret_at": {str(c): mean_ci([r.regret_at[c] for r in results]) for c in results[0].regret_at},
        },
        "runs": [{"seed": r.seed, "regret": round(r.regret, 3), "decisions_per_s": round(r.decisions_per_s)}
                 for r in results],
    }
