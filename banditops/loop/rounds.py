"""Agent rounds and batches: read state → choose arms → pull once → apply atomically.

Airflow tasks are thin wrappers around these functions; nothing here imports Airflow, so the
same loop runs under ``dag.test()``, in a plain test, or under another scheduler.

Why it is shaped this way
-------------------------
* **A round is a transaction.** :func:`run_agent_round` reads one consistent state, decides
  the round from it, pulls the environment in ONE call and applies the rewards in ONE
  atomic store script keyed by the batch id ``<dag_id>/<run_id>/<map_index>/<round>`` and the
  epoch it sampled under. A retried Airflow task re-sends the same batch ids (refused as
  duplicates); a slow agent that sampled under an old epoch is refused as stale. A round that
  reaches a watch pull (a probe of a stale arm) with pulls left ends there, and plays the rest
  as further transactions ``<batch id>+1``, ``+2``, ... from fresh reads, so the policy sees the
  probe's reward before it chooses again.
* **Randomness is derived from the batch id** (:func:`round_rng`), so a retry draws the same
  decisions and a run is reproducible from its ids and the settings' seed.
* **The round plays the experiment's policy object** — the one the simulator plays
  (:mod:`banditops.bandit.policies`), rebuilt from the store (:meth:`Policy.load`: posterior
  totals, each arm's reward stream since its last reset, the floor's clock, the confirmation
  state). It draws and chooses the whole round from that one read, pulls, then observes the
  round's rewards pull by pull: every reward goes through the conjugate update and its arm's
  change-point test.
* **Drift is handled inside the round.** When a test fires the policy reacts (a restart that
  keeps the alarming arm's post-change rewards, or a reset of that arm alone) and the round's
  script writes the reaction atomically with the rewards: every next round samples from the
  reacted posterior. The reaction is fenced: it names the read it was computed from, and if
  another agent's round landed in between the store answers ``conflict``; the agent then
  re-reads and re-runs the policy on the same rewards (no second pull), so two agents that saw
  the same change react once. Airflow only records what the store did.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from banditops.bandit.policies.base import Alarm, Policy
from banditops.clients.env_client import PullResult
from banditops.loop.arm_choice import deployed_policy
from banditops.loop.ids import make_batch_id, round_rng
from banditops.store.feedback import fold_feedback
from banditops.store.protocols import RoundStore
from banditops.store.types import ExperimentConfig, Mode, RoundState, RoundWrite, StoreState

if TYPE_CHECKING:
    from banditops.store.redis_store import BanditStore


class PullsClient(Protocol):
    """What an agent needs from the environment (``banditops.clients.env_client.EnvClient``)."""

    def pulls(self, arms: Sequence[int], *, epoch: int | None = None, batch_id: str | None = None) -> PullResult: ...


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
    #: Pulls not chosen by Thompson Sampling (floor, confirmations, top-up, round robin).
    forced: int = 0
    #: The policy's reaction this round wrote: "restart", "reset" or "" (none).
    reaction: str = ""
    #: The epoch after the round (epoch + 1 after a restart).
    epoch_after: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_agent_round(
    store: RoundStore,
    env: PullsClient,
    policy: str | None,
    batch_id: str,
    rng: np.random.Generator,
    *,
    pulls: int | None = None,
    agent: int = 0,
) -> RoundResult:
    """Read → rebuild the policy → choose → pull once → observe pull by pull → apply atomically; again after a probe.

    A round whose choices reach a watch pull (a probe of a stale arm, the last of its confirmation
    pulls: ``Policy.wants_feedback``) with pulls still to play ends there: that part is applied as
    its own transaction, and the rest is played from a fresh read under the batch id
    ``<batch_id>+<part>``, so the policy sees the probe's reward before its next choice, as in the
    sequential simulator. Why: the choices after a probe depend on its reward (confirm, alarm, or
    nothing); chosen blind they waited for the agent's next round, and the other agents' rounds
    meanwhile kept playing the old best arm (issue 13, scenario 4: about two rounds of 4 agents ×
    50 pulls per alarm). At most :data:`MAX_PARTS` parts; a part refused (duplicate, stale epoch)
    ends the round.

    Parameters
    ----------
    store : BanditStore
    env : EnvClient
        Anything with ``pulls(arms) -> PullResult(rewards, regret, total_pulls)``.
    policy : str or None
        A policy name overriding the experiment's (``ExperimentConfig.policy``); ``None`` keeps it.
    batch_id : str
        The idempotency key (:func:`make_batch_id`).
    rng : numpy.random.Generator
    pulls : int, optional
        Pulls in this round; default the experiment's ``pulls_per_round``.
    agent : int
        The agent's index (spreads a round-robin budget across parallel agents).
    """
    read: RoundState = store.round_state()
    config = replace(read.state.config, policy=policy) if policy else read.state.config
    left = int(pulls or round_size(config, read.state))
    if left < 1:
        raise ValueError(f"a round needs at least one pull; got {left}")
    parts: list[RoundResult] = []
    while True:
        part_id = batch_id if not parts else f"{batch_id}+{len(parts)}"
        part = _play_part(store, env, config, read, batch_id=part_id, rng=rng, n=left, agent=agent,
                          split=len(parts) + 1 < MAX_PARTS)
        parts.append(part)
        left -= part.pulls
        if left <= 0 or part.status != "applied":
            break
        read = store.round_state()
        config = replace(read.state.config, policy=policy) if policy else read.state.config
    return _merged(parts, config.n_arms)


#: Parts one round may be cut into at its watch pulls (see :func:`run_agent_round`).
MAX_PARTS = 8


def _play_part(
    store: RoundStore,
    env: PullsClient,
    config: ExperimentConfig,
    read: RoundState,
    *,
    batch_id: str,
    rng: np.random.Generator,
    n: int,
    agent: int,
    split: bool,
) -> RoundResult:
    """Up to ``n`` pulls from ``read`` (fewer when ``split`` and a watch pull comes first), applied atomically."""
    state = read.state
    player = _rebuilt(config, read, rng, agent)
    if state.mode == Mode.RELEARNING and state.explore_remaining > 0:
        player.set_round_robin(min(n, state.explore_remaining), state.epoch_pulls + agent)
    t0 = state.total_pulls
    floor_before = player.floor_forced
    chosen: list[tuple[int, bool]] = []
    for i, c in enumerate(player.draw(n).tolist()):
        chosen.append(player.choose(int(c), t0 + i))
        if split and player.wants_feedback and i + 1 < n:
            break
    arms = np.array([a for a, _ in chosen], dtype=np.int64)
    forced = np.array([f for _, f in chosen], dtype=bool)
    floor_forced = player.floor_forced - floor_before
    outcome = env.pulls(arms.tolist(), epoch=state.epoch, batch_id=batch_id)  # booked in the env's ledger
    rewards = np.asarray(outcome.rewards, dtype=np.float64)
    for _ in range(_CONFLICT_RETRIES):
        write, alarms = _observe_round(player, read, arms, forced, rewards, t0=t0, floor_forced=floor_forced)
        applied = store.apply_round(batch_id, state.epoch, arms, rewards, write, regret=float(outcome.regret))
        if applied.status != "conflict":
            break
        # Another round landed after our read and our reaction was computed without it: re-read and
        # re-run the policy on the same rewards (their pull is paid; only what we learn is redone).
        read = store.round_state()
        if read.state.epoch != state.epoch:
            applied = store.apply_batch(batch_id, state.epoch, arms, rewards, regret=float(outcome.regret))
            alarms = []
            break
        player = _rebuilt(config, read, rng, agent)
    else:
        raise RuntimeError(f"round {batch_id!r}: the store kept changing under its reaction; retry the round")
    counts = np.bincount(arms, minlength=state.config.n_arms).tolist()
    reaction = ""
    if alarms and applied.status == "applied":
        reaction = "restart" if any(a.restart for a in alarms) else "reset"
    return RoundResult(
        batch_id=batch_id,
        status=applied.status,
        mode=str(state.mode),
        epoch=state.epoch,
        pulls=int(arms.size),
        regret=float(outcome.regret),
        total_pulls=int(applied.total_pulls),
        pulls_per_arm=[int(c) for c in counts],
        forced=int(forced.sum()),
        reaction=reaction,
        epoch_after=int(applied.epoch),
    )


def _merged(parts: list[RoundResult], n_arms: int) -> RoundResult:
    """One round's parts as one result: the first part's ids and status, the sums, the last totals."""
    first, last = parts[0], parts[-1]
    if len(parts) == 1:
        return first
    reactions = {p.reaction for p in parts}
    per_arm = np.sum([np.pad(p.pulls_per_arm, (0, max(n_arms - len(p.pulls_per_arm), 0))) for p in parts], axis=0)
    applied = [p for p in parts if p.status == "applied"]
    return replace(
        first,
        pulls=sum(p.pulls for p in applied),
        regret=float(sum(p.regret for p in applied)),
        total_pulls=last.total_pulls,
        pulls_per_arm=[int(c) for c in per_arm],
        forced=sum(p.forced for p in parts),
        reaction="restart" if "restart" in reactions else ("reset" if "reset" in reactions else ""),
        epoch_after=last.epoch_after,
    )


def round_size(config: ExperimentConfig, state: StoreState) -> int:
    """Pulls of the next round: ``pulls_per_round``, or with ``growing_rounds`` the schedule below.

    A round is drawn from one posterior read, so its pulls are blind to each other; on a posterior
    holding ``m`` pulls, a round of ``ceil(m / agents)`` per agent at most doubles the evidence per
    wave of rounds: 1, 2, 4, ... pulls, then ``pulls_per_round`` (the simulator's growing refresh
    schedule, :func:`banditops.sim.simulation.refresh_blocks`, applied to round sizes).

    >>> from banditops.bandit.stats import ArmStats
    >>> from banditops.store.types import ExperimentConfig
    >>> import numpy as np
    >>> cfg = ExperimentConfig(agents=4, pulls_per_round=50, growing_rounds=True)
    >>> class S:
    ...     stats = ArmStats(np.array([0, 6]), np.zeros(2), np.zeros(2))
    >>> round_size(cfg, S()), round_size(ExperimentConfig(pulls_per_round=50, growing_rounds=False), S())
    (2, 50)
    """
    if not config.growing_rounds:
        return int(config.pulls_per_round)
    held = int(np.asarray(state.stats.n).sum())
    return int(min(config.pulls_per_round, max(1, -(-held // config.agents))))


#: How long past its time budget an agent waits for its run's bookkeeping, in budgets
#: (:func:`run_agent_batch`): bounded, so a bookkeeping task that failed cannot hold the agents.
HOLD_FACTOR = 3.0

#: Re-reads after a ``conflict`` before a round gives up (each costs one read, no pull).
_CONFLICT_RETRIES = 8


def _rebuilt(config: ExperimentConfig, read: RoundState, rng: np.random.Generator, agent: int) -> Policy:
    """Agent ``agent``'s policy object, as the stored state describes it now (see ``Policy.load``)."""
    state = read.state
    player = deployed_policy(config, state.mode, rng, agent=agent)
    k = config.n_arms
    # The floor's clock is the experiment's pull count (as in the simulator, a restart keeps it): an arm
    # last pulled in this epoch at epoch pull p was pulled at epoch_start + p; one not pulled in this
    # epoch counts as seen when it opened.
    last = np.asarray(state.last_pulled[:k], np.int64)
    last_total = read.epoch_start + np.where(last >= 0, last, 0)
    player.load(stats=state.stats.padded(k), streams=read.streams[:k], t=state.total_pulls,
                last_pulled=last_total, floor_forced=read.floor_forced, control=read.control,
                retired=state.retired)
    return player


