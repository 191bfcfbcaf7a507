"""Agent rounds and batches: read state → choose arms → pull once → apply atomically.

Airflow tasks are thin wrappers around these functions; nothing here imports Airflow, so the
same loop runs under ``dag.test()``, in a plain test, or under another scheduler.

Why it is shaped this way
-------------------------
* **A round is a transaction.** :func:`run_agent_round` reads one consistent state, decides
  the whole round from it, pulls the environment in ONE call and applies the rewards in ONE
  atomic store script keyed by the batch id ``<dag_id>/<run_id>/<map_index>/<round>`` and the
  epoch it sampled under. A retried Airflow task re-sends the same batch ids (refused as
  duplicates); a slow agent that sampled under an old epoch is refused as stale.
* **Randomness is derived from the batch id** (:func:`round_rng`), so a retry draws the same
  decisions and a run is reproducible from its ids and the settings' seed.
* **Mode decides the policy.** LEARNING: Thompson Sampling. MONITORING: Thompson Sampling plus
  the staleness exploration floor (an arm that is no longer played is still seen, so its rise
  can be detected). RELEARNING: round-robin forced exploration until the budget is spent; the
  store itself flips back to LEARNING.
* **Drift watching is resumable** (:class:`DriftWatch`): the summaries of the current epoch since
  convergence are replayed into a fresh detector, and the stream position is kept in Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from banditops.loop.arm_choice import choose_arms
from banditops.loop.ids import make_batch_id, round_rng
from banditops.store.types import ExperimentConfig, StoreState


class PullsClient(Protocol):
    """What an agent needs from the environment (``banditops.clients.env_client.EnvClient``)."""

    def pulls(self, arms: Sequence[int], *, epoch: int | None = None, batch_id: str | None = None) -> Any: ...


# -- one round, one batch -----------------------------------------------------------------------
@dataclass(frozen=True)
class RoundResult:
    """What one agent round did; small and JSON-able (it travels through XCom)."""

    batch_id: str
    status: str
    mode: str
    epoch: int
    pulls: int
    regret: float
    total_pulls: int
    pulls_per_arm: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_agent_round(
    store: Any,
    env: PullsClient,
    policy: Any | None,
    batch_id: str,
    rng: np.random.Generator,
    *,
    pulls: int | None = None,
    agent: int = 0,
) -> RoundResult:
    """Read state → choose arms → pull the environment once → apply atomically.

    Parameters
    ----------
    store : BanditStore
    env : EnvClient
        Anything with ``pulls(arms) -> PullResult(rewards, regret, total_pulls)``.
    policy : callable or None
        ``policy(state, n, rng, agent=...) -> arms``; ``None`` uses :func:`choose_arms`.
    batch_id : str
        The idempotency key (:func:`make_batch_id`).
    rng : numpy.random.Generator
    pulls : int, optional
        Pulls in this round; default the experiment's ``pulls_per_round``.
    agent : int
        The agent's index (spreads forced exploration across parallel agents).
    """
    state: StoreState = store.state()
    n = int(pulls or state.config.pulls_per_round)
    chooser: Callable[..., np.ndarray] = policy or choose_arms
    arms = np.asarray(chooser(state, n, rng, agent=agent), dtype=np.int64)
    outcome = env.pulls(arms.tolist(), epoch=state.epoch, batch_id=batch_id)  # booked in the env's ledger
    applied = store.apply_batch(batch_id, state.epoch, arms, np.asarray(outcome.rewards), regret=float(outcome.regret))
    counts = np.bincount(arms, minlength=state.config.n_arms).tolist()
    return RoundResult(
        batch_id=batch_id,
        status=applied.status,
        mode=str(state.mode),
        epoch=state.epoch,
        pulls=int(arms.size),
        regret=float(outcome.regret),
        total_pulls=int(applied.total_pulls),
        pulls_per_arm=[int(c) for c in counts],
    )


@dataclass(frozen=True)
class BatchReport:
    """One agent's rounds, summed: what the Airflow task returns through XCom."""

    agent: int
    applied: int
    duplicate: int
    stale_epoch: int
    pulls_applied: int
    regret_applied: float
    last_epoch: int
    last_mode: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_agent_batch(
    store: Any,
    env: PullsClient,
    *,
    dag_id: str,
    run_id: str,
    map_index: int,
    rounds: int | None = None,
    pulls: int | None = None,
    seed: int | None = None,
    policy: Any | None = None,
) -> BatchReport:
    """Several rounds of one agent (one mapped Airflow task), each its own transaction."""
    config: ExperimentConfig = store.config()
    counts = {"applied": 0, "duplicate": 0, "stale_epoch": 0}
    pulls_applied, regret_applied = 0, 0.0
    last: RoundResult | None = None
    for round_index in range(int(rounds or config.rounds)):
        bid = make_batch_id(dag_id, run_id, map_index, round_index)
        if config.source == "production":
            last = fold_production_feedback(store, bid)
        else:
            last = run_agent_round(store, env, policy, bid, round_rng(bid, seed), pulls=pulls, agent=map_index)
        counts[last.status] = counts.get(last.status, 0) + 1
        if last.status == "applied":
            pulls_applied += last.pulls
            regret_applied += last.regret
    return BatchReport(
        agent=map_index,
        applied=counts["applied"],
        duplicate=counts["duplicate"],
        stale_epoch=counts["stale_epoch"],
        pulls_applied=pulls_applied,
        regret_applied=regret_applied,
        last_epoch=last.epoch if last else store.epoch(),
        last_mode=last.mode if last else str(store.mode()),
    )


def fold_production_feedback(store: Any, batch_id: str) -> RoundResult:
    """In production mode an agent round folds the decision API's feedback instead of pulling.

    The decision service owns the feedback stream (``banditops.store.feedback``); this is the one place
    the learning loop calls it, so convergence, drift and relearning stay the same path.
    """
    from banditops.store.feedback import fold_feedback

    folded = fold_feedback(store, batch_id)
    state: StoreState = store.state()
    status = "applied" if folded.applied else ("stale_epoch" if folded.stale else "duplicate")
    return RoundResult(
        batch_id=batch_id,
        status=status,
        mode=str(state.mode),
        epoch=state.epoch,
        pulls=int(folded.applied),
        regret=0.0,
        total_pulls=int(state.total_pulls),
    )
