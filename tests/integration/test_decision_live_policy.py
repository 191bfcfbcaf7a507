"""The decision API serves the promoted policy (the gate's ``live_policy``), and a rollback brings Thompson back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from banditops.loop.promotion import promote, rollback

from .test_decision_api import seeded_store, service, wait_until  # noqa: F401  (the fixture)


def _answers(client: TestClient, n: int = 200) -> list[dict[str, Any]]:
    return [client.post("/recommend", json={"user_id": f"u{i}", "k": 2}).json() for i in range(n)]


def _wait_for_policy(client: TestClient, policy: str) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    wait_until(lambda: runtime.cache.current is not None and runtime.cache.current.policy.policy == policy)


def test_a_promoted_static_policy_is_served_and_a_rollback_restores_thompson(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    store = seeded_store(redis_client, namespace)  # the posterior is sure arm 3 is best
    with service() as client:
        assert Counter(a["arms"][0] for a in _answers(client, 50)) == {"3": 50}  # arms by name: "0".."4"
        promote(store, {"policy": "static", "ranking": [1, 4]}, {"candidate": "static_1_4", "promote": True})
        _wait_for_policy(client, "static")
        answers = _answers(client)
        assert {tuple(a["arms"]) for a in answers} == {("1", "4")}
        assert all(a["propensity"] == 1.0 and a["fallback"] is False for a in answers)

        promote(store, {"policy": "uniform"}, {"candidate": "uniform", "promote": True})
        _wait_for_policy(client, "uniform")
        answers = _answers(client, 500)
        assert all(a["propensity"] == pytest.approx(0.2, abs=0.03) for a in answers)  # 1/5 by 4000 draws
        led = Counter(a["arms"][0] for a in answers)
        assert set(led) == {str(a) for a in range(5)} and max(led.values()) < 0.35 * 500  # no arm leads: 100 ± 9 each

        rollback(store)  # back to the static policy promoted before uniform
        _wait_for_policy(client, "static")
        rollback(store)  # and back to uniform: rollback swaps the last two
        _wait_for_policy(client, "uniform")


def test_an_unservable_live_policy_keeps_the_current_one(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    store = seeded_store(redis_client, namespace)
    with service() as client:
        store.set_meta(live_policy='{"policy": "epsilon"}')  # not a policy BanditOps has
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        before = runtime.cache.refreshes
        wait_until(lambda: runtime.cache.refreshes > before + 2)
        assert runtime.cache.current.policy.policy == "thompson"
        assert Counter(a["arms"][0] for a in _answers(client, 50)) == {"3": 50}  # arms by name: "0".."4"
