"""Decision log, idempotent feedback and the exactly-once fold into the posterior, on a real Redis."""

from __future__ import annotations

import time

import numpy as np
import pytest
import redis

from banditops.serving.decision_log import DecisionLog
from banditops.serving.recommender import new_decision_id
from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import (
    Decision,
    FeedbackConflictError,
    UnknownDecisionError,
    _read_claim,
    accept_feedback,
    dead_letters,
    decision_bucket_key,
    ensure_fold_group,
    feedback_lag_seconds,
    feedback_stream,
    fold_feedback,
    orphaned_claims,
    read_decisions,
    record_decisions,
)


def new_store(client: redis.Redis, namespace: str, kind: str = "bernoulli") -> BanditStore:
    store = BanditStore(client, namespace)
    store.reset(ExperimentConfig(name="t", reward_kind=kind, n_arms=3, source="production"))  # type: ignore[arg-type]
    return store


def decide(client: redis.Redis, namespace: str, arms: list[int], epoch: int = 1, kind: str = "bernoulli") -> list[str]:
    ids = [new_decision_id() for _ in arms]
    now_ms = int(time.time() * 1000)
    record_decisions(client, namespace, [
        Decision(i, "user", (a,), 0.5, epoch, False, now_ms, kind) for i, a in zip(ids, arms, strict=True)
    ])
    return ids


def test_fold_applies_each_feedback_exactly_once(redis_client: redis.Redis, namespace: str) -> None:
    store = new_store(redis_client, namespace)
    arms = [0, 1, 1, 2, 2, 2]
    rewards = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0]
    for decision_id, reward in zip(decide(redis_client, namespace, arms), rewards, strict=True):
        assert accept_feedback(redis_client, namespace, decision_id, reward).status == "accepted"
    assert feedback_lag_seconds(redis_client, namespace) >= 0.0
    first = fold_feedback(store, "bandit_learning/run1/0/0")
    assert (first.entries, first.applied, first.duplicate, first.stale) == (6, 6, 0, 0)
    stats = store.state().stats
    assert stats.n.tolist() == [1, 2, 3] and stats.sum.tolist() == [1.0, 1.0, 2.0]
    assert feedback_lag_seconds(redis_client, namespace) == 0.0
    # A retry of the same task after new feedback arrived must not claim it under a used batch id ...
    later = decide(redis_client, namespace, [0])
    accept_feedback(redis_client, namespace, later[0], 1.0)
    retry = fold_feedback(store, "bandit_learning/run1/0/0")
    assert (retry.entries, retry.applied) == (0, 0)
    # ... the next round (a new batch id) folds it.
    assert fold_feedback(store, "bandit_learning/run1/0/1").applied == 1
    assert store.state().stats.n.tolist() == [2, 2, 3]


def test_a_crash_between_claim_and_ack_is_completed_once(redis_client: redis.Redis, namespace: str) -> None:
    store = new_store(redis_client, namespace)
    for decision_id in decide(redis_client, namespace, [0, 1, 2]):
        accept_feedback(redis_client, namespace, decision_id, 1.0)
    fold_feedback(store, "warmup", max_entries=1)  # creates the group, folds one entry
    # Attempt 1 claims the rest and dies before applying.
    claimed = _read_claim(redis_client, namespace, "dag/run/3/0", max_entries=10)
    assert len(claimed) == 2
    # The retry (same batch id) applies exactly that claim ...
    retry = fold_feedback(store, "dag/run/3/0")
    assert (retry.entries, retry.applied) == (2, 2)
    # ... and a second retry applies nothing.
    assert fold_feedback(store, "dag/run/3/0").applied == 0
    assert store.state().stats.n.tolist() == [1, 1, 1]


def test_an_orphaned_claim_is_adopted_under_its_own_batch_id(redis_client: redis.Redis, namespace: str) -> None:
    store = new_store(redis_client, namespace)
    for decision_id in decide(redis_client, namespace, [2, 2]):
        accept_feedback(redis_client, namespace, decision_id, 1.0)
    fold_feedback(store, "init", max_entries=1)
    # A consumer claims, applies, then dies before acknowledging: adopting it must not double count.
    claim = _read_claim(redis_client, namespace, "dead/run/0/0", max_entries=10)
    store.apply_batch("dead/run/0/0#e1", 1, [2], [1.0])
    assert len(claim) == 1 and orphaned_claims(redis_client, namespace, min_idle_ms=0) == ["dead/run/0/0"]
    result = fold_feedback(store, "alive/run/0/0", adopt_after_ms=0)
    assert result.adopted == ["dead/run/0/0"] and (result.duplicate, result.applied) == (1, 0)
    assert orphaned_claims(redis_client, namespace, min_idle_ms=0) == []
    assert store.state().stats.n.tolist() == [0, 0, 2]


