"""Contextual decisions through the real decision service (uvicorn subprocess on a free port) and a
real Redis: LinTS answers per user, propensities per slate arm, contexts logged, feedback folded by
the production fold into the linear statistics, and bad contexts refused with nothing written."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from banditops.store import BanditStore, ExperimentConfig
from banditops.store.context_codec import decode_vector
from banditops.store.feedback import fold_feedback, read_decisions
from stack.decision_server import DecisionServer
from stack.redis_server import RedisServer

CONTEXT = {"numeric": ["young"], "categorical": ["device"], "n_buckets": 4}  # d = 1 + 1 + 4 = 6
N_ARMS = 4


def best_arm(young: float) -> int:
    """The world: young users click arm 0, the others arm 1; arms 2 and 3 rarely pay."""
    return 0 if young > 0 else 1


@pytest.fixture
def contextual_service(redis_server: RedisServer, namespace: str, tmp_path: Path) -> Iterator[tuple[str, BanditStore]]:
    client = redis_server.client()
    store = BanditStore(client, namespace)
    store.reset(ExperimentConfig(name="ctx", reward_kind="bernoulli", n_arms=N_ARMS, source="production",
                                 context=CONTEXT))
    settings = {"refresh_interval_s": 0.2, "seed": 3, "log_flush_interval_s": 0.005}
    # A generous start timeout: importing scipy.stats takes 15-20 s on the shared, loaded machine.
    service = DecisionServer(redis_server.url, namespace=namespace, settings=settings,
                             log_path=tmp_path / "decision.log").start(timeout_s=120)
    try:
        service.wait_live()
        yield service.url, store
    finally:
        service.stop()


def wait_epoch_pulls(store: BanditStore, pulls: int, http: httpx.Client, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(a["pulls"] for a in http.get("/arms").json()["arms"]) >= pulls:
            return
        time.sleep(0.05)
    raise AssertionError("the service did not pick up the folded feedback")


def test_contextual_loop_learns_per_user_through_the_service_and_the_fold(
    contextual_service: tuple[str, BanditStore], redis_client: redis.Redis, namespace: str
) -> None:
    url, store = contextual_service
    rng = np.random.default_rng(0)
    folded = 0
    with httpx.Client(base_url=url, timeout=5.0) as http:
        for round_ in range(6):  # decide, reward, fold (the agents' production step), refresh
            for i in range(100):
                young = float(rng.choice([-1.0, 1.0]))
                context = {"young": young, "device": str(rng.choice(["ios", "android"]))}
                answer = http.post("/recommend", json={"user_id": f"u{i}", "k": 2, "context": context})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert len(body["propensities"]) == 2 and body["propensities"][0] == body["propensity"]
                assert 0 < body["propensity"] <= 1 and sum(body["propensities"]) <= 1 + 1e-9
                shown = int(body["arms"][0])  # arms are answered by name; this experiment's are "0", "1", ...
                clicked = rng.random() < (0.8 if shown == best_arm(young) else 0.05)
                fb = http.post("/feedback", json={"decision_id": body["decision_id"], "reward": float(clicked),
                                                  "position": 0})
                if fb.status_code == 404:  # the decision log lags the answer by a few ms
                    time.sleep(0.05)
                    fb = http.post("/feedback", json={"decision_id": body["decision_id"],
                                                      "reward": float(clicked), "position": 0})
                assert fb.status_code == 200, fb.text
            result = fold_feedback(store, f"bandit_learning/run/0/{round_}")
            folded += result.applied
            assert result.dead_lettered == 0
            wait_epoch_pulls(store, folded, http)
        linear = store.state(with_linear=True).linear
        assert linear is not None and linear.n.sum() == 600  # every contextual pull reached the linear sums
        # Learned: young users get arm 0 first, the others arm 1, almost always.
        tops: dict[float, Counter[str]] = {1.0: Counter(), -1.0: Counter()}
        for young in (1.0, -1.0):
            for _ in range(100):
                body = http.post("/recommend", json={"user_id": "u", "k": 1,
                                                     "context": {"young": young, "device": "ios"}}).json()
                tops[young][body["arms"][0]] += 1
        # A no-context request in the same experiment is still plain (Beta) Thompson Sampling.
        plain = http.post("/recommend", json={"user_id": "u", "k": 1})
    assert tops[1.0]["0"] >= 90 and tops[-1.0]["1"] >= 90, tops
    assert plain.status_code == 200 and len(plain.json()["propensities"]) == 1
    plain_id = plain.json()["decision_id"]
    deadline = time.monotonic() + 10  # the log is written behind the answer, a few ms later
    while True:
        logged = read_decisions(redis_client, namespace, count=2000)
        by_id = {d["decision_id"]: d for d in logged}
        if plain_id in by_id or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    contextual = [d for d in logged if "ctx" in d]
    assert len(contextual) >= 600 and plain_id in by_id and "ctx" not in by_id[plain_id]  # no context logged
    x = decode_vector(contextual[0]["ctx"])
    assert x.shape == (6,) and x[0] == 1.0 and abs(x[1]) == 1.0  # intercept, "young", 4 hashed columns


def test_bad_contexts_and_candidates_get_422_naming_what_is_valid_and_write_nothing(
    contextual_service: tuple[str, BanditStore], redis_client: redis.Redis, namespace: str
) -> None:
    url, store = contextual_service
    with httpx.Client(base_url=url, timeout=5.0) as http:
        store.retire_arm(2)
        deadline = time.monotonic() + 5
        while http.get("/arms").json()["arms"][2]["retired"] is False and time.monotonic() < deadline:
            time.sleep(0.05)
        before = store.snapshot()["keys"]
        good = {"young": 1.0, "device": "ios"}
        cases = {
            "wrong dimension": {"context": [1.0, 0.5, 0.0]},
            "NaN in a vector": {"context_raw": b'{"user_id":"u","k":1,"context":[1,NaN,0,0,0,0]}'},
            "NaN feature": {"context_raw": b'{"user_id":"u","k":1,"context":{"young":NaN,"device":"ios"}}'},
            "unknown feature": {"context": {**good, "colour": "red"}},
            "missing numeric": {"context": {"device": "ios"}},
            "categorical not a string": {"context": {"young": 1.0, "device": 7}},
            "numeric not a number": {"context": {"young": "yes", "device": "ios"}},
            "unknown candidate": {"context": good, "candidates": [0, 9]},
            "retired candidate": {"context": good, "candidates": [0, 2]},
            "features without a model for them": {"context": good, "candidates": [{"arm": 0, "features": {"p": 1}}]},
            "features without context": {"candidates": [{"arm": 0, "features": {"p": 1.0}}]},
            "k above candidates": {"context": good, "candidates": [0, 1], "k": 3},
        }
        answers = {}
        for name, case in cases.items():
            if "context_raw" in case:
                answers[name] = http.post("/recommend", content=case["context_raw"],
                                          headers={"content-type": "application/json"})
            else:
                answers[name] = http.post("/recommend", json={"user_id": "u", "k": case.pop("k", 1), **case})
        time.sleep(0.1)  # the writer flushes every 5 ms: a logged decision would be in Redis by now
    assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(cases, 422)
    detail = {n: str(a.json()["detail"]) for n, a in answers.items()}
    assert "d=6 numbers (1 intercept, numeric ['young'], 4 hashed columns for categorical ['device'])" in detail[
        "wrong dimension"]
    assert "not a finite number" in detail["NaN in a vector"]
    assert "'young' must be a finite number; got nan" in detail["NaN feature"]
    assert "unknown features ['colour']; valid features are numeric ['young'] and categorical ['device']" in detail[
        "unknown feature"]
    assert "numeric features ['young'] are missing" in detail["missing numeric"]
    assert "categorical feature 'device' must be a string; got int 7" in detail["categorical not a string"]
    assert "'young' must be a finite number; got 'yes'" in detail["numeric not a number"]
    assert detail["unknown candidate"] == "unknown arms '9'; valid arms: 0, 1, 3"
    assert detail["retired candidate"] == "retired arms '2'; valid arms: 0, 1, 3"
    assert "has no arm features" in detail["features without a model for them"]
    assert "send a 'context'" in detail["features without context"]
    assert "valid k: 1..2" in detail["k above candidates"]
    assert read_decisions(redis_client, namespace) == []
    assert store.snapshot()["keys"] == before  # nothing written on any refusal
