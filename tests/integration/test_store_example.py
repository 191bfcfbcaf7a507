"""The store's walk-through on a real Redis: once the class docstring's example, kept here so the
library's doctests start no server and import nothing from stack/."""

from __future__ import annotations

import redis

from banditops.store.redis_store import BanditStore
from banditops.store.types import ExperimentConfig, Mode


def test_batches_dedupe_epochs_and_relearning(redis_client: redis.Redis, namespace: str) -> None:
    store = BanditStore(redis_client, namespace=namespace)
    assert store.reset(ExperimentConfig(reward_kind="bernoulli", n_arms=3)) == 1
    assert store.apply_batch("dag/run/0/0", 1, [0, 2, 2], [1, 0, 1]).status == "applied"
    assert store.apply_batch("dag/run/0/0", 1, [0, 2, 2], [1, 0, 1]).status == "duplicate"
    assert (store.stats().n.tolist(), store.stats().sum.tolist()) == ([1, 0, 2], [1.0, 0.0, 1.0])
    assert store.open_epoch(reason="drift_detected", explore_budget=6) == 2
    assert store.apply_batch("dag/run/1/0", 1, [1], [1]).status == "stale_epoch"
    assert store.apply_batch("dag/run/1/1", 2, [0, 1, 2] * 2, [1, 0, 0] * 2).mode is Mode.LEARNING
    assert [e.kind for e in store.events()] == [
        "experiment_started", "epoch_opened", "mode_changed", "mode_changed", "relearning_done",
    ]
