"""The decision API speaks arm names (in-process ASGI client, real Redis): recommend, feedback, arms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import redis
from fastapi.testclient import TestClient

from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import feedback_entries, read_decisions

# The fixtures of the integer-arm tests (a service on the test's namespace; flushing the log).
from tests.integration.test_decision_api import flush, service  # noqa: F401

NAMES = ("summer-sale", "winter", "spring", "black-friday", "easter")
RATES = [0.1, 0.2, 0.2, 0.9, 0.05]  # black-friday is far ahead
AUTH = {"Authorization": "Bearer s3cret"}


def named_store(client: redis.Redis, namespace: str) -> BanditStore:
    store = BanditStore(client, namespace)
    epoch = store.reset(ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=5, arm_names=NAMES,
                                         arm_metadata={"easter": {"title": "Easter eggs"}}, source="production"))
    rng = np.random.default_rng(3)
    arms = np.repeat(np.arange(5), 400)
    store.apply_batch("seed/0/0/0", epoch, arms, (rng.random(arms.size) < np.array(RATES)[arms]).astype(float))
    return store


def test_recommend_answers_names_and_takes_candidates_by_name(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    named_store(redis_client, namespace)
    with service() as client:
        answers = [client.post("/recommend", json={"user_id": "u", "k": 2}).json() for _ in range(50)]
        subset = [client.post("/recommend", json={"user_id": "u", "k": 2, "candidates": ["winter", "easter"]}).json()
                  for _ in range(20)]
        flush(client)
        metrics = client.get("/metrics").text
    assert Counter(a["arms"][0] for a in answers) == {"black-friday": 50}
    assert all(set(a["arms"]) <= set(NAMES) for a in answers)
    assert all(sorted(a["arms"]) == ["easter", "winter"] for a in subset)
    # The decision log keeps internal indices (black-friday is index 3); clients never see them.
    logged = {d["decision_id"]: d for d in read_decisions(redis_client, namespace)}
    assert logged[answers[0]["decision_id"]]["arm"] == "3"
    assert 'banditops_decisions_total{arm="black-friday"} 50.0' in metrics


def test_unknown_names_are_refused_naming_the_valid_ones_and_nothing_is_logged(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    store = named_store(redis_client, namespace)
    before = store.snapshot()["keys"]
    with service(admin_token="s3cret") as client:
        unknown = client.post("/recommend", json={"user_id": "u", "k": 1, "candidates": ["winter", "autumn"]})
        index = client.post("/recommend", json={"user_id": "u", "k": 1, "candidates": [1]})
        bad = client.post("/recommend", json={"user_id": "u", "k": 1, "candidates": ["a b"]})
        retire = client.post("/arms/autumn/retire", headers=AUTH)
        bad_add = client.post("/arms", json={"name": "no/slash"}, headers=AUTH)
        bad_meta = client.post("/arms", json={"name": "ok", "metadata": {"x": "y" * 5000}}, headers=AUTH)
        flush(client)
    valid = "valid arms: summer-sale, winter, spring, black-friday, easter"
    assert unknown.status_code == 422 and unknown.json()["detail"] == f"unknown arms 'autumn'; {valid}"
    # An integer is read as the name with those digits: here there is no arm "1".
    assert index.status_code == 422 and index.json()["detail"] == f"unknown arms '1'; {valid}"
    assert bad.status_code == 422 and retire.status_code == 422 and bad_add.status_code == 422
    assert retire.json()["detail"] == f"unknown arm 'autumn'; {valid}"
    assert bad_meta.status_code == 422 and "limit is 4096" in bad_meta.json()["detail"]
    assert read_decisions(redis_client, namespace) == []
    assert store.snapshot()["keys"] == before


def test_arms_are_added_and_retired_by_name_and_a_retired_name_never_returns(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    store = named_store(redis_client, namespace)
    with service(admin_token="s3cret") as client:
        added = client.post("/arms", json={"name": "autumn", "metadata": {"title": "Autumn"}}, headers=AUTH)
        listed = client.get("/arms").json()["arms"]
        tops = Counter(client.post("/recommend", json={"user_id": "u", "k": 1}).json()["arms"][0] for _ in range(300))
        again = client.post("/arms", json={"name": "autumn"}, headers=AUTH)
        retired = client.post("/arms/black-friday/retire", headers=AUTH)
        before = store.snapshot()["keys"]
        back = client.post("/arms", json={"name": "black-friday"}, headers=AUTH)
        unchanged = store.snapshot()["keys"] == before
        after = [client.post("/recommend", json={"user_id": "u", "k": 5}).json()["arms"] for _ in range(50)]
        unnamed = client.post("/arms", headers=AUTH)
    assert added.status_code == 201 and added.json() == {"arm": "autumn", "retired": False}
    assert [a["arm"] for a in listed] == [*NAMES, "autumn"]
    assert listed[-1]["metadata"] == {"title": "Autumn"} and listed[4]["metadata"] == {"title": "Easter eggs"}
    assert listed[-1]["pulls"] == 0 and listed[-1]["mean"] == 0.5  # the cold-start prior Beta(1, 1)
    assert set(tops) <= {"black-friday", "autumn"} and tops["autumn"] > 0  # explored from the prior
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    assert retired.status_code == 200 and retired.json() == {"arm": "black-friday", "retired": True}
    assert back.status_code == 409
    assert "'black-friday' is retired (index 3) and cannot come back" in back.json()["detail"]
    assert unchanged
    assert all("black-friday" not in a and set(a) <= {*NAMES, "autumn"} for a in after)
    assert unnamed.status_code == 201 and unnamed.json()["arm"] == "6"  # no name: its index as text
    assert store.arms().names == (*NAMES, "autumn", "6")


def test_feedback_names_the_clicked_arm(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    named_store(redis_client, namespace)
    with service() as client:
        slate = client.post("/recommend", json={"user_id": "u", "k": 3}).json()
        decision = slate["decision_id"]
        outside = next(n for n in NAMES if n not in slate["arms"])
        unknown = client.post("/feedback", json={"decision_id": decision, "reward": 1, "arm": "autumn"})
        not_shown = client.post("/feedback", json={"decision_id": decision, "reward": 1, "arm": outside})
        clicked = client.post("/feedback", json={"decision_id": decision, "reward": 1, "arm": slate["arms"][1]})
    assert unknown.status_code == 422 and unknown.json()["detail"].startswith("unknown arm 'autumn'; valid arms: ")
    assert not_shown.status_code == 422
    assert not_shown.json()["detail"].startswith(f"arm {outside} is not in the slate {','.join(slate['arms'])};")
    assert clicked.status_code == 200 and clicked.json()["status"] == "accepted"
    entries = feedback_entries(redis_client, namespace)
    assert [(e["arm"], e["position"]) for e in entries] == [(str(NAMES.index(slate["arms"][1])), "1")]


def test_contextual_candidates_and_their_features_go_by_name(
    service: Callable[..., TestClient], redis_client: redis.Redis, namespace: str  # noqa: F811
) -> None:
    """LinTS with arm features on a named experiment: candidates and features by name, names out,
    refusals naming the valid arms, and the decision log on internal indices."""
    store = BanditStore(redis_client, namespace)
    store.reset(ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=5, arm_names=NAMES,
                                 source="production",
                                 context={"numeric": ["young"], "n_buckets": 2, "arm_features": ["price"]}))
    store.retire_arm("spring")
    before = store.snapshot()["keys"]
    slate = [{"arm": "winter", "features": {"price": 0.2}}, {"arm": "easter", "features": {"price": 0.5}}]
    with service() as client:
        missing = client.post("/recommend", json={"user_id": "u", "k": 1, "context": {"young": 1.0},
                                                  "candidates": [slate[0], "easter"]})
        unknown = client.post("/recommend", json={"user_id": "u", "k": 1, "context": {"young": 1.0},
                                                  "candidates": [*slate, {"arm": "autumn", "features": {"price": 1}}]})
        retired = client.post("/recommend", json={"user_id": "u", "k": 1, "context": {"young": 1.0},
                                                  "candidates": [*slate, {"arm": "spring", "features": {"price": 1}}]})
        flush(client)
        assert store.snapshot()["keys"] == before  # refusals log nothing
        answer = client.post("/recommend", json={"user_id": "u", "k": 2, "context": {"young": 1.0},
                                                 "candidates": slate})
        flush(client)
    assert missing.status_code == 422 and "missing for arms ['easter']" in missing.json()["detail"]
    valid = "valid arms: summer-sale, winter, black-friday, easter"
    assert unknown.status_code == 422 and unknown.json()["detail"] == f"unknown arms 'autumn'; {valid}"
    assert retired.status_code == 422 and retired.json()["detail"] == f"retired arms 'spring'; {valid}"
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(body["arms"]) == ["easter", "winter"] and len(body["propensities"]) == 2
    logged = {d["decision_id"]: d for d in read_decisions(redis_client, namespace)}[body["decision_id"]]
    assert logged["arm"] == str(NAMES.index(body["arms"][0])) and "ctx" in logged  # indices, not names
