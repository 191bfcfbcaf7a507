"""LinTS statistics in the store: folded by the batch script, deduped, epoch-fenced; contexts logged
with decisions and folded with their feedback exactly once. Real Redis."""

from __future__ import annotations

import time

import numpy as np
import pytest
import redis

from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.serving.recommender import new_decision_id
from banditops.store import BanditStore, ExperimentConfig
from banditops.store.context_codec import decode_vector, encode_vector
from banditops.store.feedback import Decision, accept_feedback, fold_feedback, read_decisions, record_decisions

CONTEXT = {"numeric": ["age", "score"], "categorical": ["country"], "n_buckets": 4}  # d = 1 + 2 + 4 = 7


def contextual_store(client: redis.Redis, namespace: str, context: dict | None = None) -> tuple[BanditStore, int]:
    store = BanditStore(client, namespace)
    epoch = store.reset(ExperimentConfig(name="ctx", reward_kind="bernoulli", n_arms=3, source="production",
                                         context=context or CONTEXT))
    return store, epoch


def batch(rng: np.random.Generator, n: int, dim: int = 7, shared: int = 0) -> tuple[np.ndarray, ...]:
    arms = rng.integers(0, 3, size=n)
    X = rng.normal(size=(n, dim))
    rewards = (rng.random(n) < 0.3).astype(float)
    Z = rng.normal(size=(n, shared)) if shared else None
    return arms, X, rewards, Z


def test_linear_statistics_add_up_exactly_once_per_batch_and_per_epoch(redis_client: redis.Redis,
                                                                       namespace: str) -> None:
    store, epoch = contextual_store(redis_client, namespace)
    empty = store.state(with_linear=True).linear
    assert empty is not None and empty.n.tolist() == [0, 0, 0] and not empty.xx.any()
    rng = np.random.default_rng(0)
    a1, X1, r1, _ = batch(rng, 50)
    a2, X2, r2, _ = batch(rng, 70)
    s1 = LinearGaussianStats.from_batch(3, a1, X1, r1)
    s2 = LinearGaussianStats.from_batch(3, a2, X2, r2)
    assert store.apply_batch("b1", epoch, a1, r1, linear=s1).status == "applied"
    assert store.apply_batch("b1", epoch, a1, r1, linear=s1).status == "duplicate"  # a retry adds nothing
    assert store.apply_batch("b2", epoch, a2, r2, linear=s2).status == "applied"
    stored = store.state(with_linear=True).linear
    expected = s1.add(s2)
    assert stored is not None
    for field in ("n", "xx", "xr"):  # the script adds doubles and keeps exact text: bit for bit
        assert np.array_equal(getattr(stored, field), getattr(expected, field)), field
    assert store.state().linear is None  # only readers that sample ask for K·d² numbers
    assert store.state().stats.n.sum() == 120  # the same call updated the Beta counts
    new_epoch = store.open_epoch(reason="drift_detected", explore_budget=0)
    assert store.apply_batch("b3", epoch, a1, r1, linear=s1).status == "stale_epoch"
    fresh = store.state(with_linear=True).linear
    assert fresh is not None and not fresh.n.any() and not fresh.xr.any() and new_epoch == epoch + 1


def test_shared_part_is_stored_and_bad_linear_batches_are_refused_unwritten(redis_client: redis.Redis,
                                                                           namespace: str) -> None:
    store, epoch = contextual_store(redis_client, namespace, {**CONTEXT, "arm_features": ["price", "new"]})
    rng = np.random.default_rng(1)
    a, X, r, Z = batch(rng, 40, shared=2)
    stats = LinearGaussianStats.from_batch(3, a, X, r, Z)
    before = store.snapshot()["keys"]
    wrong_dim = LinearGaussianStats.from_batch(3, a, X[:, :5], r, Z)
    with pytest.raises(ValueError, match=r"\(K, d, k\)=\(3, 7, 2\)"):
        store.apply_batch("bad", epoch, a, r, linear=wrong_dim)
    too_many = LinearGaussianStats.from_batch(3, a, X, r, Z)
    with pytest.raises(ValueError, match=r"within 0\.\.pulls"):
        store.apply_batch("bad", epoch, a[:10], r[:10], linear=too_many)
    assert store.snapshot()["keys"] == before  # nothing written on a refusal
    assert store.apply_batch("ok", epoch, a, r, linear=stats).status == "applied"
    stored = store.state(with_linear=True).linear
    assert stored is not None
    for field in ("zz", "zr", "xz", "xx"):
        assert np.array_equal(getattr(stored, field), getattr(stats, field)), field
    plain, _ = contextual_store(redis_client, namespace + "-plain")
    plain.reset(ExperimentConfig(name="plain", reward_kind="bernoulli", n_arms=3))
    with pytest.raises(ValueError, match="no context model"):
        plain.apply_batch("x", plain.epoch(), a, r, linear=LinearGaussianStats.from_batch(3, a, X, r))


def test_contexts_logged_with_decisions_fold_with_their_feedback(redis_client: redis.Redis, namespace: str) -> None:
    store, epoch = contextual_store(redis_client, namespace)
    rng = np.random.default_rng(2)
    n = 30
    arms, X, rewards, _ = batch(rng, n)
    now = int(time.time() * 1000)
    ids = [new_decision_id() for _ in range(n)]
    decisions = [Decision(i, "u", (int(a),), 0.4, epoch, False, now, "bernoulli", encode_vector(x))
                 for i, a, x in zip(ids, arms, X, strict=True)]
    plain_id = new_decision_id()  # a non-contextual decision in the same experiment
    decisions.append(Decision(plain_id, "u", (0,), 0.5, epoch, False, now, "bernoulli"))
    record_decisions(redis_client, namespace, decisions)
    logged = {d["decision_id"]: d for d in read_decisions(redis_client, namespace)}
    assert "ctx" not in logged[plain_id] and len(logged[ids[0]]["ctx"]) == 40  # 7 float32 = 28 bytes
    for decision_id, reward in zip(ids, rewards, strict=True):
        accept_feedback(redis_client, namespace, decision_id, float(reward))
    accept_feedback(redis_client, namespace, plain_id, 1.0)
    result = fold_feedback(store, "fold/run/0/0")
    assert (result.applied, result.dead_lettered) == (n + 1, 0)
    again = fold_feedback(store, "fold/run/0/0")  # an Airflow retry folds nothing twice
    assert again.applied == 0
    X32 = np.stack([decode_vector(d.context) for d in decisions[:n]])  # what was stored (float32)
    expected = LinearGaussianStats.from_batch(3, arms, X32, rewards)
    stored = store.state(with_linear=True).linear
    assert stored is not None and np.array_equal(stored.n, expected.n)
    np.testing.assert_allclose(stored.xx, expected.xx, rtol=1e-12)
    np.testing.assert_allclose(stored.xr, expected.xr, rtol=1e-12, atol=1e-12)
    assert store.state().stats.n.sum() == n + 1  # the plain decision's pull is in the Beta counts only
