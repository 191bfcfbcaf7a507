"""The deployed arm choice: mode decides the policy.

LEARNING: Thompson Sampling (with a top-up to the convergence rule's minimum pulls). MONITORING:
Thompson Sampling plus the staleness exploration floor (an arm that is no longer played is still
seen, so its rise can be detected). RELEARNING: round-robin forced exploration until the budget
is spent; the store itself flips back to LEARNING.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from banditops.store.types import Mode, StoreState


def posterior_of(state: StoreState) -> Any:
    """The posterior of the current epoch, built from the store's sufficient statistics."""
    from banditops.bandit.posteriors import make_posterior

    return make_posterior(state.config.reward_kind, state.stats, state.config.prior or None)


def _thompson(posterior: Any, n: int, rng: np.random.Generator, retired: frozenset[int]) -> np.ndarray:
    from banditops.bandit.policies.thompson import ThompsonSampling

    return np.asarray(ThompsonSampling(rng).select(posterior, n, retired=tuple(sorted(retired))), dtype=np.int64)


def _round_robin(n_arms: int, n: int, start: int, retired: frozenset[int]) -> np.ndarray:
    from banditops.bandit.policies.round_robin import RoundRobin

    return np.asarray(RoundRobin(n_arms).select(n, start, retired=tuple(sorted(retired))), dtype=np.int64)


def _with_floor(arms: np.ndarray, state: StoreState, rng: np.random.Generator, agent: int) -> np.ndarray:
    """Replace a budgeted share of the Thompson choices by stale arms (the drift-watching floor).

    Which arms are stale is :class:`~banditops.bandit.policies.staleness_floor.StalenessFloor`'s rule,
    rebuilt from the store's last-pulled positions (agents are stateless between rounds). Its
    budget is applied per round here: at most ``exploration_floor × pulls`` of the round, the
    fractional part carried by a coin so that small rounds still explore.
    """
    from banditops.bandit.policies.staleness_floor import StalenessFloor

    share = state.config.exploration_floor
    if share <= 0 or arms.size == 0:
        return arms
    budget = int(share * arms.size) + int(rng.random() < (share * arms.size) % 1.0)
    if budget == 0:
        return arms
    floor = StalenessFloor(state.config.n_arms, rng, budget=min(share, 1.0))
    for arm, last in enumerate(np.asarray(state.last_pulled)[: state.config.n_arms]):
        if last >= 0:
            floor.pulled(arm, int(last))
    stale = [int(a) for a in floor.stale_arms(int(state.epoch_pulls)) if int(a) not in state.retired][:budget]
    if not stale:
        return arms
    out = arms.copy()
    out[rng.choice(arms.size, size=len(stale), replace=False)] = stale
    return out


def choose_arms(state: StoreState, n: int, rng: np.random.Generator, *, agent: int = 0) -> np.ndarray:
    """The ``n`` arms of one round, by mode (see the module docstring for why)."""
    if n < 1:
        raise ValueError(f"a round needs at least one pull; got {n}")
    k = state.config.n_arms
    if state.mode == Mode.RELEARNING and state.explore_remaining > 0:
        forced = min(n, state.explore_remaining)
        # Offsetting by the agent index spreads parallel agents over the arms.
        arms = _round_robin(k, forced, state.epoch_pulls + agent, state.retired)
        if forced < n:
            rest = _thompson(posterior_of(state), n - forced, rng, state.retired)
            arms = np.concatenate([arms, rest])
        return arms
    arms = _thompson(posterior_of(state), n, rng, state.retired)
    if state.mode == Mode.LEARNING:
        arms = _top_up(arms, state)
    elif state.mode == Mode.MONITORING:
        arms = _with_floor(arms, state, rng, agent)
    return arms


def _top_up(arms: np.ndarray, state: StoreState) -> np.ndarray:
    """Give every arm its minimum pulls first, so the convergence rule's minimum can be met.

    Thompson Sampling starves an arm that looks poor early; the convergence verdict needs
    ``min_pulls_per_arm`` of every active arm, so the first pulls of an epoch go to the arms below
    it (a standard initialisation, at most ``K × min_pulls_per_arm`` pulls per epoch).
    """
    need = state.config.min_pulls_per_arm - state.stats.padded(state.config.n_arms).n
    need = np.array([0 if a in state.retired else max(int(v), 0) for a, v in enumerate(need)])
    if need.sum() == 0:
        return arms
    forced = np.repeat(np.arange(need.size), need)[: arms.size]
    out = arms.copy()
    out[: forced.size] = forced
    return out
