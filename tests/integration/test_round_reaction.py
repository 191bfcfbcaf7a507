"""Drift handled inside the agents' round, on a real Redis server and a real environment service.

Each test fails on the loop before the one-policy change: there the round only added totals, the
change was sensed later on per-batch summaries by the triggerer, and a relearning DAG opened the
next epoch with a round-robin budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from banditops.bandit.policies import drift_aware
from banditops.bandit.policies.registry import make_policy
from banditops.clients.env_client import EnvClient
from banditops.loop import arm_choice, rounds, transitions
from banditops.sim.simulation import Instance, simulate_seed
from banditops.store.redis_store import BanditStore
from banditops.store.types import Mode, RoundWrite

#: The environment service's default reward seed (the shared ``env_server`` fixture reads it).
ENV_SEED = 7


def _converged(store: BanditStore, env: EnvClient) -> None:
    config, _ = transitions.experiment_config(scenario_name="seed", pulls_per_round=50)
    transitions.start_experiment(store, env, config, seed=11)
    for wave in range(40):
        for agent in range(4):
            rounds.run_agent_round(store, env, None, f"d/w{wave}/{agent}/0", np.random.default_rng([wave, agent]))
        if transitions.check_and_mark_convergence(store, np.random.default_rng(wave)).marked:
            return
    raise AssertionError("the seed scenario did not converge in 8,000 pulls")


def test_the_round_that_meets_the_change_reacts_and_the_next_samples_the_reacted_posterior(
    store: BanditStore, env: EnvClient
) -> None:
    _converged(store, env)
    before = store.state()
    assert before.mode == Mode.MONITORING and int(before.stats.means().argmax()) == 1
    env.update_arm(1, mean=0.0)  # the leader collapses (scenario 3's kind of change)
    first = rounds.run_agent_round(store, env, None, "d/after/0/0", np.random.default_rng(1))
    # the very round whose pulls met the change reacted, atomically with its rewards
    assert (first.status, first.reaction, first.epoch, first.epoch_after) == ("applied", "restart", 1, 2)
    reacted = store.state()
    assert (reacted.epoch, reacted.mode, reacted.explore_remaining) == (2, Mode.LEARNING, 0)
    # the restart kept the alarming arm's post-change rewards (mean 0), and nothing else from epoch 1
    assert 0 < reacted.stats.n[1] <= first.pulls and reacted.stats.means()[1] < 1.0
    assert reacted.stats.n.sum() <= first.pulls
    events = [e for e in store.events() if e.kind in ("drift_detected", "epoch_opened")]
    assert [e.kind for e in events] == ["drift_detected", "epoch_opened"]
    assert events[0].fields["reaction"] == "restart" and events[0].fields["arm"] == 1
    assert events[1].fields["reason"] == "drift_restart" and events[1].fields["explore_budget"] == 0
    # the round's pulls after the alarm open epoch 2's count; no summary of epoch 2 holds them, so the
    # event names them: epoch 2's first summary starts there (its posterior may also keep older rewards)
    assert events[1].fields["carried_pulls"] == reacted.epoch_pulls > 0
    # the next round of any agent samples from the reacted posterior: it is applied in epoch 2
    nxt = rounds.run_agent_round(store, env, None, "d/after/1/0", np.random.default_rng(2), agent=1)
    assert (nxt.status, nxt.epoch) == ("applied", 2)
    assert store.summaries(count=1000)[-1].pulls_before == events[1].fields["carried_pulls"]
    assert store.state().stats.n.sum() == reacted.stats.n.sum() + nxt.pulls


class RoundOfAnotherAgent:
    """An environment whose answer to agent A arrives after agent B's whole round (B read the same state)."""

    def __init__(self, env: EnvClient, store: BanditStore) -> None:
        self.env, self.store = env, store
        self.inner: list[Any] = []

    def pulls(self, arms: Any, **labels: Any) -> Any:
        result = self.env.pulls(arms, **labels)
        self.inner.append(rounds.run_agent_round(self.store, self.env, None, "d/twin/1/0", np.random.default_rng(5),
                                                 agent=1))
        return result


def test_two_agents_that_see_the_same_change_react_once(store: BanditStore, env: EnvClient) -> None:
    _converged(store, env)
    env.update_arm(1, mean=0.0)
    slow = RoundOfAnotherAgent(env, store)
    a = rounds.run_agent_round(store, slow, None, "d/twin/0/0", np.random.default_rng(4))
    (b,) = slow.inner
    # both read epoch 1 and both saw the collapse; B landed first and restarted, A's round is fenced out
    assert (b.status, b.reaction, b.epoch_after) == ("applied", "restart", 2)
    assert (a.status, a.reaction) == ("stale_epoch", "")
    assert store.epoch() == 2
    opened = [e for e in store.events() if e.kind == "epoch_opened"]
    restarts = [e for e in store.events() if e.kind == "drift_detected"]
    assert len(opened) == len(restarts) == 1