def test_feedback_from_an_older_epoch_is_refused_as_stale(redis_client: redis.Redis, namespace: str) -> None:
    store = new_store(redis_client, namespace)
    old = decide(redis_client, namespace, [0, 1], epoch=1)
    store.open_epoch(reason="drift_detected", explore_budget=10)
    new = decide(redis_client, namespace, [2], epoch=2)
    for decision_id in old + new:
        accept_feedback(redis_client, namespace, decision_id, 1.0)
    result = fold_feedback(store, "relearn/run/0/0")
    assert (result.entries, result.applied, result.stale) == (3, 1, 2)
    assert store.state().stats.n.tolist() == [0, 0, 1]


def test_accept_feedback_validates_and_is_idempotent(redis_client: redis.Redis, namespace: str) -> None:
    new_store(redis_client, namespace, "gaussian")
    (decision_id,) = decide(redis_client, namespace, [1], kind="gaussian")
    assert accept_feedback(redis_client, namespace, decision_id, 2.5).status == "accepted"
    assert accept_feedback(redis_client, namespace, decision_id, 2.5).status == "duplicate"
    with pytest.raises(FeedbackConflictError, match=r"already has reward 2\.5"):
        accept_feedback(redis_client, namespace, decision_id, 3.0)
    with pytest.raises(UnknownDecisionError, match="unknown or expired"):
        accept_feedback(redis_client, namespace, "0" * 32, 1.0)
    with pytest.raises(ValueError, match="finite"):
        accept_feedback(redis_client, namespace, decision_id, float("nan"))
    with pytest.raises(ValueError, match="32 lowercase hex"):
        accept_feedback(redis_client, namespace, "x", 1.0)


def test_decision_records_expire_with_their_ttl(redis_client: redis.Redis, namespace: str) -> None:
    """A bucket expires ttl_s after its last second; a decision already past its TTL gets no record."""
    new_store(redis_client, namespace)
    now = int(redis_client.time()[0])
    last = now - 1 - (now - 1 - 59) % 60  # the last second of the latest bucket that has ended
    ttl_s = now - last + 1
    decision_id = f"{last:08x}" + new_decision_id()[8:]
    written = record_decisions(redis_client, namespace, [Decision(decision_id, "u", (0,), 1.0, 1, True, 0)],
                               ttl_s=ttl_s)
    assert written == 1
    assert redis_client.expiretime(decision_bucket_key(namespace, decision_id)) == last + 1 + ttl_s
    stale_id = f"{now - ttl_s - 1:08x}" + new_decision_id()[8:]
    assert record_decisions(redis_client, namespace, [Decision(stale_id, "u", (0,), 1.0, 1, True, 0)],
                            ttl_s=ttl_s) == 0
    assert read_decisions(redis_client, namespace)[-1]["decision_id"] == stale_id  # logged all the same
    for _ in range(50):  # expires 2 s from `now`
        if not redis_client.exists(decision_bucket_key(namespace, decision_id)):
            break
        time.sleep(0.1)
    for expired in (decision_id, stale_id):
        with pytest.raises(UnknownDecisionError):
            accept_feedback(redis_client, namespace, expired, 1.0)


def test_decision_log_buffers_while_redis_is_unreachable(redis_client: redis.Redis, namespace: str) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    log = DecisionLog(dead, namespace, max_buffer=3)
    for i in range(5):
        log.record(Decision(f"{i:032x}", "u", (0,), 1.0, 1, True, 0))
    with pytest.raises(redis.ConnectionError):
        log.flush()
    assert (log.buffered, log.dropped, log.healthy) == (3, 2, False)
    log.client = redis_client  # the server is back: the buffered decisions are delivered, in order
    assert log.flush() == 3
    logged = redis_client.xrange(f"{namespace}:decisions")
    assert [fields[b"decision_id"].decode() for _, fields in logged] == [f"{i:032x}" for i in (2, 3, 4)]
    assert np.isclose(float(logged[0][1][b"propensity"]), 1.0)


