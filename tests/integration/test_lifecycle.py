"""The loop's logic against a real Redis server and a real environment service (uvicorn)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from banditops.clients.env_client import EnvClient
from banditops.loop import arm_choice, drift_watch, ids, rounds, transitions
from banditops.store.redis_store import BanditStore
from banditops.store.types import Mode


def start(store: BanditStore, env: EnvClient, **knobs: Any) -> None:
    config, _ = transitions.experiment_config(scenario_name="seed", **knobs)
    transitions.start_experiment(store, env, config, seed=11)


def learn(store: BanditStore, env: EnvClient, run: str, agents: int = 4) -> None:
    for agent in range(agents):
        rounds.run_agent_batch(store, env, dag_id="bandit_learning", run_id=run, map_index=agent, seed=5)


def test_a_retried_batch_leaves_the_posterior_as_if_it_ran_once(store: BanditStore, env: EnvClient) -> None:
    start(store, env, rounds=3, pulls_per_round=50, growing_rounds=False)  # three rounds of exactly 50
    first = rounds.run_agent_batch(store, env, dag_id="d", run_id="r1", map_index=0)
    once = store.state()
    retry = rounds.run_agent_batch(store, env, dag_id="d", run_id="r1", map_index=0)
    again = store.state()
    assert (first.applied, first.duplicate, first.pulls_applied) == (3, 0, 150)
    assert (retry.applied, retry.duplicate, retry.pulls_applied) == (0, 3, 0)
    assert again.total_pulls == once.total_pulls == 150
    assert again.stats.n.tolist() == once.stats.n.tolist()
    assert again.stats.sum.tolist() == once.stats.sum.tolist()
    assert again.regret == once.regret


def test_an_agent_playing_for_time_paces_its_rounds_and_a_retry_applies_nothing_twice(
    store: BanditStore, env: EnvClient
) -> None:
    start(store, env, rounds=2, pulls_per_round=10, growing_rounds=False)
    t0 = time.monotonic()
    first = rounds.run_agent_batch(store, env, dag_id="d", run_id="r1", map_index=0, seconds=1.0,
                                   round_interval_s=0.25)
    took = time.monotonic() - t0
    # beyond its 2 rounds it kept playing for the second, at most one round per 0.25 s: 4 or 5 rounds
    assert 4 <= first.applied <= 5 and first.pulls_applied == 10 * first.applied, first
    assert 1.0 <= took < 2.0, took
    once = store.state()
    assert once.total_pulls == first.pulls_applied
    # the retry re-sends the same batch ids: the rounds it already applied are refused, only new ones count
    retry = rounds.run_agent_batch(store, env, dag_id="d", run_id="r1", map_index=0, seconds=1.0,
                                   round_interval_s=0.25)
    assert retry.duplicate == min(first.applied, retry.applied + retry.duplicate)
    assert store.state().total_pulls == once.total_pulls + retry.pulls_applied
    assert store.counters()["batches_duplicate"] == retry.duplicate
    with pytest.raises(ValueError, match="round_interval_s must be >= 0"):
        rounds.run_agent_batch(store, env, dag_id="d", run_id="r2", map_index=0, seconds=1.0, round_interval_s=-1)
    assert store.state().total_pulls == once.total_pulls + retry.pulls_applied  # the refusal pulled nothing


def test_an_agent_playing_for_time_keeps_playing_until_its_run_is_booked(store: BanditStore, env: EnvClient) -> None:
    """Past its budget the agent plays on until the run's bookkeeping is done, then stops at once."""
    start(store, env, rounds=1, pulls_per_round=10, growing_rounds=False)
    key = ids.run_key("d", "r1")
    asked: list[bool] = []

    def booked() -> bool:  # the bookkeeping branch finishes on the 4th look, well past the 0.2 s budget
        if len(asked) == 3:
            store.mark_booked(key)
        asked.append(store.booked(key))
        return asked[-1]

    report = rounds.run_agent_batch(store, env, dag_id="d", run_id="r1", map_index=0, seconds=0.2,
                                    round_interval_s=0.1, booked=booked)
    assert asked[-1] is True and asked.count(True) == 1  # it stopped at the first look that saw the mark
    assert report.applied >= len(asked) + 1  # the rounds in the budget, then one per look
    assert store.state().total_pulls == 10 * report.applied

    # a bookkeeping that never ends holds the agent for HOLD_FACTOR budgets at most, then it stops
    t0 = time.monotonic()
    never = rounds.run_agent_batch(store, env, dag_id="d", run_id="r2", map_index=0, seconds=0.2,
                                   round_interval_s=0.1, booked=lambda: False)
    assert time.monotonic() - t0 >= 0.2 * (1 + rounds.HOLD_FACTOR)
    assert never.applied > 1
    # without a budget the mark is never asked for: exactly the configured rounds
    exact = rounds.run_agent_batch(store, env, dag_id="d", run_id="r3", map_index=0, booked=lambda: 1 / 0 > 0)
    assert exact.applied == 1


