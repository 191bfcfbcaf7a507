"""The decision API in-process (ASGI test client) against a real Redis server."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import feedback_entries, read_decisions
from services.decision.app.core.config import Settings
from services.decision.app.main import create_app
from stack.redis_server import RedisServer

RATES = [0.1, 0.2, 0.2, 0.9, 0.05]  # arm 3 is far ahead; arms 1 and 2 tie for second (exactly, see below)


def seeded_store(client: redis.Redis, namespace: str, pulls_per_arm: int = 400) -> BanditStore:
    store = BanditStore(client, namespace)
    config = ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=len(RATES), source="production")
    epoch = store.reset(config)
    # Exactly rate x pulls successes per arm (no sampling noise): arms 1 and 2 then have the same
    # posterior, so a fair Thompson draw ranks either second with probability 1/2.
    arms = np.repeat(np.arange(len(RATES)), pulls_per_arm)
    rewards = np.concatenate([np.arange(pulls_per_arm) < round(rate * pulls_per_arm) for rate in RATES]).astype(float)
    store.apply_batch("seed/0/0/0", epoch, arms, rewards)
    return store


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def service(redis_server: RedisServer, namespace: str) -> Iterator[Callable[..., TestClient]]:
    """Build a service on the test's namespace; used as ``with service(**settings) as client``."""

    @contextmanager
    def make(live: bool = True, **overrides: object) -> Iterator[TestClient]:
        settings = Settings(redis_url=redis_server.url, namespace=namespace, seed=0, refresh_interval_s=0.2,
                            **overrides)  # type: ignore[arg-type]
        with TestClient(create_app(settings)) as client:
            if live:
                wait_until(lambda: client.get("/healthz").json()["posterior"] == "live")
            yield client

    yield make  # type: ignore[misc]


def flush(client: TestClient) -> None:
    client.app.state.runtime.log.flush()  # type: ignore[attr-defined]


