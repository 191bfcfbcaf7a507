"""Posteriors over arm means, built from per-arm totals (:class:`~banditops.bandit.stats.ArmStats`).

``make_posterior(kind, stats, prior)`` is the one entry point the rest of BanditOps uses:
``"bernoulli"`` gives a :class:`BetaBernoulliPosterior`, ``"gaussian"`` a
:class:`NormalInverseGammaPosterior` (unknown mean and variance).

Examples
--------
>>> from banditops.bandit.stats import ArmStats
>>> post = make_posterior("bernoulli", ArmStats.from_pulls([0, 1, 1], [1, 0, 1], n_arms=2))
>>> type(post).__name__, post.mean().tolist()
('BetaBernoulliPosterior', [0.6666666666666666, 0.5])
>>> make_posterior("poisson", ArmStats.zeros(2))
Traceback (most recent call last):
...
ValueError: unknown reward kind 'poisson'; valid kinds: bernoulli, gaussian
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from banditops.bandit.posteriors.base import Posterior
from banditops.bandit.posteriors.beta_bernoulli import DEFAULT_BETA_PRIOR, BetaBernoulliPosterior, beta_params
from banditops.bandit.posteriors.normal_inverse_gamma import (
    DEFAULT_NIG_PRIOR,
    NormalInverseGammaPosterior,
    nig_params,
    sample_nig_mean,
)
from banditops.bandit.stats import ArmStats

POSTERIORS: dict[str, type[Posterior]] = {
    "bernoulli": BetaBernoulliPosterior,
    "gaussian": NormalInverseGammaPosterior,
}
POSTERIOR_KINDS: tuple[str, ...] = tuple(POSTERIORS)


def default_prior(reward_kind: str) -> dict[str, float]:
    """The default prior of a reward kind (a fresh copy)."""
    return dict(_posterior_class(reward_kind).default_prior)


def make_posterior(reward_kind: str, stats: ArmStats, prior: Mapping[str, float] | None = None) -> Posterior:
    """The posterior of ``reward_kind`` from per-arm totals and an optional prior dict.

    Raises ``ValueError`` for an unknown kind (naming the valid kinds), a bad prior (naming
    the valid keys or the violated constraint) or inconsistent stats.
    """
    return _posterior_class(reward_kind)(stats, prior)


def posterior_from_dict(payload: Mapping[str, Any]) -> Posterior:
    """Rebuild a posterior from :meth:`Posterior.to_dict` output (a logged snapshot)."""
    return make_posterior(payload["kind"], ArmStats.from_dict(payload["stats"]), payload.get("prior"))


def _posterior_class(reward_kind: str) -> type[Posterior]:
    try:
        return POSTERIORS[reward_kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown reward kind {reward_kind!r}; valid kinds: {', '.join(POSTERIOR_KINDS)}") from None


__all__ = [
    "DEFAULT_BETA_PRIOR",
    "DEFAULT_NIG_PRIOR",
    "POSTERIORS",
    "POSTERIOR_KINDS",
    "BetaBernoulliPosterior",
    "NormalInverseGammaPosterior",
    "Posterior",
    "beta_params",
    "default_prior",
    "make_posterior",
    "nig_params",
    "posterior_from_dict",
    "sample_nig_mean",
]