def test_the_same_batch_id_draws_the_same_arms() -> None:
    a = ids.round_rng("bandit_learning/r/2/4", seed=1).random(5)
    b = ids.round_rng("bandit_learning/r/2/4", seed=1).random(5)
    c = ids.round_rng("bandit_learning/r/2/5", seed=1).random(5)
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


class RelearnMidRound:
    """An environment whose answer arrives after a relearning opened a new epoch (a slow agent)."""

    def __init__(self, env: EnvClient, store: BanditStore) -> None:
        self.env, self.store = env, store

    def pulls(self, arms: Any, **ledger: Any) -> Any:
        result = self.env.pulls(arms, **ledger)
        self.store.open_epoch(reason="relearning", explore_budget=10)
        return result


def test_a_batch_sampled_under_the_old_epoch_is_refused(store: BanditStore, env: EnvClient) -> None:
    start(store, env)
    learn(store, env, "warmup", agents=1)
    before = store.state()
    result = rounds.run_agent_round(store, RelearnMidRound(env, store), None, "d/slow/0/0", np.random.default_rng(0))
    after = store.state()
    assert result.status == "stale_epoch"
    assert (result.epoch, after.epoch) == (1, 2)
    assert after.epoch_pulls == 0 and after.stats.total == 0
    assert after.total_pulls == before.total_pulls


def test_relearning_explores_round_robin_until_the_budget_is_spent(store: BanditStore, env: EnvClient) -> None:
    start(store, env, relearn_budget=250, pulls_per_round=100, rounds=1, growing_rounds=False)
    store.set_mode(Mode.MONITORING, reason="converged")
    assert transitions.record_drift_and_relearn(store, epoch=1, arm=1, magnitude=-4.0) == 2
    assert store.mode() == Mode.RELEARNING
    for i in range(3):
        rounds.run_agent_batch(store, env, dag_id="d", run_id=f"r{i}", map_index=0)
    state = store.state()
    assert state.mode == Mode.LEARNING  # the store flipped back once 250 forced pulls were spent
    # 250 round-robin pulls over 5 arms are 50 each; the last 50 pulls are Thompson's.
    assert state.stats.n.min() >= 50
    kinds = [e.kind for e in store.events()]
    assert kinds.index("epoch_opened") < kinds.index("relearning_done")


def _round_arms(state: Any, n: int, seed: int, *, forced: bool = False, agent: int = 0) -> np.ndarray:
    """The arms agent ``agent``'s deployed policy chooses for a round of ``n`` pulls from ``state`` (no pull)."""
    player = arm_choice.deployed_policy(state.config, state.mode, np.random.default_rng(seed), agent=agent)
    k = state.config.n_arms
    player.load(stats=state.stats, streams=[(np.empty(0), np.empty(0, np.int64))] * k, t=state.total_pulls,
                last_pulled=np.where(state.last_pulled >= 0, state.last_pulled, 0), retired=state.retired)
    chosen = [player.choose(int(c), state.total_pulls + i) for i, c in enumerate(player.draw(n))]
    return np.array([a for a, f in chosen if f or not forced])


def test_learning_tops_up_every_arm_to_its_minimum_first(store: BanditStore) -> None:
    state = replace(_state(store), mode=Mode.LEARNING)
    state = replace(state, config=replace(state.config, min_pulls_per_arm=20))  # the default is 5
    assert state.config.agents == 4
    # the 4 agents reading this empty posterior each give every arm its share: 20 / 4 forced pulls
    top_up = _round_arms(state, 100, 0, forced=True)
    assert np.bincount(top_up, minlength=5)[:5].tolist() == [5] * 5 and top_up.size == 25
    assert top_up[:25].tolist() == sorted(top_up[:25].tolist())  # first, arm by arm


