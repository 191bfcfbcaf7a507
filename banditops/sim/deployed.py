"""The deployed loop as a benchmark: the agents' own code on a real Redis, with no scheduler latency.

Every learning figure of the sequential simulator (:mod:`banditops.sim.simulation`) measures a
policy object playing a reward table one pull at a time. The loop users deploy plays the same
policy object in a different shape: Airflow's mapped agents each read the shared state from
Redis, rebuild the policy from it, choose a round of arms (its size from
:func:`banditops.loop.rounds.round_size`: growing 1, 2, 4, ... pulls per agent on a fresh
posterior), pull them, feed the rewards to the per-arm tests pull by pull and apply rewards and
any reaction through the store's atomic script (:func:`banditops.loop.rounds.run_agent_round`);
between runs the learning DAG checks convergence and the drift monitor records what the agents'
rounds did (:class:`banditops.loop.drift_watch.DriftWatch`, :mod:`banditops.loop.transitions`).
This module runs exactly those functions against a real Redis-compatible server, so its figures
are the deployed loop's. What it leaves out is only the scheduler: no task start-up, no
triggerer poll interval, no DAG-run hop.

How one seed runs
-----------------
* **The world** is the sequential simulator's: the same reward table (same seed, same
  :class:`~banditops.sim.simulation.Instance`), consumed pull by pull in the order the agents'
  pulls reach it, and scored by the same :func:`~banditops.sim.simulation.score`. With one agent
  and one pull per round the two simulators therefore meet the very same rewards.
* **A round step** is what parallel mapped tasks do: all ``agents`` read the same stored state
  first, then each chooses, pulls and applies (agent 0's pulls come first in the world's clock).
  No agent sees another's rewards of the same step, as in Airflow where mapped tasks run at once.
* **Between steps** (the scheduler's place, with zero latency): the convergence check
  (``check_convergence``), a poll of the drift watch, and when it reports, ``record_drift`` then
  ``record_drift_and_relearn`` (the drift monitor's and the relearning DAG's bodies).
* **Randomness** comes from the batch ids, as in the agents (:func:`banditops.loop.ids.round_rng`).
* **Each seed has its own namespace**, dropped afterwards, so seeds are independent and a shared
  server is left as it was found.

Alarms are scored in the world's pull count (the agents of a step count their pulls from the
total they read; the world's record of where each batch started puts an alarm back in its own
clock). The exploration share counts every pull the policy forced (``RoundResult.forced``: the
staleness floor, confirmation pulls, the top-up to the convergence rule's minimum, a
round-robin budget a person asked for).

Examples
--------
The world alone (the harness needs a server; ``tests/integration/test_deployed_sim.py`` runs it):

>>> from banditops.bandit.arms import GaussianArm
>>> instance = Instance.build([GaussianArm(mean=1), GaussianArm(mean=2)], [{"t": 3, "arm": 1, "mean": 0}], 6)
>>> world = SimulatedWorld(instance, np.zeros((6, 2)))
>>> round(world.pulls([0, 1]).regret, 1), round(world.pulls([1, 1]).regret, 1), world.truth()["means"]
(1.0, 1.0, [1.0, 0.0])
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from banditops.bandit.arms import GaussianArm
from banditops.bandit.policies.drift_aware import Alarm
from banditops.bandit.regret import lai_robbins_bound
from banditops.bandit.validators import is_integer
from banditops.clients.env_client import PullResult
from banditops.loop import ids, transitions
from banditops.loop.drift_watch import DriftWatch
from banditops.loop.rounds import round_size, run_agent_round
from banditops.sim.simulation import Instance, SeedResult, SimulationReport, score
from banditops.store.redis_store import BanditStore
from banditops.store.types import ExperimentConfig, Mode, StoreState

#: Policies the deployed loop can run: ``system`` is the agents' arm choice with convergence, the
#: drift monitor and relearning; ``ts`` is plain Thompson Sampling through the same rounds and the
#: same store (no lifecycle between rounds), the reference that checks the harness against the
#: sequential simulator's ``ts``.
DEPLOYED_POLICIES: tuple[str, ...] = ("system", "ts")
#: The DAG the agents' batch ids name (their randomness is derived from it).
DAG_ID = "bandit_learning"


class SimulatedWorld:
    """The in-process environment: one seed's reward table, consumed in the order pulls arrive.

    It answers what the agents and the drift monitor ask the environment service
    (``pulls``, ``truth``, ``events``), so the loop's functions take it in place of the HTTP
    client. ``events`` lists each change as the service logs an injected drift: the wall time at
    which the first post-change pull was served and the pull count at the change.
    """

    def __init__(self, instance: Instance, table: np.ndarray) -> None:
        self.instance = instance
        self.table = table
        self.t = 0
        self.played = np.full(instance.horizon, -1, np.int64)
        self._means = np.empty((instance.horizon, instance.n_arms))
        for start, end, means in instance.segments():
            self._means[start:end] = means
        self._best = self._means.max(axis=1)
        self._changes = sorted({c.t for c in instance.changes})
        self._events: list[dict[str, Any]] = []
        #: Where each batch's pulls started in the world's clock (its agents' own clock may differ).
        self.starts: dict[str, int] = {}

    @property
    def remaining(self) -> int:
        return self.instance.horizon - self.t

    def pulls(self, arms: Sequence[int], *, epoch: int | None = None, batch_id: str | None = None) -> PullResult:
        """The next rewards of the seeded table (``epoch``/``batch_id``: the environment's ledger labels, unused)."""
        a = np.asarray(arms, dtype=np.int64)
        if a.size > self.remaining:
            raise ValueError(f"{a.size} pulls asked, {self.remaining} left in the horizon")
        pos = np.arange(self.t, self.t + a.size)
        now = time.time()
        for tau in self._changes:
            if self.t <= tau < self.t + a.size:
                self._events.append({"kind": "drift", "t": now, "total_pulls": tau})
        self.played[pos] = a
        if batch_id is not None:
            self.starts[batch_id] = self.t
        self.t += a.size
        regret = float(np.sum(self._best[pos] - self._means[pos, a]))
        return PullResult(rewards=self.table[pos, a].astype(np.float64), regret=regret, total_pulls=self.t)

    def truth(self) -> dict[str, Any]:
        means = self._means[min(self.t, self.instance.horizon - 1)]
        return {"total_pulls": self.t, "means": [float(m) for m in means], "best_arm": int(means.argmax())}

    def events(self) -> list[dict[str, Any]]:
        return list(self._events)


#: The store's reads an agent's round starts with (``round_state`` where the store has it).
_READS = ("state", "round_state")


class _StepReads:
    """What the store held at the start of a round step, read once for all its agents.

    Parallel mapped tasks all read before any of them applies, so they all read the same stored
    state; the values are immutable, so one read of each kind serves every agent of the step.
    """

    def __init__(self, store: BanditStore) -> None:
        self.store = store
        self.values = {name: getattr(store, name)() for name in _READS if hasattr(store, name)}

    def state(self) -> StoreState:
        value: StoreState = self.values["state"]
        return value


class _AgentView:
    """The store as one agent of the step sees it: its first read of each kind is the step's, every
    later read (a re-read after a refused write) and every write go to the real store."""

    def __init__(self, reads: _StepReads) -> None:
        self._reads = reads
        self._fresh = set(reads.values)

    def __getattr__(self, name: str) -> Any:
        if name in self._fresh:
            self._fresh.discard(name)
            value = self._reads.values[name]
            return lambda: value
        return getattr(self._reads.store, name)


@dataclass(frozen=True)
class DeployedSetup:
    """The loop's shape: agents per step, pulls per round and the policy (see :data:`DEPLOYED_POLICIES`)."""

    agents: int = 4
    pulls_per_round: int = 50
    policy: str = "system"

    def __post_init__(self) -> None:
        for name in ("agents", "pulls_per_round"):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.policy not in DEPLOYED_POLICIES:
            raise ValueError(f"unknown deployed policy {self.policy!r}; valid policies: {', '.join(DEPLOYED_POLICIES)}")


def deployed_config(instance: Instance, setup: DeployedSetup, **knobs: Any) -> ExperimentConfig:
    """The experiment the loop runs: the instance's arms with the experiment DAG's defaults.

    ``knobs`` are :class:`~banditops.store.types.ExperimentConfig` fields (``relearn_budget``, ...),
    validated by the same function the experiment DAG calls.
    """
    config, _ = transitions.experiment_config(
        scenario_name="deployed-sim", arms=[a.model_dump() for a in instance.arms],
        agents=setup.agents, pulls_per_round=setup.pulls_per_round, **knobs,
    )
    return config


def simulate_deployed_seed(
    instance: Instance,
    seed: int,
    redis_url: str,
    setup: DeployedSetup | None = None,
    *,
    namespace: str | None = None,
    config_knobs: Mapping[str, Any] | None = None,
) -> SeedResult:
    """One seed of the deployed loop on ``instance`` (see the module docstring)."""
    setup = setup or DeployedSetup()
    config = deployed_config(instance, setup, **dict(config_knobs or {}))
    reward_seq, _ = np.random.SeedSequence(seed).spawn(2)  # the sequential simulator's reward stream
    world = SimulatedWorld(instance, instance.rewards(np.random.default_rng(reward_seq)))
    store = BanditStore.from_url(redis_url, namespace=namespace or f"deployed-sim-{uuid.uuid4().hex[:10]}-{seed}")
    run_id = f"deployed-sim-{seed}"
    policy = "ts" if setup.policy == "ts" else None  # the experiment's own policy otherwise ("system")
    watch = DriftWatch(store) if setup.policy == "system" else None
    alarms: list[Alarm] = []
    explored, step = 0, 0
    start = time.perf_counter()
    try:
        store.reset(config)
        cursor = store.events(count=100_000)[-1].id
        while world.remaining > 0:
            reads = _StepReads(store)  # every agent reads the same state before any applies
            # each agent's round size is the experiment's own (round_size: growing_rounds), cut at the horizon
            size, left = round_size(config, reads.state()), world.remaining
            sizes = [min(size, left - i * size) for i in range(setup.agents)]
            for agent, n in enumerate(m for m in sizes if m > 0):
                bid = ids.make_batch_id(DAG_ID, run_id, agent, step)
                result = run_agent_round(_AgentView(reads), world, policy, bid, ids.round_rng(bid, seed), pulls=n,
                                         agent=agent)
                explored += int(getattr(result, "forced", _forced(reads.state(), n)))
            step += 1
            if watch is not None:  # plain TS has no lifecycle: nothing between its rounds
                _between_steps(store, watch, world, run_id=run_id, step=step, seed=seed)
            fresh = store.events(since=cursor, count=100_000)
            cursor = fresh[-1].id if fresh else cursor
            t0, epoch_start = reads.state().total_pulls, reads.state().total_pulls - reads.state().epoch_pulls
            alarms += [_alarm(e.fields, world, t0, epoch_start) for e in fresh if e.kind == "drift_detected"]
    finally:
        store.drop()
        store.client.close()
    elapsed = time.perf_counter() - start
    scored = score(instance, world.played, alarms)
    bound = None
    if instance.stationary:
        means = np.array([a.mean for a in instance.arms])
        sd = float(instance.arms[0].sd) if isinstance(instance.arms[0], GaussianArm) else 1.0
        bound = lai_robbins_bound(means, instance.kind, instance.horizon, sd=sd)
    return SeedResult(seed=seed, policy=f"deployed:{setup.policy}", horizon=instance.horizon, explored=explored,
                      elapsed_s=elapsed, lai_robbins_bound=bound, **scored)


def _between_steps(store: BanditStore, watch: DriftWatch, world: SimulatedWorld, *, run_id: str, step: int,
                   seed: int) -> None:
    """What the scheduler runs between round steps, with no latency: the learning DAG's convergence
    check, the drift monitor's poll and record, the relearning DAG's new epoch (``steps.py``)."""
    transitions.check_and_mark_convergence(store, ids.round_rng(f"{DAG_ID}/{run_id}/convergence/{step}", seed))
    finding = watch.poll()
    if finding is None:
        return
    drift = transitions.record_drift(store, finding.to_dict(), env=world)
    if drift is None:
        return
    # the relearning DAG's open_relearning_epoch, with the drift record as its conf
    transitions.record_drift_and_relearn(
        store, epoch=int(drift["epoch"]), reason="relearning", force=False, arm=drift.get("arm"),
        change_point=drift.get("change_point"), magnitude=drift.get("magnitude"),
        pulls_since_change=drift.get("pulls_since_change"),
    )


def _alarm(fields: Mapping[str, Any], world: SimulatedWorld, step_t0: int, epoch_start: int) -> Alarm:
    """An alarm, in the simulator's pull count, from the store's ``drift_detected`` event.

    An alarm raised inside a round records its own pull (``t``) and evidence start (``since``) in
    the agent's clock: the agents of a step all read the same total ``step_t0``, so each counts its
    pulls from there, while the world served agent ``i``'s round after the others'; the world's
    record of where the alarm's batch started (:attr:`SimulatedWorld.starts`) puts ``t`` back in
    the world's clock (evidence positions before the round are left as the agents counted them).
    One recorded by the drift monitor between steps is dated by the pulls made so far (its delay
    is what was paid before anyone could react) and its evidence is its epoch, in which its
    ``change_point`` counts pulls; the monitor's reaction is a whole-epoch restart.
    """
    pulls = world.t
    if "t" in fields and "since" in fields:
        t = int(fields["t"])
        start = world.starts.get(str(fields.get("batch_id", "")))
        # a round's later part (``<batch_id>+<part>``) read after other rounds landed: its own clock
        clock = int(fields.get("round_t0", step_t0))
        if start is not None and t >= clock:
            t += start - clock
        return Alarm(t=t, arm=int(fields["arm"]), change_point=int(fields["change_point"]),
                     magnitude=float(fields["magnitude"]), restart=bool(fields.get("restart", True)),
                     since=int(fields["since"]), detector=str(fields.get("detector", "")))
    return Alarm(t=pulls - 1, arm=int(fields["arm"]), change_point=epoch_start + int(fields["change_point"]),
                 magnitude=float(fields["magnitude"]), restart=True, since=epoch_start,
                 detector=str(fields.get("detector", "")))


def _forced(state: StoreState, n: int) -> int:
    """Pulls of a round the loop forces rather than samples: round-robin in RELEARNING, the top-up
    to the convergence rule's minimum in LEARNING (the rules of :mod:`banditops.loop.arm_choice`)."""
    if state.mode == Mode.RELEARNING and state.explore_remaining > 0:
        return min(n, state.explore_remaining)
    if state.mode == Mode.LEARNING:
        need = state.config.min_pulls_per_arm - state.stats.padded(state.config.n_arms).n
        return min(n, int(sum(max(int(v), 0) for a, v in enumerate(need) if a not in state.retired)))
    return 0


@dataclass
class DeployedReport(SimulationReport):
    """The sequential report's figures, labelled with the loop's shape and its code path."""

    agents: int = 4
    pulls_per_round: int = 50

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out.update({"code_path": "deployed loop", "agents": self.agents, "pulls_per_round": self.pulls_per_round})
        return out


def simulate_deployed(
    instance: Instance,
    seeds: int | Sequence[int],
    redis_url: str,
    setup: DeployedSetup | None = None,
    *,
    config_knobs: Mapping[str, Any] | None = None,
    progress: Callable[[SeedResult], None] | None = None,
) -> DeployedReport:
    """Run the deployed loop on ``instance`` for each seed (a count → 0..n-1, or the list)."""
    setup = setup or DeployedSetup()
    deployed_config(instance, setup, **dict(config_knobs or {}))  # validate before touching the server
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must be a count >= 1 or a non-empty list of seeds")
    report = DeployedReport(instance, f"deployed:{setup.policy}", 1, agents=setup.agents,
                            pulls_per_round=setup.pulls_per_round)
    prefix = f"deployed-sim-{uuid.uuid4().hex[:10]}"
    for seed in seed_list:
        result = simulate_deployed_seed(instance, seed, redis_url, setup, namespace=f"{prefix}-{seed}",
                                        config_knobs=config_knobs)
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report
