"""DriftTrigger: serialize() round trip; in production it senses on the summary stream only in
MONITORING and resumes after a restart; with simulated pulls it reports the agents' own restarts;
never blocks the event loop. Real Redis through the ``redis_default`` Connection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from banditops.store.redis_store import BanditStore
from banditops.store.types import ExperimentConfig, Mode, RoundWrite

pytestmark = pytest.mark.airflow

MEANS = np.array([2.0, 4.0, 1.0, 3.0, 0.5])


def test_serialize_round_trips_to_an_equal_trigger() -> None:
    from airflow.sdk._shared.module_loading import import_string
    from banditops_provider.triggers.drift import DriftTrigger

    trigger = DriftTrigger(redis_conn_id="state", namespace="ns1", cursor_name="c", poll_interval=0.5, max_wait=9.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "banditops_provider.triggers.drift.DriftTrigger"
    assert kwargs == {"redis_conn_id": "state", "namespace": "ns1", "cursor_name": "c", "poll_interval": 0.5,
                      "max_wait": 9.0}
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def _feed(store: BanditStore, tag: str, batches: int, means: np.ndarray, rng: np.random.Generator) -> None:
    for i in range(batches):
        arms = np.where(rng.random(100) < 0.96, 1, rng.integers(0, 5, 100))  # exploit arm 1, a little else
        store.apply_batch(f"{tag}/{i}", store.epoch(), arms, rng.normal(means[arms], 1.0))


async def _run_with_heartbeat(trigger: Any) -> tuple[dict, float]:
    """The trigger's first event, and the longest gap of a 20 ms heartbeat beside it."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    event = await anext(trigger.run())
    stop.set()
    await beat
    return event.payload, max(gaps)


def test_senses_only_in_monitoring_and_resumes_after_a_restart(
    connections: dict[str, str], redis_client: Any
) -> None:
    from banditops_provider.triggers.drift import DriftTrigger

    store = BanditStore(redis_client, connections["namespace"])
    # production: agents only fold feedback, so the trigger runs the tests on the summary stream
    store.reset(ExperimentConfig(source="production"))
    rng = np.random.default_rng(3)
    _feed(store, "learn", 20, MEANS, rng)
    drifted = MEANS.copy()
    drifted[1] = 0.0

    # LEARNING: even a drift in the stream is not reported.
    _feed(store, "learn-drift", 3, drifted, np.random.default_rng(4))
    payload, _ = asyncio.run(_run_with_heartbeat(DriftTrigger(poll_interval=0.05, max_wait=0.5)))
    assert payload["status"] == "idle"

    store.reset(ExperimentConfig(source="production"))
    _feed(store, "learn", 20, MEANS, rng)
    store.set_mode(Mode.MONITORING, reason="converged")
    _feed(store, "watch", 10, MEANS, rng)
    payload, longest_gap = asyncio.run(_run_with_heartbeat(DriftTrigger(poll_interval=0.05, max_wait=0.5)))
    assert payload["status"] == "idle"
    cursor = store.get_cursor("drift_sensor")
    assert cursor == payload["cursor"] == store.summaries(count=1000)[-1].id
    assert longest_gap < 0.5  # the Redis reads and the tests ran off the event loop

    # A new trigger (a restarted triggerer) rebuilds from the epoch and the persisted cursor.
    _feed(store, "after-drift", 3, drifted, np.random.default_rng(5))
    payload, _ = asyncio.run(_run_with_heartbeat(DriftTrigger(poll_interval=0.05, max_wait=5.0)))
    assert payload["status"] == "drift"
    assert (payload["epoch"], payload["arm"]) == (store.epoch(), 1)
    assert payload["change_point"] == 3000  # 30 batches of 100 pulls before the change
    assert payload["magnitude"] == pytest.approx(-4.0, abs=0.5)


def test_reports_a_restart_the_agents_made_in_the_store(connections: dict[str, str], redis_client: Any) -> None:
    from banditops_provider.triggers.drift import DriftTrigger

    store = BanditStore(redis_client, connections["namespace"])
    store.reset(ExperimentConfig())  # simulated pulls: the agents' rounds test and react themselves
    rng = np.random.default_rng(3)
    _feed(store, "learn", 5, MEANS, rng)
    payload, _ = asyncio.run(_run_with_heartbeat(DriftTrigger(poll_interval=0.05, max_wait=0.3)))
    assert payload["status"] == "idle"
    # a round whose policy restarted: arm 1 keeps two post-change rewards in epoch 2
    kept = (np.array([0.1, -0.2]), np.array([500, 501]))
    alarm = {"t": 501, "arm": 1, "change_point": 500, "magnitude": -4.0, "restart": True, "since": 0,
             "detector": "glr_gaussian"}
    write = RoundWrite(alarms=[alarm], restart={1: kept}, split=0, expected_pulls=500)
    assert store.apply_round("d/r/0/0", 1, [1, 1], kept[0], write).epoch == 2
    payload, _ = asyncio.run(_run_with_heartbeat(DriftTrigger(poll_interval=0.05, max_wait=5.0)))
    assert payload["status"] == "drift" and payload["reacted"] is True
    assert (payload["epoch"], payload["opened_epoch"], payload["arm"], payload["change_point"]) == (1, 2, 1, 500)


def test_the_sensor_returns_the_event_for_the_branch() -> None:
    from banditops_provider.sensors.drift import DriftSensor

    sensor = DriftSensor(task_id="sense", max_wait=10)
    assert sensor.execute_complete({}, {"status": "drift", "arm": 1, "magnitude": -4.0})["arm"] == 1
    assert sensor.execute_complete({}, None) == {"status": "idle"}