def test_the_agents_of_one_wave_top_each_arm_up_to_its_minimum_exactly(store: BanditStore) -> None:
    # 5 missing pulls per arm over 4 agents: 5 in all per arm, not 4 x ceil(5 / 4) = 8 (issue 13)
    state = replace(_state(store), mode=Mode.LEARNING)
    assert state.config.min_pulls_per_arm == 5 and state.config.agents == 4
    forced = [_round_arms(state, 50, agent, forced=True, agent=agent) for agent in range(4)]
    per_arm = sum(np.bincount(f, minlength=5)[:5] for f in forced)
    assert per_arm.tolist() == [5] * 5
    assert [f.size for f in forced] == [7, 6, 6, 6]  # the 25 missing pulls, dealt round the agents


def test_monitoring_spends_the_floor_on_stale_arms_only(store: BanditStore) -> None:
    base = _state(store)
    last = np.array([0, 9_999, 0, 9_999, 9_999])
    n, mean = np.array([100, 9_000, 100, 500, 300]), np.array([2.0, 4.0, 1.0, 3.0, 0.5])
    stats = replace(base.stats, n=n, sum=n * mean, sumsq=n * (mean**2 + 1.0))  # arm 1 clearly best
    state = replace(base, mode=Mode.MONITORING, epoch_pulls=10_000, total_pulls=10_000, last_pulled=last,
                    stats=stats)
    state = replace(state, config=replace(state.config, exploration_floor=0.05))
    # the staleness floor's rule: each stale arm (0 and 2, unseen for 10,000 pulls) gets one pull,
    # then it is fresh; TS never picks them (their means are 2 and 3 posterior sd below the leader's).
    # The 4 agents read the same state; arm a's probe is agent (a mod 4)'s alone: one pull per wave.
    per_agent = [np.bincount(_round_arms(state, 100, 1, agent=a), minlength=5) for a in range(4)]
    assert [c[0] for c in per_agent] == [1, 0, 0, 0] and [c[2] for c in per_agent] == [0, 0, 1, 0]
    fresh = replace(state, last_pulled=np.full(5, 9_999))
    fresh_counts = np.bincount(_round_arms(fresh, 100, 1), minlength=5)
    assert fresh_counts[0] + fresh_counts[2] == 0


def _state(store: BanditStore) -> Any:
    config, _ = transitions.experiment_config(scenario_name="seed")
    store.reset(config)
    return store.state()


def test_the_whole_loop_converges_reacts_to_drift_in_the_round_and_converges_again(
    store: BanditStore, env: EnvClient
) -> None:
    start(store, env)
    watch = drift_watch.DriftWatch(store)
    for run in range(6):
        learn(store, env, f"a{run}")
        assert watch.poll() is None  # the agents made no restart: nothing to record
        if transitions.check_and_mark_convergence(store, np.random.default_rng(run)).marked:
            break
    assert store.mode() == Mode.MONITORING
    learn(store, env, "stationary")
    assert watch.poll() is None and store.epoch() == 1
    env.update_arm(1, mean=0.0)
    env.update_arm(0, mean=6.0)
    learn(store, env, "b0", agents=1)
    # the agents' rounds reacted themselves: the leader dropped, so a restart into epoch 2, learnt by
    # the policy (LEARNING, no forced round-robin budget), with arm 1's post-change rewards kept
    state = store.state()
    assert (state.epoch, state.mode, state.explore_remaining) == (2, Mode.LEARNING, 0)
    assert state.stats.n[1] > 0 and state.stats.means()[1] < 1.0
    finding = watch.poll()
    assert finding is not None and finding.reacted and (finding.epoch, finding.opened_epoch, finding.arm) == (1, 2, 1)
    drift = transitions.record_drift(store, finding.to_dict(), env=env)
    assert drift is not None and drift["pulls_since_change"] > 0 and drift["opened_epoch"] == 2
    # recorded once: a retried record task and a fresh watch find nothing left to record
    assert transitions.record_drift(store, finding.to_dict(), env=env) is None
    assert drift_watch.DriftWatch(store).poll() is None
    # relearning epoch 1 now is a no-op: the store is in epoch 2 already
    assert transitions.record_drift_and_relearn(store, epoch=1, force=True) is None
    for run in range(8):
        learn(store, env, f"c{run}")
        outcome = transitions.check_and_mark_convergence(store, np.random.default_rng(100 + run))
        if outcome.marked:
            break
    assert store.mode() == Mode.MONITORING and store.epoch() == 2
    assert outcome.verdict.leader == 0  # the new best arm (mean 6)
    kinds = [e.kind for e in store.events() if e.kind in ("experiment_started", "converged", "epoch_opened",
                                                          "drift_recorded", "relearning_done")
             or (e.kind == "drift_detected" and e.fields.get("reaction") == "restart")]
    assert kinds == ["experiment_started", "converged", "drift_detected", "epoch_opened", "drift_recorded",
                     "converged"]


