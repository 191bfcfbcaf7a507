"""The live policy the decision service serves: the config the promotion gate put in the store.

The gate (``banditops.loop.promotion``) keeps the live policy's config in the store's meta
(``live_policy``); every config is one of the policies off-policy evaluation can value, so what is
evaluated is what is served. Each is expressed as the *scores* one decision ranks the arms by, so
the recommender's ranking and its propensity estimate (P(an arm is ranked first), from the same
scores drawn at refresh time) hold for every policy alike:

- ``thompson``: one posterior draw per decision, from the live counts (``use_posterior``, the
  default) or the prior alone, under the config's ``prior`` [alpha, beta] when given (Bernoulli);
- ``greedy``: the posterior means (deterministic: propensity 1 for the leader);
- ``uniform``: independent uniform scores (every ranking equally likely: propensity 1/K);
- ``static``: the ``ranking``'s order first, the other arms after (propensity 1).

>>> import numpy as np
>>> from banditops.bandit.posteriors import make_posterior
>>> from banditops.bandit.stats import ArmStats
>>> post = make_posterior("bernoulli", ArmStats(np.array([10, 10, 10]), np.array([1.0, 9.0, 5.0]),
...                                             np.array([1.0, 9.0, 5.0])))
>>> LivePolicy.parse('{"policy": "static", "ranking": [2, 0]}').scores(post, np.random.default_rng(0), 1).tolist()
[[1.0, -1.0, 2.0]]
>>> LivePolicy.parse(None).policy
'thompson'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from banditops.bandit.posteriors import make_posterior

if TYPE_CHECKING:
    from banditops.bandit.posteriors.base import Posterior

POLICIES = ("thompson", "uniform", "greedy", "static")


@dataclass(frozen=True)
class LivePolicy:
    """A parsed live-policy config (hashable: snapshots compare it to know when to redraw)."""

    policy: str = "thompson"
    prior: tuple[float, float] | None = None
    use_posterior: bool = True
    ranking: tuple[int, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> LivePolicy:
        """The config kept in the store's meta (``None``: nothing promoted, Thompson on the posterior)."""
        if not raw:
            return cls()
        config = json.loads(raw)
        if not isinstance(config, dict) or config.get("policy") not in POLICIES:
            raise ValueError(f"the live policy must be one of {', '.join(POLICIES)}; got {raw[:200]!r}")
        prior = config.get("prior")
        if prior is not None:
            if isinstance(prior, dict):
                prior = [prior.get("alpha", 1.0), prior.get("beta", 1.0)]
            a, b = (float(x) for x in prior)
            if not (a > 0 and b > 0):
                raise ValueError(f"the live policy's prior must be two positive numbers; got {prior}")
            prior = (a, b)
        ranking = tuple(int(a) for a in config.get("ranking") or ())
        if config["policy"] == "static" and not ranking:
            raise ValueError("a static live policy needs a 'ranking' of arm indices")
        return cls(config["policy"], prior, bool(config.get("use_posterior", True)), ranking)

    def scores(self, posterior: Posterior, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows of per-arm scores; one decision ranks the arms by one row."""
        k = posterior.n_arms
        if self.policy == "uniform":
            return rng.random((n, k))
        if self.policy == "static":
            base = np.full(k, -1.0)
            for i, arm in enumerate(self.ranking):
                if 0 <= arm < k:
                    base[arm] = float(len(self.ranking) - i)
            return np.array(np.broadcast_to(base, (n, k)))
        source = self._posterior(posterior)
        if self.policy == "greedy":
            return np.array(np.broadcast_to(np.asarray(source.mean(), dtype=np.float64), (n, k)))
        return np.asarray(source.sample(rng, n))

    def _posterior(self, posterior: Posterior) -> Posterior:
        if self.prior is None and self.use_posterior:
            return posterior
        if posterior.kind != "bernoulli":
            raise ValueError(f"a live policy with its own prior needs a Bernoulli experiment; this one is "
                             f"{posterior.kind}")  # fmt: skip
        stats = posterior.stats if self.use_posterior else type(posterior.stats).zeros(posterior.n_arms)
        prior = {"alpha": self.prior[0], "beta": self.prior[1]} if self.prior else None
        return make_posterior("bernoulli", stats, prior)


@dataclass(frozen=True, eq=False)
class LiveScores:
    """The live policy's scores over one posterior, as a joint sampler for the draw block.

    One object per snapshot: the recommender's :class:`~banditops.bandit.policies.thompson.DrawBlock`
    keys its cached rows on it, so a refresh (a new snapshot) never serves rows of the old one.
    """

    policy: LivePolicy
    posterior: Posterior

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.policy.scores(self.posterior, rng, n)

    def sample_one(self, rng: np.random.Generator) -> np.ndarray:
        row: np.ndarray = self.policy.scores(self.posterior, rng, 1)[0]
        return row
