"""Many agents, one posterior: threads and processes hammer the store with overlapping batches,
shared batch ids (retries) and stale epochs while two of them race to open new epochs. Whatever the
interleaving, the stored totals must equal exactly the sum of the batches the store accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import redis

from banditops.bandit.stats import ArmStats
from banditops.store import BanditStore, ExperimentConfig
from stack.redis_server import RedisServer

K = 5
AGENTS = 8
ROUNDS = 30
CONFIG = ExperimentConfig(name="concurrency", reward_kind="gaussian", n_arms=K, relearn_budget=200)
STORE_CONFIG = CONFIG  # the shared ``store`` fixture resets with it


@dataclass(frozen=True)
class Submission:
    batch_id: str
    claimed_epoch: int
    status: str
    epoch: int
    arms: list[int]
    rewards: list[float]
    regret: float


def run_agent(url: str | None, namespace: str, agent: int, client: redis.Redis | None = None) -> list[Submission]:
    """One agent: ROUNDS batches; pairs of agents share batch ids (as two retries of one task
    would), some batches are resent verbatim (a retried task), some claim an epoch that is not
    current. Rewards and regrets are multiples of 1/4, so float sums are exact in any order."""
    store = BanditStore(client if client is not None else redis.Redis.from_url(url or ""), namespace)
    rng = np.random.default_rng([2024, agent])
    out: list[Submission] = []
    for k in range(ROUNDS):
        size = int(rng.integers(1, 40))
        arms = rng.integers(0, K, size=size)
        rewards = rng.integers(-8, 40, size=size) / 4.0
        regret = float(rng.integers(0, 20)) / 4.0
        batch_id = f"dag/run/{agent // 2}/{k}"  # agents 2i and 2i+1 share ids
        if agent in (0, 1) and k in (10, 20):
            # two relearning tasks racing: each epoch is opened once, whoever comes first
            store.open_epoch(reason="drift_detected", explore_budget=CONFIG.relearn_budget, expected_epoch=k // 10)
        current = store.epoch()
        claimed = current
        if rng.random() < 0.15:
            claimed = current - 1 if current > 1 else current + 100
        sends = 2 if rng.random() < 0.2 else 1
        for _ in range(sends):
            result = store.apply_batch(batch_id, claimed, arms, rewards, regret=regret)
            out.append(Submission(batch_id, claimed, result.status, result.epoch, arms.tolist(), rewards.tolist(),
                                  regret))  # fmt: skip
    if client is None:
        store.client.close()
    return out


def check_totals(store: BanditStore, submissions: list[Submission]) -> None:
    statuses = Counter(s.status for s in submissions)
    # the scenario really exercised every path
    assert statuses["applied"] > 0 and statuses["duplicate"] > 0 and statuses["stale_epoch"] > 0
    assert store.epoch() == 3
    assert [e.fields["epoch"] for e in store.events() if e.kind == "epoch_opened"] == [2, 3]

    accepted = [s for s in submissions if s.status == "applied"]
    applied_keys = Counter((s.epoch, s.batch_id) for s in accepted)
    assert max(applied_keys.values()) == 1, "a batch id was applied twice in one epoch"
    assert all(s.claimed_epoch == s.epoch for s in accepted)

    for epoch in (1, 2, 3):
        expected = ArmStats.zeros(K)
        for s in accepted:
            if s.epoch == epoch:
                expected = expected + ArmStats.from_pulls(s.arms, s.rewards, K)
        got = store.stats(epoch)
        assert got.n.tolist() == expected.n.tolist()
        assert got.sum.tolist() == expected.sum.tolist()
        assert got.sumsq.tolist() == expected.sumsq.tolist()

    state = store.state()
    assert state.total_pulls == sum(len(s.arms) for s in accepted)
    assert state.regret == sum(s.regret for s in accepted)
    assert state.epoch_pulls == sum(len(s.arms) for s in accepted if s.epoch == 3)
    counters = store.counters()
    assert (counters["batches_applied"], counters["batches_duplicate"], counters["batches_stale"]) == (
        statuses["applied"], statuses["duplicate"], statuses["stale_epoch"]
    )

    # the summary stream holds exactly the accepted batches, and each epoch's pulls_before chain
    # proves the batches were applied one after another, none interleaved
    summaries = store.summaries(count=10_000)
    assert Counter((s.epoch, s.batch_id) for s in summaries) == applied_keys
    for epoch in (1, 2, 3):
        chain = [s for s in summaries if s.epoch == epoch]
        position = 0
        for summary in chain:
            assert summary.pulls_before == position
            position += summary.stats.total


def test_threads_share_one_client_and_lose_nothing(store: BanditStore, redis_client: redis.Redis) -> None:
    with ThreadPoolExecutor(max_workers=AGENTS) as pool:
        agents = [pool.submit(run_agent, None, store.namespace, a, redis_client) for a in range(AGENTS)]
        submissions = [s for f in agents for s in f.result(timeout=60)]
    check_totals(store, submissions)


def test_processes_with_their_own_clients_lose_nothing(store: BanditStore, redis_server: RedisServer) -> None:
    # Separate interpreters (this file run as a script), not fork(): forking a test process
    # that holds other threads' locks (HTTP clients, caches of earlier tests) can deadlock.
    agents = [
        subprocess.Popen([sys.executable, __file__, redis_server.url, store.namespace, str(a)],
                         stdout=subprocess.PIPE, text=True)
        for a in range(AGENTS)
    ]
    submissions: list[Submission] = []
    for proc in agents:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        submissions += [Submission(**row) for row in json.loads(out)]
    check_totals(store, submissions)


if __name__ == "__main__":
    url, ns, agent_index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps([s.__dict__ for s in run_agent(url, ns, agent_index)]))