def _observe_round(
    player: Policy, read: RoundState, arms: np.ndarray, forced: np.ndarray, rewards: np.ndarray, *, t0: int,
    floor_forced: int,
) -> tuple[RoundWrite, list[Alarm]]:
    """Feed the round's rewards to the policy pull by pull; what the store must write besides the totals."""
    alarms = list(player.alarms)  # raised by load(): evidence other rounds left in the streams
    split = 0 if player.restarted else -1
    for i, (arm, x, f) in enumerate(zip(arms.tolist(), rewards.tolist(), forced.tolist(), strict=True)):
        alarm = player.observe(arm, x, t0 + i, forced=f)
        if alarm is not None:
            alarms.append(alarm)
            if alarm.restart:
                split = i + 1
    state = read.state
    k = state.config.n_arms
    records = [dict(a.to_dict(), t=int(a.t), round_t0=int(t0)) for a in alarms]  # round_t0: the part's clock
    base = RoundWrite(forced=int(forced.sum()), floor_forced=int(floor_forced), control=player.control_state(),
                      alarms=records)
    if player.restarted:
        kept = {arm: player.stream(arm) for arm in range(k) if player.stream(arm)[0].size}
        return replace(base, restart=kept, split=max(split, 0), expected_pulls=state.epoch_pulls), alarms
    resets = {arm: (read.stream_lengths[arm], *player.stream(arm)) for arm in sorted(player.reset_arms)}
    appends = {}
    positions = t0 + np.arange(arms.size)
    for arm in np.unique(arms).tolist():
        if arm not in resets:
            mask = arms == arm
            appends[arm] = (rewards[mask], positions[mask])
    return replace(base, appends=appends, resets=resets), alarms


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
    store: BanditStore,
    env: PullsClient,
    *,
    dag_id: str,
    run_id: str,
    map_index: int,
    rounds: int | None = None,
    pulls: int | None = None,
    seed: int | None = None,
    policy: str | None = None,
    seconds: float = 0.0,
    round_interval_s: float = 0.0,
    booked: Callable[[], bool] | None = None,
) -> BatchReport:
    """Several rounds of one agent (one mapped Airflow task), each its own transaction.

    It plays ``rounds`` rounds, and with ``seconds`` > 0 keeps playing further rounds until that
    many seconds have passed since it started, starting at most one round per
    ``round_interval_s``. Why: between two tasks of an agent lie the scheduler's hops and the
    run's bookkeeping (seconds each), and a drift that falls in that gap waits for the next task;
    an agent that keeps playing meets it in its next round. Every round keeps its own batch id
    ``<dag_id>/<run_id>/<map_index>/<round>``, so a retried task refuses the rounds it already
    applied and only plays new ones (a time budget may make it play more or fewer of them).

    ``booked`` (with ``seconds`` > 0): past the budget the agent keeps playing, paced, until it
    returns True (the run's bookkeeping branch is done: :meth:`BanditStore.mark_booked`), for at
    most ``HOLD_FACTOR`` × ``seconds`` more. Why: the next run's agents start only when this run's
    last task ends, and the bookkeeping (MLflow) can outlast the budget on a loaded machine.
    """
    if seconds < 0 or round_interval_s < 0:
        raise ValueError(f"seconds and round_interval_s must be >= 0; got {seconds!r}, {round_interval_s!r}")
    config: ExperimentConfig = store.config()
    counts = {"applied": 0, "duplicate": 0, "stale_epoch": 0}
    pulls_applied, regret_applied = 0, 0.0
    last: RoundResult | None = None
    n_rounds = int(rounds or config.rounds)
    started = last_start = time.monotonic()
    budget_end, hold_end = started + seconds, started + seconds * (1 + HOLD_FACTOR)
    for round_index in itertools.count():
        if round_index > 0 and seconds > 0:
            # paced: the next slot (one round per interval) or the end of the budget, whichever is first
            now, slot = time.monotonic(), last_start + round_interval_s
            wait = (min(slot, budget_end) if now < budget_end or booked is None else min(slot, hold_end)) - now
            if wait > 0:
                time.sleep(wait)
        last_start = time.monotonic()
        if round_index >= n_rounds and last_start >= budget_end and (
                booked is None or last_start >= hold_end or booked()):
            break
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


def fold_production_feedback(store: BanditStore, batch_id: str) -> RoundResult:
    """In production mode an agent round folds the decision API's feedback instead of pulling.

    The decision service owns the feedback stream (``banditops.store.feedback``); this is the one place
    the learning loop calls it, so convergence, drift and relearning stay the same path.
    """
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