def test_a_reset_computed_from_an_old_read_is_refused_and_nothing_is_written(store: BanditStore) -> None:
    config, _ = transitions.experiment_config(scenario_name="seed")
    store.reset(config)
    read = store.round_state()
    arms, rewards = np.array([2, 2, 3]), np.array([1.0, 2.0, 3.0])
    plain = RoundWrite(appends={2: (rewards[:2], np.array([0, 1])), 3: (rewards[2:], np.array([2]))})
    assert store.apply_round("d/a/0/0", 1, arms, rewards, plain).status == "applied"
    # a reaction computed from the read before that round: arm 2's stream grew meanwhile
    reset = RoundWrite(resets={2: (read.stream_lengths[2], np.array([9.0]), np.array([3]))},
                       appends={3: (np.array([4.0]), np.array([4]))})
    snapshot = store.snapshot()["keys"]
    outcome = store.apply_round("d/b/0/0", 1, np.array([2, 3]), np.array([9.0, 4.0]), reset)
    assert outcome.status == "conflict"
    assert store.snapshot()["keys"] == snapshot  # nothing written, not even the batch id
    fresh = store.round_state()
    reset = RoundWrite(resets={2: (fresh.stream_lengths[2], np.array([9.0]), np.array([3]))},
                       appends={3: (np.array([4.0]), np.array([4]))})
    assert store.apply_round("d/b/0/0", 1, np.array([2, 3]), np.array([9.0, 4.0]), reset).status == "applied"
    after = store.round_state()
    assert after.state.stats.n[2] == 1 and after.state.stats.sum[2] == 9.0  # the reset replaced arm 2
    assert after.streams[2][0].tolist() == [9.0] and after.streams[3][0].tolist() == [3.0, 4.0]


def test_the_simulator_and_the_agents_call_the_same_policy_objects(
    store: BanditStore, env: EnvClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, list[str]] = {}
    for method in ("draw", "choose", "observe", "load"):
        original = getattr(drift_aware.DriftAwarePolicy, method)

        def spy(self: Any, *args: Any, _name: str = method, _original: Any = original, **kwargs: Any) -> Any:
            calls.setdefault(_name, []).append(caller)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(drift_aware.DriftAwarePolicy, method, spy)
    config, _ = transitions.experiment_config(scenario_name="seed", pulls_per_round=20)
    caller = "agent"
    transitions.start_experiment(store, env, config, seed=1)
    rounds.run_agent_round(store, env, None, "d/same/0/0", np.random.default_rng(0))
    caller = "simulator"
    simulate_seed(Instance.build(env.arms(), horizon=50), seed=0, policy="system")
    assert {k: sorted(set(v)) for k, v in calls.items()} == {
        "draw": ["agent", "simulator"], "choose": ["agent", "simulator"], "observe": ["agent", "simulator"],
        "load": ["agent"]}
    # and the agents' policy is the simulator's, by name
    deployed = arm_choice.deployed_policy(config, Mode.MONITORING, np.random.default_rng(0))
    assert type(deployed) is type(make_policy("system", 5, "gaussian", np.random.default_rng(0)))
    assert deployed.name == "system"


class PullLog:
    """The real environment, recording each pull call's batch id and arms."""

    def __init__(self, env: EnvClient) -> None:
        self.env = env
        self.calls: list[tuple[str, list[int]]] = []

    def pulls(self, arms: Any, **labels: Any) -> Any:
        self.calls.append((str(labels.get("batch_id")), list(arms)))
        return self.env.pulls(arms, **labels)


def test_a_round_ends_at_its_probe_and_plays_the_rest_from_a_fresh_read(store: BanditStore, env: EnvClient) -> None:
    # issue 13: what the policy does after a probe depends on its reward, so the rest of the round is
    # chosen after that reward is in the store, not blind from the round's first read
    _converged(store, env)
    log = PullLog(env)
    split = None
    for wave in range(60):  # the floor finds a suboptimal arm stale after >= 1,700 pulls without it
        for agent in range(4):
            result = rounds.run_agent_round(store, log, None, f"d/m{wave}/{agent}/0", np.random.default_rng(wave),
                                            pulls=50, agent=agent)
            assert result.status == "applied" and result.pulls == 50
            ids = [b for b, _ in log.calls if b.startswith(result.batch_id)]
            if len(ids) > 1 and split is None:
                split = result, ids, [a for b, a in log.calls if b in ids]
    assert split is not None, "no probe in 12,000 pulls"
    result, ids, parts = split
    assert ids == [result.batch_id] + [f"{result.batch_id}+{i}" for i in range(1, len(ids))]
    assert sum(len(p) for p in parts) == 50 == sum(result.pulls_per_arm)
    probe = parts[0][-1]
    assert probe != int(store.state().stats.means().argmax())  # the first part ends at the watch pull
    # a retried round is refused at its first part and plays nothing more
    again = rounds.run_agent_round(store, log, None, result.batch_id, np.random.default_rng(0))
    assert again.status == "duplicate"
    assert [b for b, _ in log.calls].count(f"{result.batch_id}+1") == 1
