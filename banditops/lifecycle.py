"""The loop's logic: agent rounds, convergence, drift → relearning, experiment start.

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

Examples
--------
>>> make_batch_id("bandit_learning", "manual__2026-01-01", 3, 2)
'bandit_learning/manual__2026-01-01/3/2'
>>> round_rng("bandit_learning/r/0/0", seed=7).integers(0, 100, 3).tolist()
[9, 51, 54]
>>> stream_id_key("1700000000000-3") < stream_id_key("1700000000001-0")
True
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from banditops.arms import SCENARIOS, parse_arms, reward_kind, scenario
from banditops.store.types import BatchSummary, ExperimentConfig, Mode, StoreState

log = logging.getLogger(__name__)

#: Name of the drift sensor's stream cursor in the store.
DRIFT_CURSOR = "drift_sensor"


class PullsClient(Protocol):
    """What an agent needs from the environment (``banditops.env_client.EnvClient``)."""

    def pulls(self, arms: Sequence[int]) -> Any: ...


# -- ids and randomness -------------------------------------------------------------------------
def make_batch_id(dag_id: str, run_id: str, map_index: int, round_index: int) -> str:
    """The idempotency key of one agent round: ``<dag_id>/<run_id>/<map_index>/<round>``."""
    return f"{dag_id}/{run_id}/{map_index}/{round_index}"


def round_rng(batch_id: str, seed: int | None = None) -> np.random.Generator:
    """A generator seeded from the batch id (and the global seed), so a retry decides the same."""
    digest = hashlib.sha256(batch_id.encode()).digest()
    entropy = [int.from_bytes(digest[:8], "little")]
    if seed is not None:
        entropy.append(int(seed))
    return np.random.default_rng(np.random.SeedSequence(entropy))


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Order of a Redis stream id ``<ms>-<seq>``."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


# -- choosing arms ------------------------------------------------------------------------------
def posterior_of(state: StoreState) -> Any:
    """The posterior of the current epoch, built from the store's sufficient statistics."""
    from banditops.posteriors import make_posterior

    return make_posterior(state.config.reward_kind, state.stats, state.config.prior or None)


def _thompson(posterior: Any, n: int, rng: np.random.Generator, retired: frozenset[int]) -> np.ndarray:
    from banditops.policies.thompson import ThompsonSampling

    return np.asarray(ThompsonSampling(rng).select(posterior, n, retired=tuple(sorted(retired))), dtype=np.int64)


def _round_robin(n_arms: int, n: int, start: int, retired: frozenset[int]) -> np.ndarray:
    from banditops.policies.round_robin import RoundRobin

    return np.asarray(RoundRobin(n_arms).select(n, start, retired=tuple(sorted(retired))), dtype=np.int64)


