"""The promotion gate and rollback against a real Redis store."""

from __future__ import annotations

import json

import pytest

from banditops import cli
from banditops.loop.promotion import gate, live_policy, promote, rollback
from banditops.store import connection as redis
from banditops.store.redis_store import BanditStore
from stack.redis_server import RedisServer

REPORT = {"policies": {"live": {"estimators": {"dros": {"estimate": 0.30, "lo": 0.25, "hi": 0.35}}},
                       "c": {"estimators": {"dros": {"estimate": 0.50, "lo": 0.40, "hi": 0.60}}}}}


def test_gate_promotes_only_beyond_the_margin() -> None:
    assert gate(REPORT, "c", margin=0.05)["promote"] is True
    assert gate(REPORT, "c", margin=0.10)["promote"] is False  # 0.40 is not > 0.40
    with pytest.raises(ValueError, match="valid: dr, dros"):
        gate(REPORT, "c", margin=0.0, estimator="dm")
    with pytest.raises(ValueError, match="valid: c"):
        gate(REPORT, "nope", margin=0.0)


def test_promote_then_rollback_restores_the_previous_config(redis_client: redis.Redis, namespace: str) -> None:
    store = BanditStore(redis_client, namespace)
    with pytest.raises(ValueError, match="no previous policy"):
        rollback(store)
    before = live_policy(store)
    promote(store, {"policy": "greedy"}, gate(REPORT, "c", margin=0.05))
    assert live_policy(store) == {"policy": "greedy"}
    rollback(store)
    assert live_policy(store) == before
    assert [e.kind for e in store.events()] == ["policy_promoted", "policy_rolled_back"]


def test_cli_policy_rollback(redis_server: RedisServer, redis_client: redis.Redis, namespace: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    args = ["policy", "rollback", "--redis-url", redis_server.url, "--namespace", namespace]
    assert cli.main(args) == 1 and "no previous policy" in capsys.readouterr().err
    store = BanditStore(redis_client, namespace)
    promote(store, {"policy": "uniform"}, gate(REPORT, "c", margin=0.0))
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out)["live_policy"] == {"policy": "thompson", "use_posterior": True}
