"""``make demo``'s "drift → the agents reacting" line, read from what the store recorded."""

from __future__ import annotations

import time

from banditops.store.redis_store import BanditStore
from banditops.store.types import ExperimentConfig, Mode
from stack.demo import agents_reaction


def _store(redis_client, namespace) -> BanditStore:
    store = BanditStore(redis_client, namespace)
    store.reset(ExperimentConfig(n_arms=2))
    store.apply_batch("b/before", store.epoch(), [0] * 50, [1.0] * 50)
    return store


def test_a_relearning_epoch_is_the_reaction_of_todays_loop(redis_client, namespace):
    store = _store(redis_client, namespace)
    t_drift, at_drift = time.time(), store.state()
    assert agents_reaction(store, t_drift, at_drift) is None
    time.sleep(0.01)
    for i in range(3):
        store.apply_batch(f"b/{i}", store.epoch(), [1] * 50, [0.0] * 50)
    store.set_mode(Mode.MONITORING, reason="converged", expected_epoch=store.epoch())
    store.open_epoch(reason="relearning", explore_budget=10, expected_epoch=store.epoch())
    store.apply_batch("b/after", store.epoch(), [0] * 50, [1.0] * 50)
    reaction = agents_reaction(store, t_drift, at_drift)
    assert reaction is not None
    assert reaction["pulls"] == 150 and reaction["how"] == "relearning" and 0 <= reaction["seconds"] < 60


def test_a_reaction_written_with_the_round_counts_that_round(redis_client, namespace):
    store = _store(redis_client, namespace)
    t_drift, at_drift = time.time(), store.state()
    time.sleep(0.01)
    applied = store.apply_batch("b/0", store.epoch(), [1] * 50, [0.0] * 50)
    # what the agents' round script records with a reaction: the alarm and the store's total with the round
    store.append_event("drift_detected", epoch=store.epoch(), arm=1, reaction="reset", total_pulls=applied.total_pulls)
    store.apply_batch("b/1", store.epoch(), [1] * 50, [0.0] * 50)
    reaction = agents_reaction(store, t_drift, at_drift)
    assert reaction is not None and reaction["pulls"] == 50 and reaction["how"] == "reset"