def _with_floor(arms: np.ndarray, state: StoreState, rng: np.random.Generator, agent: int) -> np.ndarray:
    """Replace a budgeted share of the Thompson choices by stale arms (the drift-watching floor).

    Which arms are stale is :class:`~banditops.policies.staleness_floor.StalenessFloor`'s rule,
    rebuilt from the store's last-pulled positions (agents are stateless between rounds). Its
    budget is applied per round here: at most ``exploration_floor × pulls`` of the round, the
    fractional part carried by a coin so that small rounds still explore.
    """
    from banditops.policies.staleness_floor import StalenessFloor

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
    outcome = env.pulls(arms.tolist())
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

    The decision service owns the feedback stream (``banditops.feedback``); this is the one place
    the learning loop calls it, so convergence, drift and relearning stay the same path.
    """
    from banditops.feedback import fold_feedback

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


# -- convergence --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvergenceOutcome:
    """The verdict on the current posterior and whether this call switched to MONITORING."""

    verdict: Any
    marked: bool
    mode: str
    epoch: int
    epoch_pulls: int
    total_pulls: int

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict.to_dict() if self.verdict is not None else None
        return {"verdict": verdict, "marked": self.marked, "mode": self.mode, "epoch": self.epoch,
                "epoch_pulls": self.epoch_pulls, "total_pulls": self.total_pulls}


def check_and_mark_convergence(store: Any, rng: np.random.Generator, *, draws: int = 4000) -> ConvergenceOutcome:
    """In LEARNING, check convergence and, when reached, switch to MONITORING (guarded by epoch).

    The switch is refused by the store if a relearning opened a new epoch meanwhile, so a slow
    check can never mark a posterior it did not look at.
    """
    from banditops.convergence import check_convergence

    state: StoreState = store.state()
    if state.mode != Mode.LEARNING:
        return ConvergenceOutcome(None, False, str(state.mode), state.epoch, state.epoch_pulls, state.total_pulls)
    cfg = state.config
    verdict = check_convergence(
        posterior_of(state), rng, delta=cfg.convergence_delta, value_threshold=cfg.value_remaining_threshold,
        min_pulls_per_arm=cfg.min_pulls_per_arm, draws=draws, retired=tuple(sorted(state.retired)),
    )
    marked = False
    if verdict.converged:
        marked = bool(store.set_mode(
            Mode.MONITORING, reason="converged", expected_epoch=state.epoch,
            leader=int(verdict.leader), prob_best=float(verdict.prob_best),
            value_remaining_p95=float(verdict.value_remaining_p95),
            pulls_to_converge=int(state.epoch_pulls), total_pulls=int(state.total_pulls), epoch=int(state.epoch),
        ))
    return ConvergenceOutcome(verdict, marked, str(Mode.MONITORING if marked else state.mode), state.epoch,
                              state.epoch_pulls, state.total_pulls)


# -- drift → relearning -------------------------------------------------------------------------
def record_drift_and_relearn(
    store: Any, *, epoch: int | None, reason: str = "drift_detected", force: bool = False, **drift: Any
) -> int | None:
    """Open a new epoch in RELEARNING with the forced-exploration budget; returns it, or ``None``.

    Idempotent per epoch: when the store is no longer in the epoch the drift was sensed in (a
    duplicate trigger, a second relearning run), or no longer MONITORING, nothing is written.
    ``force`` (a person asked for relearning) skips the MONITORING requirement only.
    """
    state: StoreState = store.state()
    if epoch is not None and state.epoch != int(epoch):
        log.info("drift of epoch %s ignored: the store is in epoch %s", epoch, state.epoch)
        return None
    if not force and state.mode != Mode.MONITORING:
        log.info("drift ignored: the store is in %s, not MONITORING", state.mode)
        return None
    fields = {k: v for k, v in drift.items() if v is not None}
    opened = int(store.open_epoch(reason=reason, explore_budget=state.config.relearn_budget,
                                  expected_epoch=state.epoch, **fields))
    return opened if opened == state.epoch + 1 else None


def drift_recorded(store: Any, epoch: int) -> bool:
    """Whether a drift of ``epoch`` was already recorded (event ``drift_detected``)."""
    return any(e.kind == "drift_detected" and int(e.fields.get("epoch", -1)) == int(epoch)
               for e in store.events(count=100_000))


def record_drift(store: Any, finding: dict[str, Any], env: Any | None = None) -> dict[str, Any] | None:
    """Append event ``drift_detected`` once per epoch; returns the drift (the relearning's conf) or ``None``.

    With ``env`` (an ``EnvClient``), the environment's event log adds what the store cannot know:
    pulls and seconds since the world actually changed (the detection delay).
    """
    epoch = int(finding["epoch"])
    if drift_recorded(store, epoch):
        return None
    drift = {k: finding.get(k) for k in ("epoch", "arm", "change_point", "magnitude", "statistic", "detector",
                                         "pulls_before", "epoch_pulls")}
    drift["detected_at"] = time.time()
    if env is not None:
        try:
            changes = [e for e in env.events() if e.get("kind") == "drift"]
            if changes:
                last = changes[-1]
                drift["env_change_t"] = float(last["t"])
                drift["pulls_since_change"] = int(env.truth()["total_pulls"]) - int(last["total_pulls"])
                drift["seconds_since_change"] = round(time.time() - float(last["t"]), 3)
        except Exception:  # the delay is a measurement, not a precondition
            log.warning("environment event log unreachable; detection delay unknown", exc_info=True)
    store.append_event("drift_detected", **{k: v for k, v in drift.items() if v is not None})
    return drift


# -- experiment start ---------------------------------------------------------------------------
def experiment_config(
    *,
    scenario_name: str = "seed",
    arms: str | list[dict[str, Any]] | None = None,
    **knobs: Any,
) -> tuple[ExperimentConfig, list[Any]]:
    """Validate a whole experiment request before anything is touched; ``ValueError`` says what is valid."""
    if arms:
        instance = parse_arms(arms)
    elif scenario_name in SCENARIOS:
        instance = scenario(scenario_name)
    else:
        raise ValueError(f"unknown scenario {scenario_name!r}; valid scenarios: {', '.join(SCENARIOS)}")
    kind = reward_kind(instance)
    requested = knobs.pop("reward_kind", None)
    if requested not in (None, "", kind):
        raise ValueError(f"scenario {scenario_name!r} pays {kind} rewards; reward_kind {requested!r} does not match")
    unknown = set(knobs) - set(ExperimentConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown experiment settings {sorted(unknown)}; valid: "
                         f"{', '.join(sorted(ExperimentConfig.__dataclass_fields__))}")
    config = ExperimentConfig(name=scenario_name, reward_kind=kind, n_arms=len(instance), **knobs)
    return config, instance


def start_experiment(
    store: Any, env: Any, config: ExperimentConfig, *, scenario_name: str | None = None,
    seed: int | None = None, arms: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Reset the environment to the scenario, then the store (a new epoch, LEARNING, empty posterior)."""
    env.reset(scenario_name or config.name, seed=seed, arms=arms)
    epoch = store.reset(config)  # previous epoch + 1: batches in flight from before are refused
    return {"scenario": scenario_name or config.name, "seed": seed, "epoch": int(epoch),
            "mode": str(store.mode()), "config": config.to_dict()}


# -- drift watching -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftFinding:
    """A drift sensed in MONITORING: the signal, the epoch and where in the stream it was seen."""

    epoch: int
    arm: int
    change_point: int
    magnitude: float
    statistic: float
    detector: str
    stream_id: str
    pulls_before: int
    epoch_pulls: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _monitor_for(config: ExperimentConfig) -> Any:
    from banditops.drift.monitor import ArmDriftMonitor

    return ArmDriftMonitor(n_arms=config.n_arms, reward_kind=config.reward_kind, delta=config.drift_delta)


class DriftWatch:
    """Feeds the current epoch's summary stream to per-arm drift tests; reports only in MONITORING.

    The detectors see the whole epoch, the learning phase included: that phase sampled the same
    world, and without it a drift injected right after convergence would have no "before" to be
    compared with (the tests need samples on both sides of the change). A drift that happened
    during learning is therefore reported as soon as the loop is MONITORING — which is what it
    should do, since the converged posterior mixes two worlds.

    It keeps its stream position in Redis (``store.set_cursor``) after every poll, and on a fresh
    start (a restarted triggerer) it rebuilds the detectors by replaying the epoch's summaries up
    to that cursor, then continues from it. Detectors are deterministic, so the rebuilt state
    equals the lost one.

    Parameters
    ----------
    store : BanditStore
    cursor_name : str
        The cursor's name in the store (one per sensor).
    chunk : int
        Summaries read per round trip.
    """

    def __init__(self, store: Any, cursor_name: str = DRIFT_CURSOR, chunk: int = 1000) -> None:
        self.store = store
        self.cursor_name = cursor_name
        self.chunk = chunk
        self._epoch: int | None = None
        self._monitor: Any = None
        self._cursor = "0-0"
        self._reported_epoch: int | None = None
        self.replayed = 0

    def _feed(self, summaries: list[BatchSummary], epoch: int, state: StoreState) -> DriftFinding | None:
        for summary in summaries:
            self._cursor = summary.id
            if summary.epoch != epoch:
                continue
            signal = self._monitor.update(summary.stats.padded(state.config.n_arms), summary.pulls_before)
            if signal is not None:
                return DriftFinding(
                    epoch=epoch, arm=int(signal.arm), change_point=int(signal.change_point),
                    magnitude=float(signal.magnitude), statistic=float(signal.statistic),
                    detector=str(getattr(signal, "detector", "")), stream_id=summary.id,
                    pulls_before=int(summary.pulls_before), epoch_pulls=int(state.epoch_pulls),
                )
        return None

    def _epoch_start(self) -> str:
        """Stream id of the current epoch's opening event (summary ids are later, same server clock)."""
        start = "0-0"
        for event in self.store.events(count=100_000):
            if event.kind in ("epoch_opened", "experiment_started"):
                start = event.id
        return start

    def _rebuild(self, epoch: int, state: StoreState) -> DriftFinding | None:
        self._epoch = epoch
        self._monitor = _monitor_for(state.config)
        start = self._epoch_start()
        persisted = self.store.get_cursor(self.cursor_name)
        self._cursor = start
        self.replayed = 0
        # Replay up to the persisted cursor, so the detectors hold exactly the state they had.
        while stream_id_key(self._cursor) < stream_id_key(persisted):
            batch = self.store.summaries(since=self._cursor, count=self.chunk)
            batch = [s for s in batch if stream_id_key(s.id) <= stream_id_key(persisted)]
            if not batch:
                break
            self.replayed += len(batch)
            finding = self._feed(batch, epoch, state)
            if finding is not None:
                return finding
        return None

    def poll(self) -> DriftFinding | None:
        """Read what is new; a finding when a drift is sensed, else ``None`` (also outside MONITORING).

        A drift already recorded for this epoch (event ``drift_detected``) is not reported again:
        between the alarm and the relearning that opens the next epoch, a fresh sensor run would
        otherwise find the same change and start a second relearning.
        """
        state: StoreState = self.store.state()
        if state.mode != Mode.MONITORING:
            self._epoch, self._monitor = None, None
            return None
        if self._reported_epoch == state.epoch:
            return None
        finding = self._scan(state)
        if finding is not None and drift_recorded(self.store, finding.epoch):
            self._reported_epoch = finding.epoch
            return None
        return finding

    def _scan(self, state: StoreState) -> DriftFinding | None:
        if self._epoch != state.epoch or self._monitor is None:
            finding = self._rebuild(state.epoch, state)
            if finding is not None:
                self.store.set_cursor(self.cursor_name, self._cursor)
                return finding
        while True:
            batch = self.store.summaries(since=self._cursor, count=self.chunk)
            if not batch:
                break
            finding = self._feed(batch, state.epoch, state)
            self.store.set_cursor(self.cursor_name, self._cursor)
            if finding is not None:
                return finding
            if len(batch) < self.chunk:
                break
        return None

    @property
    def cursor(self) -> str:
        return self._cursor
