"""Redis memory of the decision path, measured on a real server (issue 17 item 3).

The budget (docs/reliability.md, "Memory budget"): the streams are capped, so what grows with
traffic is one record per decision kept for the TTL — held here at <= 150 bytes of Redis memory
(``INFO memory``), feedback and fold included — and one fold marker per round that claimed
something.
"""

from __future__ import annotations

import pytest
import redis

from banditops.serving.decision_log import DecisionLog
from banditops.serving.recommender import new_decision_id
from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import (
    Decision,
    FeedbackConflictError,
    accept_feedback,
    decision_bucket_key,
    feedback_stream,
    fold_feedback,
    fold_marker,
)

#: The target of issue 17: bytes of Redis memory per decision kept (with its feedback, folded).
BYTES_PER_DECISION = 150


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _store(client: redis.Redis, namespace: str) -> BanditStore:
    store = BanditStore(client, namespace)
    store.reset(ExperimentConfig(name="m", reward_kind="bernoulli", n_arms=5, source="production"))
    return store


def test_a_decision_kept_with_its_feedback_costs_at_most_150_bytes(redis_client: redis.Redis, namespace: str) -> None:
    """Records of 10,000 decisions with feedback, folded, through the service's own writer.

    The streams get small caps so they are at their (fixed) size and what is measured is the
    record each decision keeps for its TTL: the part that grows with traffic.
    """
    store = _store(redis_client, namespace)
    n, cap = 10_000, 200
    log = DecisionLog(redis_client, namespace, maxlen=cap)
    ids = [new_decision_id() for _ in range(n)]
    # Warm up: streams at their cap, the fold group and its scripts in place, before the baseline.
    warm = [new_decision_id() for _ in range(2 * cap)]
    for d in warm:
        log.record(Decision(d, "u-warm", (1,), 0.5, 1, False, 0, "bernoulli"))
    log.flush()
    for d in warm:
        accept_feedback(redis_client, namespace, d, 1.0, maxlen=cap)
    fold_feedback(store, "warm")
    before = _used(redis_client)
    for i, d in enumerate(ids):
        log.record(Decision(d, f"user-{i}", (i % 5, (i + 1) % 5), 0.4321, 1, False, 1_700_000_000_000 + i, "bernoulli"))
    log.flush()
    applied = 0
    for start in range(0, n, cap // 2):  # folded as it comes, before the capped stream trims it
        for d in ids[start:start + cap // 2]:
            accept_feedback(redis_client, namespace, d, 1.0, position=0, maxlen=cap)
        applied += fold_feedback(store, f"fold/{start}").applied
    assert applied == n
    per_decision = (_used(redis_client) - before) / n
    print(f"{per_decision:.0f} bytes per decision kept")
    assert per_decision <= BYTES_PER_DECISION, f"{per_decision:.0f} bytes per decision kept"
    # The same figure from the keys themselves: the records are the bucket hashes.
    buckets = {decision_bucket_key(namespace, d) for d in ids}
    usage = sum(int(redis_client.memory_usage(b, samples=0) or 0) for b in buckets)
    assert usage / n <= BYTES_PER_DECISION


def test_a_fold_round_that_claims_nothing_leaves_no_marker(redis_client: redis.Redis, namespace: str) -> None:
    store = _store(redis_client, namespace)
    assert fold_feedback(store, "dag/idle/0/0").entries == 0
    assert not redis_client.exists(fold_marker(namespace, "dag/idle/0/0"))
    # A round that claims keeps its marker, for the store's dedupe window (7 days), and only it.
    decision_id = new_decision_id()
    log = DecisionLog(redis_client, namespace)
    log.record(Decision(decision_id, "u", (2,), 1.0, 1, False, 0))
    log.flush()
    accept_feedback(redis_client, namespace, decision_id, 1.0)
    assert fold_feedback(store, "dag/busy/0/0").applied == 1
    assert 0 < redis_client.ttl(fold_marker(namespace, "dag/busy/0/0")) <= store.dedupe_window_s
    # The idle id never claimed, so it may claim later: nothing it could double count.
    assert fold_feedback(store, "dag/busy/0/0").applied == 0  # a used id never claims again
    other = new_decision_id()
    log.record(Decision(other, "u", (3,), 1.0, 1, False, 0))
    log.flush()
    accept_feedback(redis_client, namespace, other, 0.0)
    assert fold_feedback(store, "dag/idle/0/0").applied == 1
    assert store.state().stats.n.tolist() == [0, 0, 1, 1, 0]
    assert sorted(k.decode() for k in redis_client.scan_iter(f"{namespace}:fold:*", count=1000)) == [
        fold_marker(namespace, "dag/busy/0/0"), fold_marker(namespace, "dag/idle/0/0")]


def test_compacted_records_keep_feedback_exactly_once(redis_client: redis.Redis, namespace: str) -> None:
    store = _store(redis_client, namespace)
    log = DecisionLog(redis_client, namespace)
    slate_id, single_id = new_decision_id(), new_decision_id()
    log.record(Decision(slate_id, "u1", (4, 1, 0), 0.25, 1, False, 0, "bernoulli"))
    log.record(Decision(single_id, "u2", (3,), 0.5, 1, False, 0, "bernoulli"))
    log.flush()
    bucket = decision_bucket_key(namespace, slate_id)
    assert redis_client.hget(bucket, slate_id[6:]) == b"1:4,1,0"  # epoch and slate, nothing else
    accept_feedback(redis_client, namespace, slate_id, 1.0, position=1)
    accept_feedback(redis_client, namespace, single_id, 0.0)
    assert fold_feedback(store, "f1").applied == 2
    # Compacted: the record keeps the reward only (the feedback entry carries arm and position).
    assert redis_client.hget(bucket, slate_id[6:]) == b"=1.0"
    length = redis_client.xlen(feedback_stream(namespace))
    # Replays after compaction: the same reward is a no-op, another is a conflict; nothing appended.
    assert accept_feedback(redis_client, namespace, slate_id, 1.0, position=1).status == "duplicate"
    assert accept_feedback(redis_client, namespace, slate_id, 1.0).status == "duplicate"
    assert accept_feedback(redis_client, namespace, single_id, 0.0).status == "duplicate"
    with pytest.raises(FeedbackConflictError):
        accept_feedback(redis_client, namespace, slate_id, 0.0, position=1)
    with pytest.raises(FeedbackConflictError):
        accept_feedback(redis_client, namespace, single_id, 1.0)
    assert redis_client.xlen(feedback_stream(namespace)) == length
    assert fold_feedback(store, "f2").entries == 0
    assert store.state().stats.n.tolist() == [0, 1, 0, 1, 0]  # arm 1 (slot 1 of the slate), arm 3


def test_feedback_for_a_record_written_before_the_buckets_is_accepted_once(
    redis_client: redis.Redis, namespace: str
) -> None:
    """A rolling upgrade: a replica of the previous version wrote a per-decision hash."""
    store = _store(redis_client, namespace)
    old_id = "ab" * 16
    redis_client.hset(f"{namespace}:decision:{old_id}",
                      mapping={"arm": 2, "epoch": 1, "kind": "bernoulli", "fallback": 0, "ts": 5, "slate": "2"})
    redis_client.expire(f"{namespace}:decision:{old_id}", 60)
    assert accept_feedback(redis_client, namespace, old_id, 1.0).status == "accepted"
    assert accept_feedback(redis_client, namespace, old_id, 1.0).status == "duplicate"
    with pytest.raises(FeedbackConflictError):
        accept_feedback(redis_client, namespace, old_id, 0.0)
    assert fold_feedback(store, "f").applied == 1
