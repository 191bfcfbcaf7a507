"""BanditStore against a real Redis server: exact counts, dedupe, epochs, streams, snapshots."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from banditops.bandit.stats import ArmStats
from banditops.store import (
    BanditStore,
    ExperimentConfig,
    Mode,
    StoreNotInitializedError,
)
from stack.redis_server import APPENDFSYNC, RedisServer

GAUSS = ExperimentConfig(name="seed", reward_kind="gaussian", n_arms=3, relearn_budget=10)
BERN = ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=4)
STORE_CONFIG = GAUSS  # the shared ``store`` fixture resets with it


@pytest.fixture
def bstore(redis_client: redis.Redis, namespace: str) -> BanditStore:
    s = BanditStore(redis_client, namespace)
    s.reset(BERN)
    return s


def test_reset_starts_epoch_one_learning_with_empty_posterior(store: BanditStore) -> None:
    st = store.state()
    assert (st.mode, st.epoch, st.total_pulls, st.epoch_pulls, st.regret) == (Mode.LEARNING, 1, 0, 0, 0.0)
    assert st.stats.n.tolist() == [0, 0, 0]
    assert st.last_pulled.tolist() == [-1, -1, -1]
    assert st.config == GAUSS
    assert store.config() == GAUSS and store.mode() is Mode.LEARNING and store.epoch() == 1
    events = store.events()
    assert [e.kind for e in events] == ["experiment_started"]
    assert events[0].fields == {"epoch": 1, "name": "seed", "n_arms": 3, "reward_kind": "gaussian", "mode": "LEARNING"}


def test_batches_add_exact_sufficient_statistics_and_counters(store: BanditStore) -> None:
    rng = np.random.default_rng(7)
    expected = ArmStats.zeros(3)
    regret = 0.0
    for i in range(5):
        arms = rng.integers(0, 3, size=50)
        rewards = rng.normal(2.0, 1.0, size=50)  # arbitrary doubles: the store must add them bit-exactly
        result = store.apply_batch(f"b{i}", 1, arms, rewards, regret=0.1 * i)
        assert result.applied and result.total_pulls == 50 * (i + 1)
        expected = expected + ArmStats.from_pulls(arms, rewards, 3)
        regret += 0.1 * i
    st = store.state()
    assert st.stats.n.tolist() == expected.n.tolist()
    assert st.stats.sum.tolist() == expected.sum.tolist()
    assert st.stats.sumsq.tolist() == expected.sumsq.tolist()
    assert (st.total_pulls, st.epoch_pulls) == (250, 250)
    assert st.regret == regret and st.epoch_regret == regret
    assert store.counters() == {"total_pulls": 250, "regret": regret, "batches_applied": 5,
                                "batches_duplicate": 0, "batches_stale": 0}
    # each summary carries its batch's regret bit-exactly: their running sum is the counter
    per_batch = [s.regret for s in store.summaries()]
    assert per_batch == [0.1 * i for i in range(5)]
    assert sum(r or 0.0 for r in per_batch) == st.regret  # added in the same order as the store did


def test_summaries_written_before_regret_was_recorded_read_as_none(
    store: BanditStore, redis_client: redis.Redis
) -> None:
    # an entry of an older store version, exactly as its apply_batch script wrote it (no regret field)
    stats = ArmStats.from_pulls([0, 2], [1.0, 2.0], 3)
    redis_client.xadd(store.summaries_key, {"epoch": "1", "mode": "LEARNING", "batch_id": "old",
                                            "pulls_before": "0", "stats": json.dumps(stats.to_dict())})
    store.apply_batch("new", 1, [1], [0.5], regret=0.0)
    old, new = store.summaries()
    assert (old.batch_id, old.regret, old.stats.n.tolist()) == ("old", None, [1, 0, 1])
    assert (new.batch_id, new.regret) == ("new", 0.0)


def test_tiny_rewards_keep_their_digits(store: BanditStore) -> None:
    # HINCRBYFLOAT would store 1e-20 as 0; the scripts keep exact doubles.
    store.apply_batch("tiny", 1, [0, 0], [1e-10, 3e-10])
    st = store.stats()
    assert st.sum[0] == 1e-10 + 3e-10 and st.sumsq[0] == 1e-20 + 9e-20


def test_last_pulled_is_epoch_pull_count_after_the_arms_last_pull(store: BanditStore) -> None:
    store.apply_batch("a", 1, [0, 1, 0, 0], [1.0, 2.0, 3.0, 4.0])  # arm0 last at pull 4, arm1 at 2
    store.apply_batch("b", 1, [1, 1], [1.0, 1.0])  # pulls 5, 6
    assert store.state().last_pulled.tolist() == [4, 6, -1]


def test_duplicate_batch_id_applies_nothing(store: BanditStore) -> None:
    first = store.apply_batch("dag/run/0/0", 1, [0, 1], [1.0, 2.0])
    before = store.state().to_dict()
    again = store.apply_batch("dag/run/0/0", 1, [2, 2, 2], [5.0, 5.0, 5.0])  # a retry that re-sampled
    assert (first.status, again.status) == ("applied", "duplicate")
    assert again.total_pulls == 2
    assert store.state().to_dict() == before
    assert len(store.summaries()) == 1
    assert store.counters()["batches_duplicate"] == 1


def test_stale_epoch_is_refused_and_new_epoch_starts_from_the_prior(store: BanditStore) -> None:
    store.apply_batch("e1", 1, [0, 1, 2], [1.0, 2.0, 3.0], regret=1.5)
    new_epoch = store.open_epoch(reason="drift_detected", explore_budget=10, drift_arm=2)
    assert new_epoch == 2
    st = store.state()
    assert (st.epoch, st.mode, st.explore_remaining, st.epoch_pulls, st.total_pulls) == (2, Mode.RELEARNING, 10, 0, 3)
    assert st.stats.n.tolist() == [0, 0, 0] and st.last_pulled.tolist() == [-1, -1, -1]
    assert st.epoch_regret == 0.0 and st.regret == 1.5
    stale = store.apply_batch("late", 1, [0], [9.0])
    assert (stale.status, stale.epoch, stale.mode) == ("stale_epoch", 2, Mode.RELEARNING)
    # a retry of a batch applied in epoch 1 is still recognised as a duplicate
    assert store.apply_batch("e1", 1, [0], [1.0]).status == "duplicate"
    assert store.stats(1).n.tolist() == [1, 1, 1]  # the old epoch's posterior is kept
    with pytest.raises(ValueError, match=r"valid epochs: 1\.\.2"):
        store.stats(3)
    assert store.state().to_dict() == st.to_dict()
    opened = [e for e in store.events() if e.kind == "epoch_opened"]
    assert opened[0].fields == {"epoch": 2, "previous_epoch": 1, "reason": "drift_detected", "explore_budget": 10,
                                "mode": "RELEARNING", "drift_arm": 2}


def test_open_epoch_with_expected_epoch_is_idempotent(store: BanditStore) -> None:
    assert store.open_epoch(reason="drift_detected", explore_budget=5, expected_epoch=1) == 2
    events = len(store.events())
    assert store.open_epoch(reason="drift_detected", explore_budget=5, expected_epoch=1) == 2  # retried
    assert store.epoch() == 2 and len(store.events()) == events


def test_relearning_flips_to_learning_when_budget_is_spent(store: BanditStore) -> None:
    store.open_epoch(reason="drift_detected", explore_budget=10)
    r1 = store.apply_batch("r1", 2, [0, 1, 2, 0, 1, 2], [0.0] * 6)
    assert (r1.mode, store.state().explore_remaining) == (Mode.RELEARNING, 4)
    r2 = store.apply_batch("r2", 2, [0, 1, 2, 0, 1], [0.0] * 5)
    assert r2.mode is Mode.LEARNING
    st = store.state()
    assert (st.mode, st.explore_remaining, st.epoch_pulls) == (Mode.LEARNING, 0, 11)
    kinds = [e.kind for e in store.events()]
    assert kinds == ["experiment_started", "epoch_opened", "mode_changed", "mode_changed", "relearning_done"]
    done = store.events()[-1]
    assert done.fields == {"epoch": 2, "epoch_pulls": 11, "mode": "LEARNING"}
    assert [s.mode for s in store.summaries()] == [Mode.RELEARNING, Mode.RELEARNING]


def test_open_epoch_with_zero_budget_goes_straight_to_learning(store: BanditStore) -> None:
    store.set_mode(Mode.MONITORING, reason="converged")
    assert store.open_epoch(reason="manual", explore_budget=0) == 2
    assert store.mode() is Mode.LEARNING


def test_set_mode_events_and_expected_epoch(store: BanditStore) -> None:
    assert store.set_mode("monitoring", reason="converged", p_best=0.97)
    assert store.mode() is Mode.MONITORING
    tail = store.events()[-2:]
    assert [e.kind for e in tail] == ["mode_changed", "converged"]
    assert tail[0].fields == {"from": "LEARNING", "to": "MONITORING", "reason": "converged", "epoch": 1, "p_best": 0.97}
    assert tail[1].fields == {"epoch": 1, "mode": "MONITORING", "p_best": 0.97}
    n_events = len(store.events())
    assert store.set_mode(Mode.MONITORING, reason="converged")  # already there: nothing written
    assert len(store.events()) == n_events
    assert not store.set_mode(Mode.LEARNING, reason="manual", expected_epoch=2)  # refused
    assert store.mode() is Mode.MONITORING and len(store.events()) == n_events
    assert store.set_mode(Mode.LEARNING, reason="manual", expected_epoch=1)
    assert store.events()[-1].kind == "mode_changed"  # 'manual' is not a lifecycle milestone


def test_streams_read_back_in_order_with_exclusive_cursors(store: BanditStore) -> None:
    for i in range(5):
        store.apply_batch(f"s{i}", 1, [i % 3] * (i + 1), [float(i)] * (i + 1))
    all_summaries = store.summaries()
    assert [s.batch_id for s in all_summaries] == [f"s{i}" for i in range(5)]
    assert [s.pulls_before for s in all_summaries] == [0, 1, 3, 6, 10]
    assert all_summaries[3].stats.n.tolist() == [4, 0, 0] and all_summaries[3].stats.sum.tolist() == [12.0, 0, 0]
    assert all(s.epoch == 1 and s.mode is Mode.LEARNING for s in all_summaries)
    page1 = store.summaries(count=2)
    page2 = store.summaries(since=page1[-1].id, count=2)
    page3 = store.summaries(since=page2[-1].id, count=2)
    assert [s.batch_id for s in page1 + page2 + page3] == [f"s{i}" for i in range(5)]
    assert store.summaries(since=page3[-1].id) == []

    store.set_cursor("drift_sensor", page2[-1].id)
    assert store.get_cursor("drift_sensor") == page2[-1].id
    assert store.get_cursor("unknown") == "0-0"
    assert [s.batch_id for s in store.summaries(since=store.get_cursor("drift_sensor"))] == ["s4"]

    first = store.append_event("drift_detected", arm=2, change_point=1234, magnitude=1.5)
    second = store.append_event("note", text="hello")
    events = store.events(since=first)
    assert [(e.id, e.kind, e.fields) for e in events] == [(second, "note", {"text": "hello"})]
    assert store.events()[-2].fields == {"arm": 2, "change_point": 1234, "magnitude": 1.5}


def test_blocking_summaries_wake_on_a_new_batch(store: BanditStore, redis_server: RedisServer, namespace: str) -> None:
    reader = BanditStore(redis_server.client(), namespace)
    got: list[str] = []
    thread = threading.Thread(target=lambda: got.extend(s.batch_id for s in reader.summaries("0-0", block_ms=5000)))
    thread.start()
    time.sleep(0.2)  # let the reader block first (if it does not, it still must see the batch)
    store.apply_batch("wake", 1, [1], [1.0])
    thread.join(timeout=10)
    assert got == ["wake"]
    assert reader.summaries(store.summaries()[-1].id, block_ms=50) == []
    assert reader.summaries("$", block_ms=50) == []  # "$": nothing new arrived while waiting
    with pytest.raises(ValueError, match="stream id"):
        reader.summaries("$")  # without blocking "$" would always be empty: refused


def test_changed_channel_is_published_after_a_batch(store: BanditStore, redis_server: RedisServer) -> None:
    sub_client = redis_server.client()
    pubsub = sub_client.pubsub()
    pubsub.subscribe(store.changed_channel)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    store.apply_batch("pub", 1, [0], [1.0])
    message = pubsub.get_message(timeout=2)
    assert message is not None and json.loads(message["data"]) == {"what": "batch", "epoch": 1, "mode": "LEARNING"}
    pubsub.close()
    sub_client.close()


@pytest.mark.parametrize(
    ("arms", "rewards", "message"),
    [
        ([0, 1], [1.0, math.nan], "finite"),
        ([0, 1], [1.0, math.inf], "finite"),
        ([0, 3], [1.0, 2.0], r"valid arms are 0\.\.2"),
        ([-1], [1.0], r"valid arms are 0\.\.2"),
        ([0, 1, 2], [1.0, 2.0], "same length"),
        ([0.5], [1.0], "integer"),
        ([0], ["x"], "numbers"),
        ([0], [1e200], "within"),
    ],
)
def test_bad_batch_raises_and_leaves_state_unchanged(store: BanditStore, arms, rewards, message: str) -> None:
    store.apply_batch("ok", 1, [0], [1.0])
    before = store.snapshot()
    with pytest.raises(ValueError, match=message):
        store.apply_batch("bad", 1, arms, rewards)
    assert store.snapshot()["keys"] == before["keys"]
    assert store.apply_batch("bad", 1, [0], [1.0]).applied  # the id was not burned


def test_bernoulli_rewards_must_be_zero_or_one(bstore: BanditStore) -> None:
    before = bstore.snapshot()
    with pytest.raises(ValueError, match="Bernoulli rewards must be 0 or 1"):
        bstore.apply_batch("b", 1, [0, 1], [1.0, 0.5])
    assert bstore.snapshot()["keys"] == before["keys"]
    assert bstore.apply_batch("b", 1, [0, 1, 3], [1, 0, True]).applied


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_id": ""}, "batch_id"),
        ({"epoch": 0}, "epoch"),
        ({"epoch": "1"}, "epoch"),
        ({"regret": math.nan}, "regret"),
        ({"regret": -1.0}, "regret"),
    ],
)
def test_bad_batch_arguments_raise_and_leave_state_unchanged(store: BanditStore, kwargs, message: str) -> None:
    call = {"batch_id": "x", "epoch": 1, "arms": [0], "rewards": [1.0]} | kwargs
    before = store.snapshot()
    with pytest.raises(ValueError, match=message):
        store.apply_batch(call.pop("batch_id"), call.pop("epoch"), call.pop("arms"), call.pop("rewards"), **call)
    assert store.snapshot()["keys"] == before["keys"]


def test_bad_mode_and_epoch_arguments_raise_and_leave_state_unchanged(store: BanditStore) -> None:
    before = store.snapshot()
    with pytest.raises(ValueError, match="valid modes: LEARNING, MONITORING, RELEARNING"):
        store.set_mode("SLEEPING", reason="x")
    with pytest.raises(ValueError, match="reason"):
        store.set_mode(Mode.MONITORING, reason="")
    with pytest.raises(ValueError, match="explore_budget"):
        store.open_epoch(reason="drift", explore_budget=-1)
    with pytest.raises(ValueError, match="JSON"):
        store.append_event("x", bad=math.nan)
    with pytest.raises(ValueError, match="stream id"):
        store.set_cursor("c", "latest")
    with pytest.raises(ValueError, match=r"valid arms are 0\.\.2"):
        store.retire_arm(3)
    assert store.snapshot()["keys"] == before["keys"]


def test_add_and_retire_arms(store: BanditStore) -> None:
    store.apply_batch("a", 1, [0, 1, 2], [1.0, 1.0, 1.0])
    assert store.add_arm() == 3
    st = store.state()
    assert st.stats.n.tolist() == [1, 1, 1, 0] and st.last_pulled.tolist()[-1] == -1
    assert store.config().n_arms == 4
    # a store object created before the arm was added learns the new shape on the fly
    store.apply_batch("b", 1, [3, 3], [2.0, 4.0])
    store.retire_arm(1)
    store.retire_arm(1)  # idempotent
    st = store.state()
    assert st.retired == frozenset({1}) and st.active_arms.tolist() == [0, 2, 3]
    assert store.apply_batch("late", 1, [1], [5.0]).applied  # late rewards of a retired arm still count
    assert store.state().stats.n.tolist() == [1, 2, 1, 2]
    store.retire_arm(0)
    store.retire_arm(2)
    with pytest.raises(ValueError, match="last active arm"):
        store.retire_arm(3)
    kinds = [e.kind for e in store.events()]
    assert kinds.count("arm_added") == 1 and kinds.count("arm_retired") == 3


def test_stale_shape_cache_is_refreshed_after_another_process_resets(redis_client: redis.Redis, namespace: str) -> None:
    agent = BanditStore(redis_client, namespace)
    admin = BanditStore(redis_client, namespace)
    first = admin.reset(GAUSS)
    agent.apply_batch("g", first, [0], [2.5])
    epoch = admin.reset(BERN)  # now Bernoulli with 4 arms, in a new epoch
    with pytest.raises(ValueError, match="Bernoulli"):
        agent.apply_batch("g2", epoch, [0], [2.5])
    assert agent.apply_batch("g3", epoch, [3], [1.0]).applied


def test_snapshot_restore_round_trip_into_a_fresh_namespace(store: BanditStore, redis_client: redis.Redis) -> None:
    store.apply_batch("a", 1, [0, 1, 1], [0.3, 1.7, -2.25], regret=0.7)
    store.set_mode(Mode.MONITORING, reason="converged")
    store.open_epoch(reason="drift_detected", explore_budget=10)
    store.apply_batch("b", 2, [2, 2, 0], [1.1, 2.2, 3.3], regret=0.2)
    store.add_arm()
    store.retire_arm(1)
    store.set_meta(mlflow_parent_run="abc123", phase_run="def456")
    store.set_cursor("drift_sensor", store.summaries()[0].id)
    # keys other parts keep in the namespace (the decision service's feedback stream and its
    # consumer group, decisions with a TTL) belong to the snapshot too
    feedback = f"{store.namespace}:feedback"
    first_feedback = redis_client.xadd(feedback, {"arm": "1", "reward": "1"})
    redis_client.xadd(feedback, {"arm": "2", "reward": "0"})
    redis_client.xgroup_create(feedback, "fold", id=first_feedback)
    redis_client.set(f"{store.namespace}:decision:abc", "{}", ex=3600)

    snap = json.loads(json.dumps(store.snapshot()))  # must survive JSON
    other = BanditStore(redis_client, store.namespace + "r")
    other.restore(snap)
    assert other.state().to_dict() == store.state().to_dict()
    assert other.stats(1).to_dict() == store.stats(1).to_dict()
    assert other.get_meta() == {"mlflow_parent_run": "abc123", "phase_run": "def456"}
    assert other.get_cursor("drift_sensor") == store.get_cursor("drift_sensor")
    assert other.events() == store.events()
    assert [(s.id, s.batch_id, s.epoch, s.mode, s.pulls_before, s.stats.to_dict()) for s in other.summaries()] == [
        (s.id, s.batch_id, s.epoch, s.mode, s.pulls_before, s.stats.to_dict()) for s in store.summaries()
    ]
    assert other.snapshot()["keys"] == snap["keys"]
    assert snap["keys"]["feedback"]["groups"] == [["fold", first_feedback.decode()]]
    assert 3500_000 < redis_client.pttl(f"{other.namespace}:decision:abc") <= 3600_000
    pending = redis_client.xreadgroup("fold", "c1", {f"{other.namespace}:feedback": ">"})
    assert [fields for _, fields in pending[0][1]] == [{b"arm": b"2", b"reward": b"0"}]
    # the restored store keeps deduplicating and keeps the epoch fence
    assert other.apply_batch("b", 2, [0], [1.0]).status == "duplicate"
    assert other.apply_batch("c", 1, [0], [1.0]).status == "stale_epoch"


def test_restore_rejects_what_is_not_a_snapshot(store: BanditStore) -> None:
    before = store.snapshot()
    with pytest.raises(ValueError, match="format"):
        store.restore({"keys": {}})
    with pytest.raises(ValueError, match="state"):
        store.restore({"format": before["format"], "keys": {}})
    assert store.snapshot()["keys"] == before["keys"]


def test_uninitialised_namespace_says_to_reset(redis_client: redis.Redis, namespace: str) -> None:
    empty = BanditStore(redis_client, namespace)
    assert not empty.exists()
    for call in (empty.state, empty.mode, empty.epoch, empty.config, lambda: empty.apply_batch("x", 1, [0], [1.0])):
        with pytest.raises(StoreNotInitializedError, match="reset"):
            call()


def test_namespace_must_not_reach_into_other_namespaces(redis_client: redis.Redis) -> None:
    for bad in ("bo:x", "bo*", "", "a b"):
        with pytest.raises(ValueError, match="namespace"):
            BanditStore(redis_client, bad)


def test_reset_wipes_only_its_namespace(store: BanditStore, redis_client: redis.Redis) -> None:
    neighbour = BanditStore(redis_client, store.namespace + "n")
    neighbour.reset(BERN)
    neighbour.apply_batch("x", 1, [0], [1])
    store.apply_batch("y", 1, [0], [1.0])
    assert store.reset(GAUSS) == 2  # epochs continue across resets
    assert store.state().total_pulls == 0 and store.summaries() == []
    assert neighbour.state().total_pulls == 1 and neighbour.epoch() == 1


def test_reset_keeps_epochs_monotonic_so_batches_in_flight_are_refused(
    redis_client: redis.Redis, namespace: str
) -> None:
    """An agent that sampled under the previous experiment applies after the reset: refused, nothing changes."""
    empty = BanditStore(redis_client, namespace)
    assert empty.reset(GAUSS) == 1  # an empty namespace starts at 1
    agent = BanditStore(redis_client, namespace)
    assert agent.apply_batch("dag/run/0/0", 1, [0, 1], [1.0, 2.0]).applied
    assert empty.open_epoch(reason="drift_detected", explore_budget=0) == 2
    assert agent.apply_batch("dag/run/1/0", 2, [2], [3.0]).applied
    old_epochs = (1, 2)  # batches sampled (not yet applied) under either epoch of the old experiment

    epoch = empty.reset(BERN)  # the experiment DAG resets while those agent tasks are in flight
    assert epoch == 3 == empty.epoch() == agent.epoch()
    assert empty.events()[0].fields["epoch"] == 3
    before = (empty.state().to_dict(), empty.summaries(), empty.events())
    for old in old_epochs:
        # a fresh batch id, and a retry of a batch the old experiment had applied
        for batch_id in (f"dag/run/9/{old}", f"dag/run/{old - 1}/0"):
            result = agent.apply_batch(batch_id, old, [1], [1])
            assert (result.status, result.epoch, result.total_pulls) == ("stale_epoch", 3, 0)
    assert (empty.state().to_dict(), empty.summaries(), empty.events()) == before
    assert empty.counters()["batches_stale"] == 4 and empty.counters()["batches_applied"] == 0
    with pytest.raises(ValueError, match=r"valid epochs: 3\.\.3"):
        empty.stats(1)  # the old experiment's epochs are gone, not silently empty
    assert agent.apply_batch("dag/run/0/0", epoch, [1], [1]).applied  # same id, new experiment: applied
    assert empty.stats().n.tolist() == [0, 1, 0, 0]


def test_aof_persistence_survives_a_crash(tmp_path: Path) -> None:
    """SIGKILL (no flush, no fsync on the way out) under the deployments' fsync policy: all acknowledged is kept.

    ``everysec`` writes each command to the kernel before Redis replies, so a process crash keeps it
    (docs/reliability.md, "Durability": the exceptions are a machine crash, ≤ ~1-2 s, and a write Redis
    postponed behind a stalled fsync; what is replayed is always a consistent prefix).
    """
    server = RedisServer(data_dir=tmp_path / "aof", appendonly=True).start()
    assert server.appendfsync == APPENDFSYNC
    try:
        client = server.client()
        store = BanditStore(client, "aof")
        store.reset(GAUSS)
        store.apply_batch("a", 1, [0, 1, 2, 2], [0.1, 0.2, 0.3, 0.4], regret=0.5)
        store.open_epoch(reason="drift_detected", explore_budget=10)
        store.apply_batch("b", 2, [1], [7.0])
        before = store.snapshot()
        client.close()
        server.crash_restart()
        client = server.client()
        after = BanditStore(client, "aof")
        assert after.snapshot()["keys"] == before["keys"]
        assert after.state().stats.n.tolist() == [0, 1, 0] and after.state().total_pulls == 5
        assert after.apply_batch("b", 2, [1], [7.0]).status == "duplicate"
        client.close()
    finally:
        server.stop()


def test_a_crash_under_load_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    """Four agents apply batches as fast as they can; Redis is SIGKILLed in the middle of it.

    Every batch whose ``apply_batch`` returned before the kill is in the replayed state, and the
    replayed state is one the store could have been in: its counters, posterior and dedupe set
    agree with each other (one script = one AOF entry, replayed whole or not at all).
    """
    server = RedisServer(data_dir=tmp_path / "aof", appendonly=True).start()
    store = BanditStore(server.client(), "aof")
    store.reset(GAUSS)
    acknowledged: list[list[str]] = [[] for _ in range(4)]
    killed = threading.Event()

    def agent(i: int) -> None:
        client = BanditStore(server.client(), "aof")
        for k in range(100_000):
            batch = f"agent{i}/{k}"
            try:
                client.apply_batch(batch, 1, [k % 3, (k + i) % 3], [1.0, 2.0])
            except redis.ConnectionError:
                assert killed.is_set()
                return
            acknowledged[i].append(batch)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        while sum(map(len, acknowledged)) < 400:
            time.sleep(0.01)
        killed.set()
        server.kill()
        for t in threads:
            t.join(30)
        server.start()
        after = BanditStore(server.client(), "aof")
        acked = {b for batches in acknowledged for b in batches}
        counters = after.counters()
        # Nothing acknowledged is lost; at most the one batch per agent in flight at the kill is extra.
        assert len(acked) <= counters["batches_applied"] <= len(acked) + 4
        assert after.state().stats.n.sum() == 2 * counters["batches_applied"] == counters["total_pulls"]
        for batch in sorted(acked)[:: max(1, len(acked) // 50)]:
            assert after.apply_batch(batch, 1, [0, 0], [1.0, 2.0]).status == "duplicate"
    finally:
        server.stop()


@pytest.mark.parametrize("options", [{"decode_responses": True}, {"protocol": 3}])
def test_works_with_decoding_and_resp3_clients(redis_server: RedisServer, namespace: str, options: dict) -> None:
    client = redis.Redis.from_url(redis_server.url, **options)
    store = BanditStore(client, namespace)
    store.reset(GAUSS)
    store.apply_batch("a", 1, [0, 2], [1.5, 2.5], regret=0.25)
    store.set_meta(run="r1")
    store.set_cursor("c", "1-0")
    st = store.state()
    assert st.stats.n.tolist() == [1, 0, 1] and st.regret == 0.25 and st.last_pulled.tolist() == [1, -1, 2]
    assert [s.batch_id for s in store.summaries()] == ["a"] and store.events()[0].kind == "experiment_started"
    assert store.get_meta() == {"run": "r1"} and store.get_cursor("c") == "1-0"
    assert store.counters()["batches_applied"] == 1
    copy = BanditStore(client, namespace + "c")
    copy.restore(store.snapshot())
    assert copy.state().to_dict() == st.to_dict()
    client.close()


def test_dedupe_memory_is_bounded_per_epoch(redis_client: redis.Redis, namespace: str) -> None:
    store = BanditStore(redis_client, namespace, dedupe_max=3, dedupe_window_s=60.0)
    store.reset(GAUSS)
    for i in range(5):
        store.apply_batch(f"b{i}", 1, [0], [1.0])
    seen = f"{namespace}:seen:1"
    assert sorted(m.decode() for m in redis_client.zrange(seen, 0, -1)) == ["b2", "b3", "b4"]
    assert store.apply_batch("b4", 1, [0], [1.0]).status == "duplicate"
    store.open_epoch(reason="drift_detected", explore_budget=0)
    assert 0 < redis_client.pttl(seen) <= 60_000  # the closed epoch's ids outlive retries, then go
    assert redis_client.pttl(f"{namespace}:seen:2") == -2  # nothing applied in epoch 2 yet


def test_streams_are_capped(redis_client: redis.Redis, namespace: str) -> None:
    store = BanditStore(redis_client, namespace, summaries_maxlen=10, events_maxlen=10)
    store.reset(GAUSS)
    for i in range(250):
        store.apply_batch(f"b{i}", 1, [i % 3], [1.0])
        store.append_event("tick", i=i)
    # MAXLEN ~ trims whole stream nodes (100 entries by default): bounded, not exact
    assert redis_client.xlen(store.summaries_key) <= 110
    assert redis_client.xlen(store.events_key) <= 110
    assert store.summaries(count=1000)[-1].batch_id == "b249"


def test_empty_batch_counts_as_applied_and_ends_a_budgetless_relearning(store: BanditStore) -> None:
    assert store.apply_batch("empty", 1, [], []).total_pulls == 0
    store.set_mode(Mode.RELEARNING, reason="manual")  # no budget: the next batch ends it
    result = store.apply_batch("empty2", 1, np.array([], np.int64), np.array([]))
    assert (result.status, result.mode, store.counters()["batches_applied"]) == ("applied", Mode.LEARNING, 2)


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_a_batch_older_than_the_dedupe_window_is_refused_not_counted_twice(
    redis_client: redis.Redis, namespace: str
) -> None:
    from banditops.store.redis_store import BatchTooOldError

    store = BanditStore(redis_client, namespace, dedupe_max=2, dedupe_window_s=1.0)
    epoch = store.reset(ExperimentConfig(name="t", reward_kind="bernoulli", n_arms=2))
    issued = {name: _server_ms(redis_client) for name in "abc"}
    for name in "abc":  # the set keeps 2 ids: applying c evicts a
        assert store.apply_batch(name, epoch, [0], [1], issued_ms=issued[name]).status == "applied"
    with pytest.raises(BatchTooOldError, match="nothing was applied"):
        store.apply_batch("a", epoch, [0], [1], issued_ms=issued["a"])  # evicted for size: refused
    assert store.apply_batch("c", epoch, [0], [1], issued_ms=issued["c"]).status == "duplicate"
    assert store.state().total_pulls == 3
    time.sleep(1.1)  # past the 1 s window: every earlier id may be forgotten
    # b is still remembered (eviction runs on the next apply): a duplicate, which is just as safe.
    assert store.apply_batch("b", epoch, [0], [1], issued_ms=issued["b"]).status == "duplicate"
    with pytest.raises(BatchTooOldError):
        store.apply_batch("never-applied", epoch, [1], [1], issued_ms=issued["c"])
    assert store.state().total_pulls == 3 and store.state().stats.n.tolist() == [3, 0]
    # A batch issued now is not refused.
    assert store.apply_batch("d", epoch, [1], [1], issued_ms=_server_ms(redis_client)).status == "applied"


def test_a_run_marked_booked_reads_booked_until_its_mark_expires(store: BanditStore) -> None:
    before = store.snapshot()
    assert not store.booked("bandit_learning/r1")
    store.mark_booked("bandit_learning/r1", ttl_s=60)
    assert store.booked("bandit_learning/r1") and not store.booked("bandit_learning/r2")
    assert 0 < store.client.ttl(store._key("booked:bandit_learning/r1")) <= 60  # it cleans up after itself
    with pytest.raises(ValueError, match="needs a run key"):
        store.mark_booked("")
    after = store.snapshot()["keys"]
    assert set(after) - set(before["keys"]) == {"booked:bandit_learning/r1"}  # the one key it adds
    assert {k: v for k, v in after.items() if k in before["keys"]} == before["keys"]  # and nothing else changed
