"""The mode → policy choice: which policy object an agent's round plays, with which knobs.

Every mode plays the experiment's policy (``ExperimentConfig.policy``, the drift-aware ``system``
policy by default) — the very object the simulator plays, from
:func:`banditops.bandit.policies.registry.make_policy`. The mode only adds the forced pulls the
loop needs: in LEARNING a top-up to the convergence rule's ``min_pulls_per_arm`` (shared among the
``agents`` that read the same posterior, so together they top each arm up once); in RELEARNING
(a relearning a person asked for, with a ``relearn_budget``) round-robin pulls until the budget is
spent. The staleness floor's budget is ``exploration_floor`` (0 turns the floor off).
"""

from __future__ import annotations

import numpy as np

from banditops.bandit.policies.base import Policy
from banditops.bandit.policies.registry import make_policy
from banditops.bandit.posteriors import make_posterior
from banditops.bandit.posteriors.base import Posterior
from banditops.store.types import ExperimentConfig, Mode, StoreState


def posterior_of(state: StoreState) -> Posterior:
    """The posterior of the current epoch, built from the store's sufficient statistics."""
    return make_posterior(state.config.reward_kind, state.stats, state.config.prior or None)


def deployed_policy(config: ExperimentConfig, mode: Mode, rng: np.random.Generator, *, agent: int = 0) -> Policy:
    """The experiment's policy as agent ``agent`` (of ``config.agents``) plays it in ``mode``.

    The agent's index decides which due arms' probes and confirmations are its own (``player``
    of :class:`~banditops.bandit.policies.drift_aware.DriftAwarePolicy`); see the module docstring.
    """
    base, _, detector = config.policy.partition(":")
    if base == "ts" and not detector:
        return make_policy(config.policy, config.n_arms, config.reward_kind, rng, prior=config.prior or None)
    spec = config.policy if config.exploration_floor > 0 else f"ts:{detector or 'glr'}"
    params: dict[str, object] = {
        "delta": config.drift_delta,
        "prior": config.prior or None,
        "min_pulls": config.min_pulls_per_arm if mode == Mode.LEARNING else 0,
        "players": config.agents,
        "player": agent % max(config.agents, 1),
    }
    if config.exploration_floor > 0 and base == "system":
        params["floor_params"] = {"budget": config.exploration_floor}
    return make_policy(spec, config.n_arms, config.reward_kind, rng, **params)
