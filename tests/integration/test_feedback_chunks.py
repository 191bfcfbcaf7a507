"""The fold claims in bounded chunks: a backlog of many chunks is folded fully and once, and a fold
SIGKILLed in the middle of a chunk is completed by its retry or adopted, never counted twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import redis

from banditops.serving.recommender import new_decision_id
from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import (
    FOLD_CHUNK_ENTRIES,
    Decision,
    accept_feedback,
    chunk_consumer,
    fold_feedback,
    fold_marker,
    orphaned_claims,
    record_decisions,
)
from stack.redis_server import RedisServer

N_ARMS = 4


def _store(client: redis.Redis, namespace: str) -> BanditStore:
    store = BanditStore(client, namespace)
    store.reset(ExperimentConfig(name="t", reward_kind="bernoulli", n_arms=N_ARMS, source="production"))
    return store


def _feedback(client: redis.Redis, namespace: str, n: int) -> list[int]:
    """``n`` decisions of arm ``i % N_ARMS`` with reward ``i % 3 == 0``; the expected pulls per arm."""
    ids = [new_decision_id() for _ in range(n)]
    now_ms = int(time.time() * 1000)
    record_decisions(client, namespace, [
        Decision(d, "u", (i % N_ARMS,), 0.5, 1, False, now_ms, "bernoulli") for i, d in enumerate(ids)
    ])
    for i, d in enumerate(ids):
        accept_feedback(client, namespace, d, float(i % 3 == 0))
    return [len(range(a, n, N_ARMS)) for a in range(N_ARMS)]


def _pending(client: redis.Redis, namespace: str) -> int:
    return int(client.xpending(f"{namespace}:feedback", "fold")["pending"])


def test_a_backlog_of_several_chunks_is_folded_fully_and_once(redis_client: redis.Redis, namespace: str) -> None:
    store = _store(redis_client, namespace)
    n = FOLD_CHUNK_ENTRIES + 100  # two chunks at the production chunk size
    expected = _feedback(redis_client, namespace, n)
    result = fold_feedback(store, "dag/run/0/0", max_entries=10 * n)
    assert (result.entries, result.applied, result.dead_lettered) == (n, n, 0)
    stats = store.state().stats
    assert stats.n.tolist() == expected and stats.sum.sum() == len(range(0, n, 3))
    # One store batch per chunk (all of one epoch).
    assert int(redis_client.hget(f"{namespace}:counters", "batches_applied") or 0) == 2
    assert _pending(redis_client, namespace) == 0 and orphaned_claims(redis_client, namespace, 0) == []
    # One marker for the fold, whatever its number of chunks; a retry claims nothing.
    markers = [k.decode() for k in redis_client.scan_iter(f"{namespace}:fold:*")]
    assert markers == [fold_marker(namespace, "dag/run/0/0")]
    assert fold_feedback(store, "dag/run/0/0").entries == 0


def test_max_entries_bounds_the_chunks_and_the_rest_waits(redis_client: redis.Redis, namespace: str) -> None:
    store = _store(redis_client, namespace)
    expected = _feedback(redis_client, namespace, 250)
    first = fold_feedback(store, "dag/run/0/0", max_entries=120, chunk_entries=50)  # chunks of 50, 50, 20
    assert (first.entries, first.applied) == (120, 120)
    assert int(redis_client.hget(f"{namespace}:counters", "batches_applied") or 0) == 3
    second = fold_feedback(store, "dag/run/0/1", max_entries=1000, chunk_entries=50)
    assert (second.entries, second.applied) == (130, 130)
    assert store.state().stats.n.tolist() == expected


#: A fold process that SIGKILLs itself at its third store batch (before or after applying it): a crash
#: in the middle of a chunk, between its claim and its acknowledgement.
CRASHING_FOLD = """
import os, signal, sys
import redis
from banditops.store import BanditStore
from banditops.store.feedback import fold_feedback

class CrashingStore(BanditStore):
    calls = 0
    def apply_batch(self, *args, **kwargs):
        CrashingStore.calls += 1
        if CrashingStore.calls == 3 and sys.argv[3] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        outcome = super().apply_batch(*args, **kwargs)
        if CrashingStore.calls == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome

store = CrashingStore(redis.Redis.from_url(sys.argv[1]), sys.argv[2])
fold_feedback(store, "crash/run/0/0", max_entries=10_000, chunk_entries=40)
"""


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("recovery", ["retry", "adoption"])
def test_a_fold_killed_mid_chunk_is_completed_without_double_counting(
    redis_server: RedisServer, redis_client: redis.Redis, namespace: str, when: str, recovery: str
) -> None:
    store = _store(redis_client, namespace)
    expected = _feedback(redis_client, namespace, 200)
    crashed = subprocess.run([sys.executable, "-c", CRASHING_FOLD, redis_server.url, namespace, when],
                             check=False, timeout=120, capture_output=True, text=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    # Chunks 0 and 1 were folded and acknowledged; chunk 2 is claimed and unacknowledged.
    assert orphaned_claims(redis_client, namespace, 0) == [chunk_consumer("crash/run/0/0", 2)]
    assert _pending(redis_client, namespace) == 40
    assert store.state().total_pulls == (80 if when == "before" else 120)
    if recovery == "retry":  # Airflow retries the task: the same batch id completes its chunk, claims no more
        retry = fold_feedback(store, "crash/run/0/0", adopt_after_ms=None, chunk_entries=40)
        assert retry.entries == 40 and retry.adopted == []
        assert (retry.applied, retry.duplicate) == ((40, 0) if when == "before" else (0, 40))
        assert fold_feedback(store, "dag/run/0/1", adopt_after_ms=None).applied == 80
    else:  # the next round adopts the dead fold's chunk under its own name, then folds the rest
        rest = fold_feedback(store, "dag/run/0/1", adopt_after_ms=0)
        assert rest.adopted == [chunk_consumer("crash/run/0/0", 2)] and rest.entries == 120
        assert (rest.applied, rest.duplicate) == ((120, 0) if when == "before" else (80, 40))
    state = store.state()
    assert state.stats.n.tolist() == expected and state.total_pulls == 200
    assert state.stats.sum.sum() == len(range(0, 200, 3))
    assert _pending(redis_client, namespace) == 0
    assert fold_feedback(store, "dag/run/0/2", adopt_after_ms=0).entries == 0