def test_recommend_ranks_by_one_thompson_draw_and_logs_every_decision(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    seeded_store(redis_client, namespace)
    with service() as client:
        answers = [client.post("/recommend", json={"user_id": f"u{i}", "k": 3}).json() for i in range(200)]
        flush(client)
    for a in answers:
        # an experiment started with integer arms: its arms are named "0".."4"
        assert len(a["arms"]) == 3 and len(set(a["arms"])) == 3 and set(a["arms"]) <= set("01234")
        assert a["fallback"] is False and a["epoch"] == 1 and len(a["decision_id"]) == 32
    # 400 pulls per arm: P(arm 3 best) is 1 to many decimals, so every draw ranks it first.
    assert Counter(a["arms"][0] for a in answers) == {"3": 200}
    assert all(a["propensity"] >= 0.99 for a in answers)
    # Later slots vary: arms 1 and 2 tie, and one draw ranks them afresh per user. Second = "1" is
    # Binomial(200, 1/2): 60..140 is a margin of over 5.6 standard deviations.
    seconds = Counter(a["arms"][1] for a in answers)
    assert 60 <= seconds["1"] <= 140 and seconds["1"] + seconds["2"] >= 195, seconds
    logged = {d["decision_id"]: d for d in read_decisions(redis_client, namespace, count=1000)}
    assert set(logged) == {a["decision_id"] for a in answers}
    one = logged[answers[0]["decision_id"]]
    # the log keeps indices; with default names they read the same
    assert one["user_id"] == "u0" and one["arms"] == ",".join(answers[0]["arms"])
    assert one["arm"] == str(answers[0]["arms"][0]) and one["fallback"] == "0" and one["epoch"] == "1"
    assert float(one["propensity"]) == pytest.approx(answers[0]["propensity"], abs=1e-6)


def test_candidates_restrict_the_ranking_and_the_propensity(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    seeded_store(redis_client, namespace)
    with service() as client:
        answers = [client.post("/recommend", json={"user_id": "u", "k": 2, "candidates": [0, 1, 2]}).json()
                   for _ in range(300)]
    assert all(set(a["arms"]) <= {"0", "1", "2"} for a in answers)
    # Among 0..2 the posterior favours the tied arms 1 and 2 over arm 0 (0.2 vs 0.1 over 400 pulls each):
    # the share of decisions led by each arm matches its logged propensity within sampling error.
    for arm in ("0", "1", "2"):
        led = [a for a in answers if a["arms"][0] == arm]
        if led:
            expected = led[0]["propensity"]
            assert len(led) / len(answers) == pytest.approx(expected, abs=4 * np.sqrt(0.25 / 300) + 0.02)
    led = Counter(a["arms"][0] for a in answers)
    assert led["1"] + led["2"] >= 0.9 * len(answers) and led["1"] > 0 and led["2"] > 0


def test_feedback_is_idempotent_and_refuses_unknown_ids(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    seeded_store(redis_client, namespace)
    with service() as client:
        decision = client.post("/recommend", json={"user_id": "u", "k": 1}).json()
        # Sent at once: the decision may still be in the write buffer; the service flushes and accepts it.
        first = client.post("/feedback", json={"decision_id": decision["decision_id"], "reward": 1})
        again = client.post("/feedback", json={"decision_id": decision["decision_id"], "reward": 1})
        conflict = client.post("/feedback", json={"decision_id": decision["decision_id"], "reward": 0})
        unknown = client.post("/feedback", json={"decision_id": "ab" * 16, "reward": 1})
        not_binary = client.post("/recommend", json={"user_id": "u", "k": 1}).json()
        half = client.post("/feedback", json={"decision_id": not_binary["decision_id"], "reward": 0.5})
        malformed = client.post("/feedback", json={"decision_id": "not-an-id", "reward": 1})
        metrics = client.get("/metrics").text
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert conflict.status_code == 409 and "already has reward 1.0" in conflict.json()["detail"]
    assert unknown.status_code == 404 and "unknown or expired decision_id" in unknown.json()["detail"]
    assert half.status_code == 422 and "must be 0 or 1" in half.json()["detail"]
    assert malformed.status_code == 422
    entries = feedback_entries(redis_client, namespace)
    assert [(e["decision_id"], e["reward"], e["arm"], e["epoch"]) for e in entries] == [
        (decision["decision_id"], "1.0", str(decision["arms"][0]), "1")
    ]
    assert 'banditops_feedback_total{status="accepted"} 1.0' in metrics
    assert 'banditops_feedback_total{status="duplicate"} 1.0' in metrics
    assert 'banditops_feedback_total{status="unknown"} 1.0' in metrics


def test_arms_added_and_retired_at_runtime(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    store = seeded_store(redis_client, namespace)
    with service(admin_token="s3cret") as client:
        auth = {"Authorization": "Bearer s3cret"}
        assert client.post("/arms").status_code == 401
        assert client.post("/arms/3/retire", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert store.state().stats.n_arms == 5 and store.state().retired == frozenset()
        added = client.post("/arms", headers=auth)
        assert added.status_code == 201 and added.json() == {"arm": "5", "retired": False}
        arms = client.get("/arms").json()["arms"]
        assert [a["arm"] for a in arms] == ["0", "1", "2", "3", "4", "5"]
        assert arms[5] == {"arm": "5", "metadata": {}, "retired": False, "pulls": 0, "mean": 0.5,
                           "prob_best": arms[5]["prob_best"]}
        # The new banner starts from the prior Beta(1, 1): it wins some draws against arm 3 (mean ~0.9).
        tops = Counter(client.post("/recommend", json={"user_id": "u", "k": 1}).json()["arms"][0] for _ in range(300))
        assert set(tops) <= {"3", "5"} and tops["5"] > 0
        retired = client.post("/arms/3/retire", headers=auth)
        assert retired.status_code == 200 and retired.json() == {"arm": "3", "retired": True}
        answers = [client.post("/recommend", json={"user_id": "u", "k": 5}).json() for _ in range(100)]
        with_candidates = client.post("/recommend", json={"user_id": "u", "k": 2, "candidates": [3, 4, 5]}).json()
        too_many = client.post("/recommend", json={"user_id": "u", "k": 6})
        out_of_range = client.post("/arms/17/retire", headers=auth)
    assert all("3" not in a["arms"] and len(a["arms"]) == 5 for a in answers)
    assert sorted(with_candidates["arms"]) == ["4", "5"]
    assert too_many.status_code == 422 and "valid k: 1..5" in too_many.json()["detail"]
    assert out_of_range.status_code == 422
    assert out_of_range.json()["detail"] == "unknown arm '17'; valid arms: 0, 1, 2, 4, 5"
    assert store.state().retired == frozenset({3})


def test_bad_input_is_refused_with_4xx_and_changes_nothing(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    store = seeded_store(redis_client, namespace)
    before = store.state()
    with service(max_body_bytes=4096) as client:
        cases = {
            "k=0": client.post("/recommend", json={"user_id": "u", "k": 0}),
            "k>arms": client.post("/recommend", json={"user_id": "u", "k": 6}),
            "unknown candidates": client.post("/recommend", json={"user_id": "u", "k": 1, "candidates": [1, 9]}),
            "negative candidate": client.post("/recommend", json={"user_id": "u", "k": 1, "candidates": [-1]}),
            "k as text": client.post("/recommend", json={"user_id": "u", "k": "2"}),
            "no user": client.post("/recommend", json={"k": 1}),
            "extra field": client.post("/recommend", json={"user_id": "u", "k": 1, "debug": True}),
            "malformed": client.post("/recommend", content=b'{"user_id": "u", "k": ',
                                     headers={"content-type": "application/json"}),
            "huge": client.post("/recommend", json={"user_id": "u" * 5000, "k": 1}),
            "huge chunked": client.post("/recommend", content=iter([b'{"user_id": "', b"u" * 5000, b'", "k": 1}'])),
        }
        flush(client)
    details = {name: r.json()["detail"] for name, r in cases.items()}
    too_large = {"huge", "huge chunked"}
    assert {name: r.status_code for name, r in cases.items()} == {n: 413 if n in too_large else 422 for n in cases}
    assert details["k>arms"] == "k=6 is more than the 5 arms available; valid k: 1..5"
    assert details["unknown candidates"] == "unknown arms '9'; valid arms: 0, 1, 2, 3, 4"
    assert "the limit is 4096 bytes" in details["huge"] and "the limit is 4096 bytes" in details["huge chunked"]
    assert details["malformed"][0]["type"] == "json_invalid"
    assert read_decisions(redis_client, namespace) == []
    after = store.state()
    assert after.total_pulls == before.total_pulls and after.stats.to_dict() == before.stats.to_dict()


def test_cold_start_answers_the_static_ranking_and_logs_it(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    # No experiment in the namespace: the cache never goes live.
    with service(live=False, static_ranking="4,2,0") as client:
        answer = client.post("/recommend", json={"user_id": "u", "k": 2})
        subset = client.post("/recommend", json={"user_id": "u", "k": 1, "candidates": [0, 2]})
        too_many = client.post("/recommend", json={"user_id": "u", "k": 4})
        wait_until(lambda: client.get("/healthz").json()["store_error"] is not None)
        health = client.get("/healthz").json()
        flush(client)
        metrics = client.get("/metrics").text
    assert answer.status_code == 200
    body = answer.json()
    assert (body["arms"], body["fallback"], body["propensity"], body["epoch"]) == (["4", "2"], True, 1.0, 0)
    assert subset.json()["arms"] == ["2"]
    assert too_many.status_code == 422 and "valid k: 1..3" in too_many.json()["detail"]
    assert health["posterior"] == "none" and "holds no experiment" in health["store_error"]
    logged = read_decisions(redis_client, namespace)
    assert [(d["arms"], d["fallback"], d["propensity"]) for d in logged] == [("4,2", "1", "1"), ("2", "1", "1")]
    assert 'banditops_recommendations_total{fallback="true"} 2.0' in metrics
    assert 'banditops_recommendations_total{fallback="false"} 0.0' in metrics


def test_static_ranking_by_arm_names_is_checked_at_start_and_served_when_stale(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    store = BanditStore(redis_client, namespace)
    names = ["summer-sale", "spring", "winter", "autumn"]
    epoch = store.reset(ExperimentConfig(name="named", reward_kind="bernoulli", n_arms=4, source="production",
                                         arm_names=names))
    store.apply_batch("seed/0/0/0", epoch, np.arange(4).repeat(50), np.tile([1.0, 0.0], 100))
    with pytest.raises(ValueError, match=r"does not have: \['3', 'sumer-sale'\]; valid arms: .*summer-sale"):
        with service(static_ranking="winter,3,sumer-sale"):
            pass
    with service(static_ranking="winter,summer-sale", max_staleness_s=0.5) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        runtime.cache.stop()  # no more refreshes: the snapshot goes stale and answers fall back
        wait_until(lambda: client.post("/recommend", json={"user_id": "u", "k": 1}).json()["fallback"])
        answer = client.post("/recommend", json={"user_id": "u", "k": 2}).json()
    assert (answer["arms"], answer["fallback"]) == (["winter", "summer-sale"], True)


def test_metrics_cover_latency_decisions_staleness_and_events(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    store = seeded_store(redis_client, namespace)
    store.append_event("drift_detected", arm=3)
    with service() as client:
        for _ in range(20):
            client.post("/recommend", json={"user_id": "u", "k": 1})
        wait_until(lambda: 'banditops_lifecycle_events_total{kind="drift_detected"} 1.0' in client.get("/metrics").text)
        text = client.get("/metrics").text
    assert 'banditops_decisions_total{arm="3"} 20.0' in text
    assert 'banditops_recommendations_total{fallback="false"} 20.0' in text
    assert 'banditops_decision_request_duration_seconds_count{route="/recommend"} 20.0' in text
    assert 'banditops_decision_responses_total{route="/recommend",status="200"} 20.0' in text
    assert 'banditops_lifecycle_events_total{kind="experiment_started"} 1.0' in text
    staleness = float(next(line.split()[1] for line in text.splitlines()
                           if line.startswith("banditops_posterior_staleness_seconds ")))
    assert 0.0 <= staleness < 2.0
    assert "banditops_feedback_lag_seconds 0.0" in text
    assert "banditops_posterior_epoch 1.0" in text


def test_settings_refuse_missing_or_placeholder_admin_token_when_deployed() -> None:
    with pytest.raises(ValueError, match="ADMIN_TOKEN must be set"):
        Settings(deploy_mode="deployed")
    with pytest.raises(ValueError, match="placeholder"):
        Settings(deploy_mode="deployed", admin_token="change-me-decision")
    with pytest.raises(ValueError, match="distinct arm names"):
        Settings(static_ranking="1,1")
    with pytest.raises(ValueError, match=r"comma-separated arm names.*not arm names: \['-x'\]"):
        Settings(static_ranking="summer-sale,-x")
    assert Settings(static_ranking="3, 1,0").ranking == ["3", "1", "0"]
    assert Settings(static_ranking="summer-sale,spring").ranking == ["summer-sale", "spring"]


def test_gaussian_feedback_out_of_range_is_refused_with_the_range(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    store = BanditStore(redis_client, namespace)
    epoch = store.reset(ExperimentConfig(name="revenue", reward_kind="gaussian", n_arms=3, source="production"))
    store.apply_batch("seed/0/0/0", epoch, [0, 1, 2] * 10, [1.0, 2.0, 3.0] * 10)
    with service() as client:
        ids = [client.post("/recommend", json={"user_id": "u", "k": 1}).json()["decision_id"] for _ in range(2)]
        huge = client.post("/feedback", json={"decision_id": ids[0], "reward": 1e300})
        edge = client.post("/feedback", json={"decision_id": ids[1], "reward": -1e6})
    assert huge.status_code == 422 and "within ±1e+06" in huge.json()["detail"]
    assert edge.status_code == 200 and edge.json()["status"] == "accepted"
    assert [e["decision_id"] for e in feedback_entries(redis_client, namespace)] == [ids[1]]


def test_slate_feedback_credits_the_clicked_arm(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str
) -> None:
    from banditops.store.feedback import fold_feedback

    store = seeded_store(redis_client, namespace)
    before = store.state().stats.n.tolist()
    with service() as client:
        slate = client.post("/recommend", json={"user_id": "u", "k": 3}).json()
        single = client.post("/recommend", json={"user_id": "u", "k": 1}).json()
        unnamed = client.post("/feedback", json={"decision_id": slate["decision_id"], "reward": 1})
        wrong = client.post("/feedback", json={"decision_id": slate["decision_id"], "reward": 1,
                                               "arm": slate["arms"][0], "position": 2})
        clicked = client.post("/feedback", json={"decision_id": slate["decision_id"], "reward": 1, "position": 2})
        default = client.post("/feedback", json={"decision_id": single["decision_id"], "reward": 0})
    assert unnamed.status_code == 422 and "send 'arm'" in unnamed.json()["detail"]
    assert wrong.status_code == 422 and "is not at position 2" in wrong.json()["detail"]
    assert clicked.status_code == 200 and default.status_code == 200
    entries = feedback_entries(redis_client, namespace)
    assert [(e["arm"], e["position"], e["reward"]) for e in entries] == [
        (str(slate["arms"][2]), "2", "1.0"), (str(single["arms"][0]), "0", "0.0")]
    assert fold_feedback(store, "fold/0/0/0").applied == 2
    after = store.state().stats.n.tolist()
    expected = list(before)
    expected[int(slate["arms"][2])] += 1
    expected[int(single["arms"][0])] += 1
    assert after == expected