def test_a_restarted_watch_resumes_where_the_cursor_is(store: BanditStore, env: EnvClient) -> None:
    # plain TS (no reaction in the rounds, and no top-up: no minimum per arm): the watch senses the change
    start(store, env, policy="ts", min_pulls_per_arm=0)
    learn(store, env, "a")
    assert transitions.check_and_mark_convergence(store, np.random.default_rng(0)).marked
    # the summary-stream watch (what production runs) on simulated rounds
    first = drift_watch.DriftWatch(store, summaries=True)
    learn(store, env, "b")
    assert first.poll() is None
    cursor = store.get_cursor(drift_watch.DRIFT_CURSOR)
    assert cursor == first.cursor != "0-0"
    # A new triggerer: the detectors are rebuilt from the epoch's summaries up to the cursor.
    second = drift_watch.DriftWatch(store, summaries=True)
    assert second.poll() is None
    assert second.replayed == len(store.summaries(count=10_000))
    assert second.cursor == cursor
    env.update_arm(1, mean=0.0)
    learn(store, env, "c", agents=1)
    found_first, found_second = first.poll(), second.poll()
    assert found_second is not None
    assert found_first is not None
    assert (found_second.arm, found_second.change_point) == (found_first.arm, found_first.change_point)


def test_bad_experiment_requests_are_refused_before_anything_changes(store: BanditStore) -> None:
    with pytest.raises(ValueError, match="valid scenarios: seed, banners, problem1"):
        transitions.experiment_config(scenario_name="casino")
    with pytest.raises(ValueError, match="agents must be >= 1"):
        transitions.experiment_config(scenario_name="seed", agents=-1)
    with pytest.raises(ValueError, match=r"convergence_delta must be in \(0, 1\)"):
        transitions.experiment_config(scenario_name="seed", convergence_delta=1.5)
    with pytest.raises(ValueError, match="pays gaussian rewards"):
        transitions.experiment_config(scenario_name="seed", reward_kind="bernoulli")
    assert not store.exists()


def test_forced_relearning_names_its_epoch_and_a_retry_opens_no_second_one(store: BanditStore, env: EnvClient) -> None:
    start(store, env, relearn_budget=10, pulls_per_round=10, rounds=1)
    learn(store, env, "before")
    with pytest.raises(ValueError, match="must name the epoch"):
        transitions.record_drift_and_relearn(store, epoch=None, force=True)  # type: ignore[arg-type]
    assert store.state().epoch == 1  # the refused request wrote nothing
    assert transitions.record_drift_and_relearn(store, epoch=1, reason="manual_relearning", force=True) == 2
    learn(store, env, "after")
    opened = store.state()
    # a retried task and a second queued click, both naming epoch 1: no-ops, epoch 2 and its pulls kept
    assert transitions.record_drift_and_relearn(store, epoch=1, reason="manual_relearning", force=True) is None
    assert transitions.record_drift_and_relearn(store, epoch=1, reason="manual_relearning", force=True) is None
    # the store alone: opening from epoch 1 again reports the existing epoch 2, never 3
    assert store.open_epoch(reason="manual_relearning", explore_budget=10, expected_epoch=1) == 2
    after = store.state()
    assert after.epoch == 2
    assert after.epoch_pulls == opened.epoch_pulls > 0
    assert after.stats.n.tolist() == opened.stats.n.tolist()
    assert sum(e.kind == "epoch_opened" and int(e.fields.get("epoch", -1)) == 2 for e in store.events()) == 1
    assert not any(e.kind == "epoch_opened" and int(e.fields.get("epoch", -1)) == 3 for e in store.events())
