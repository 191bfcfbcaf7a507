"""The production path end to end: simulated users → decision API → feedback → fold → lifecycle.

A real environment service (uvicorn subprocess) holds the ground truth; the decision API runs
in-process on a real Redis; the learning loop is the library the Airflow DAGs call
(``fold_production_feedback``, ``check_and_mark_convergence``, ``DriftWatch``,
``record_drift_and_relearn``), so this is the same path as production mode, minus the scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from banditops.clients.env_client import EnvClient
from banditops.loop.drift_watch import DriftWatch
from banditops.loop.rounds import fold_production_feedback
from banditops.loop.transitions import check_and_mark_convergence, record_drift_and_relearn
from banditops.store import BanditStore, ExperimentConfig, Mode
from services.decision.app.core.config import Settings
from services.decision.app.main import create_app
from stack.env_server import EnvServer
from stack.redis_server import RedisServer
from stack.traffic import TrafficSimulator

USERS_PER_ROUND = 150


@pytest.fixture(scope="module")
def environment() -> Iterator[EnvClient]:
    with EnvServer(scenario="seed", seed=11) as server:
        yield EnvClient(server.url, token=server.admin_token)


def wait_epoch(client: TestClient, epoch: int) -> None:
    deadline = time.monotonic() + 10
    while client.get("/healthz").json().get("epoch") != epoch:
        assert time.monotonic() < deadline, "the decision service did not pick up the new epoch"
        time.sleep(0.02)


def test_users_drive_the_production_loop_through_convergence_drift_and_relearning(
    environment: EnvClient, redis_server: RedisServer, redis_client: redis.Redis, namespace: str
) -> None:
    environment.reset("seed", seed=11)
    store = BanditStore(redis_client, namespace)
    store.reset(ExperimentConfig(name="seed", reward_kind="gaussian", n_arms=5, source="production",
                                 min_pulls_per_arm=5, relearn_budget=100))
    settings = Settings(redis_url=redis_server.url, namespace=namespace, seed=2, refresh_interval_s=0.1)
    rng = np.random.default_rng(4)
    watch = DriftWatch(store, cursor_name="traffic-test")
    with TestClient(create_app(settings)) as client:
        wait_epoch(client, 1)
        users = TrafficSimulator(client, environment, np.random.default_rng(9), k=2)

        def round_trip(round_index: int) -> None:
            report = users.play(USERS_PER_ROUND)
            assert report.fallbacks == 0 and report.feedback_accepted == USERS_PER_ROUND
            fold_production_feedback(store, f"bandit_learning/traffic/0/{round_index}")
            time.sleep(0.15)  # the service refreshes on the store's change notice

        # 1. Learning from real-user feedback converges on the true best banner (arm 1, mean 4).
        rounds = 0
        while store.mode() != Mode.MONITORING:
            assert rounds < 25, f"no convergence after {rounds * USERS_PER_ROUND} users"
            round_trip(rounds)
            rounds += 1
            outcome = check_and_mark_convergence(store, rng)
        assert outcome.verdict.leader == 1 and outcome.marked
        converged_after = store.state().epoch_pulls
        assert watch.poll() is None  # no drift while the world is unchanged

        # 2. The world drifts (the origin documents' drift): arm 1 stops paying, arm 0 pays 6.
        environment.update_arm(1, mean=0.0)
        environment.update_arm(0, mean=6.0)
        finding = None
        for _ in range(10):
            round_trip(rounds)
            rounds += 1
            finding = watch.poll()
            if finding is not None:
                break
        assert finding is not None and finding.arm in (0, 1)
        assert record_drift_and_relearn(store, epoch=finding.epoch, arm=finding.arm) == 2
        wait_epoch(client, 2)

        # 3. Relearning: a fresh posterior, fed by new decisions only, converges on the new best arm.
        for _ in range(25):
            round_trip(rounds)
            rounds += 1
            outcome = check_and_mark_convergence(store, rng)
            if store.mode() == Mode.MONITORING:
                break
        assert store.mode() == Mode.MONITORING and store.epoch() == 2
        assert outcome.verdict.leader == 0
        final = users.play(200)
    assert final.share(0) > 0.8  # users now mostly see the new best banner
    kinds = [e.kind for e in store.events(count=10_000)]
    milestones = [k for k in kinds if k in ("experiment_started", "converged", "epoch_opened", "relearning_done")]
    assert milestones == ["experiment_started", "converged", "epoch_opened", "relearning_done", "converged"]
    assert converged_after >= 5 * 5