def test_bad_entries_go_to_dead_letter_and_the_good_fold_exactly_once(
    redis_client: redis.Redis, namespace: str
) -> None:
    """A fallback decision of epoch 0 and an absurd reward in the same claim must not wedge the fold."""
    store = new_store(redis_client, namespace, kind="gaussian")
    good = decide(redis_client, namespace, [0, 1, 2], kind="gaussian")
    for decision_id, reward in zip(good, [1.5, -2.0, 3.0], strict=True):
        accept_feedback(redis_client, namespace, decision_id, reward)
    # Entries the API no longer lets in, written as an older replica (or a hostile caller) could have.
    stream = feedback_stream(namespace)
    redis_client.xadd(stream, {"decision_id": "a" * 32, "arm": 1, "epoch": 0, "reward": "1.0", "decided_ms": 0})
    redis_client.xadd(stream, {"decision_id": "b" * 32, "arm": 2, "epoch": 1, "reward": "1e300", "decided_ms": 0})
    redis_client.xadd(stream, {"decision_id": "c" * 32, "arm": 7, "epoch": 1, "reward": "1.0", "decided_ms": 0})
    first = fold_feedback(store, "bandit_learning/run1/0/0")
    assert (first.entries, first.applied, first.dead_lettered) == (6, 3, 3)
    stats = store.state().stats
    assert stats.n.tolist() == [1, 1, 1] and stats.sum.tolist() == [1.5, -2.0, 3.0]
    dead = dead_letters(redis_client, namespace)
    assert [d["decision_id"] for d in dead] == ["a" * 32, "b" * 32, "c" * 32]
    assert "epoch 0" in dead[0]["reason"] and "1e+06" in dead[1]["reason"] and "out of range" in dead[2]["reason"]
    assert all(d["batch_id"] == "bandit_learning/run1/0/0" for d in dead)
    assert redis_client.xpending(stream, "fold")["pending"] == 0  # everything claimed was acknowledged
    # A retry and a later round add nothing: not to the posterior, not to the dead letter.
    assert fold_feedback(store, "bandit_learning/run1/0/0").entries == 0
    assert fold_feedback(store, "bandit_learning/run1/0/1").entries == 0
    assert store.state().stats.n.tolist() == [1, 1, 1] and len(dead_letters(redis_client, namespace)) == 3


def test_feedback_refuses_rewards_outside_the_experiments_range(redis_client: redis.Redis, namespace: str) -> None:
    """A fallback decision recorded without a reward kind is checked against the experiment's kind."""
    new_store(redis_client, namespace, kind="bernoulli")
    (fallback,) = decide(redis_client, namespace, [0], epoch=0, kind="")
    with pytest.raises(ValueError, match="0 or 1"):
        accept_feedback(redis_client, namespace, fallback, 0.5)
    assert accept_feedback(redis_client, namespace, fallback, 1.0).status == "accepted"
    gaussian_ns = namespace + "g"
    new_store(redis_client, gaussian_ns, kind="gaussian")
    (decision_id,) = decide(redis_client, gaussian_ns, [0], kind="gaussian")
    with pytest.raises(ValueError, match=r"±1e\+06"):
        accept_feedback(redis_client, gaussian_ns, decision_id, 1e300)
    assert redis_client.xlen(f"{gaussian_ns}:feedback") == 0


def test_a_claim_older_than_the_dedupe_window_is_dead_lettered_not_refolded(
    redis_client: redis.Redis, namespace: str
) -> None:
    store = BanditStore(redis_client, namespace, dedupe_window_s=1.0)
    store.reset(ExperimentConfig(name="t", reward_kind="bernoulli", n_arms=3, source="production"))
    for decision_id in decide(redis_client, namespace, [0, 1]):
        accept_feedback(redis_client, namespace, decision_id, 1.0)
    ensure_fold_group(redis_client, namespace)
    assert len(_read_claim(redis_client, namespace, "crashed/0/0/0", 10)) == 2  # claimed, then the task died
    time.sleep(1.1)  # its apply, had it happened, is no longer remembered
    result = fold_feedback(store, "crashed/0/0/0")
    assert (result.applied, result.dead_lettered) == (0, 2)
    assert store.state().total_pulls == 0
    assert all("before the dedupe window" in d["reason"] for d in dead_letters(redis_client, namespace))
