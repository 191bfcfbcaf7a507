"""The environment service through the ASGI test client: every route, determinism, auth, refusals, threads."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from banditops.bandit.arms import PROBLEM1_MEANS, GaussianArm, scenario
from services.environment.app.core.config import Settings
from services.environment.app.main import create_app

TOKEN = "test-admin-token"


def make_client(*, admin: bool = True, **settings: Any) -> TestClient:
    """An in-process service with the admin token ``TOKEN``; ``admin=True`` sends it on every call."""
    settings.setdefault("admin_token", TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"} if admin else {}
    return TestClient(create_app(Settings(**settings)), headers=headers)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client(seed=0) as c:
        yield c


def state(client: TestClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return client.get("/arms").json(), client.get("/events").json()["events"]


def metric(client: TestClient, name: str, **labels: str) -> float:
    """One sample of /metrics, by name and labels (0 when absent)."""
    text = client.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))).strip(",") == want:
            return float(match[3])
    return 0.0


# -- ground truth and pulls --------------------------------------------------------------------


def test_arms_reports_the_seed_scenario(client: TestClient) -> None:
    truth = client.get("/arms").json()
    assert truth == {
        "arms": [a.model_dump() for a in scenario("seed")],
        "means": [2.0, 4.0, 1.0, 3.0, 0.5],
        "best_arm": 1,
        "total_pulls": 0,
        "pulls": [0, 0, 0, 0, 0],
        "scenario": "seed",
    }


def test_pulls_are_the_reward_models_draws_with_the_seed(client: TestClient) -> None:
    body = client.post("/pulls", json={"arms": [1, 1, 0]}).json()
    rng = np.random.default_rng(0)  # one draw per distinct arm, in arm order
    arm0 = GaussianArm(mean=2.0, sd=1.0).draw(rng, 1)
    arm1 = GaussianArm(mean=4.0, sd=1.0).draw(rng, 2)
    assert body["rewards"] == [arm1[0], arm1[1], arm0[0]]
    assert body["regret"] == 2.0
    assert body["total_pulls"] == 3
    assert client.get("/arms").json()["pulls"] == [1, 2, 0, 0, 0]


def test_same_seed_same_rewards_other_seed_other_rewards() -> None:
    batch = {"arms": [0, 1, 2, 3, 4] * 20}
    with make_client(seed=5) as a, make_client(seed=5) as b, make_client(seed=6) as c:
        first = [a.post("/pulls", json=batch).json()["rewards"] for _ in range(3)]
        again = [b.post("/pulls", json=batch).json()["rewards"] for _ in range(3)]
        other = c.post("/pulls", json=batch).json()["rewards"]
    assert first == again
    assert first[0] != other
    assert first[0] != first[1]  # the generator advances between batches


def test_regret_is_the_expected_pseudo_regret_from_the_true_means(client: TestClient) -> None:
    body = client.post("/pulls", json={"arms": [0, 2, 3, 4, 1]}).json()
    assert body["regret"] == pytest.approx(2.0 + 3.0 + 1.0 + 3.5 + 0.0)


def test_bernoulli_rewards_are_zero_or_one_at_the_click_rate() -> None:
    with make_client(seed=1, scenario="banners") as c:
        truth = c.get("/arms").json()
        best = truth["best_arm"]
        rewards = np.array(c.post("/pulls", json={"arms": [best] * 20_000}).json()["rewards"])
    assert set(np.unique(rewards)) <= {0.0, 1.0}
    p = truth["means"][best]
    assert p == 0.05
    # 20,000 draws: sd of the rate ~0.0015; 5 sd is a margin no correct sampler misses
    assert abs(rewards.mean() - p) < 5 * np.sqrt(p * (1 - p) / 20_000)


def test_single_pull(client: TestClient) -> None:
    body = client.post("/pull/3").json()
    expected = GaussianArm(mean=3.0, sd=1.0).draw(np.random.default_rng(0), 1)[0]
    assert body == {"arm": 3, "reward": expected, "regret": 1.0, "total_pulls": 1}


# -- drift, new arms, resets, events ----------------------------------------------------------------


def test_origin_drift_calls_change_the_truth_and_are_logged_with_the_pull_count(client: TestClient) -> None:
    client.post("/pulls", json={"arms": [1] * 250})
    first = client.post("/update_arm/1", content=b'{"mean":0.0}', headers={"Content-Type": "application/json"})
    client.post("/pulls", json={"arms": [0] * 50})
    second = client.post("/update_arm/0", content=b'{"mean":6.0}', headers={"Content-Type": "application/json"})
    assert first.status_code == second.status_code == 200
    truth = client.get("/arms").json()
    assert truth["means"] == [6.0, 0.0, 1.0, 3.0, 0.5]
    assert truth["best_arm"] == 0
    events = client.get("/events").json()["events"]
    assert [(e["kind"], e["arm"], e["total_pulls"]) for e in events] == [("drift", 1, 250), ("drift", 0, 300)]
    assert events[0]["before"] == {"kind": "gaussian", "mean": 4.0, "sd": 1.0}
    assert events[0]["after"] == {"kind": "gaussian", "mean": 0.0, "sd": 1.0}
    assert second.json() == events[1]
    # the regret accounting follows the new truth at once
    assert client.post("/pulls", json={"arms": [1]}).json()["regret"] == 6.0


def test_patch_any_parameter(client: TestClient) -> None:
    event = client.patch("/arms/2", json={"sd": 0.5, "mean": 1.5}).json()
    assert event["after"] == {"kind": "gaussian", "mean": 1.5, "sd": 0.5}
    with make_client(scenario="banners") as banners:
        assert banners.patch("/arms/0", json={"p": 0.2}).json()["after"] == {"kind": "bernoulli", "p": 0.2}
        assert banners.post("/update_arm/0", json={"mean": 0.3}).json()["after"] == {"kind": "bernoulli", "p": 0.3}
        assert banners.get("/arms").json()["best_arm"] == 0


def test_add_arm(client: TestClient) -> None:
    response = client.post("/arms", json={"kind": "gaussian", "mean": 9.0, "sd": 2.0})
    assert response.status_code == 201
    assert response.json()["arm"] == 5
    assert response.json()["kind"] == "arm_added"
    truth = client.get("/arms").json()
    assert truth["best_arm"] == 5
    assert truth["pulls"] == [0] * 6
    assert client.post("/pulls", json={"arms": [5, 5]}).json()["regret"] == 0.0


def test_scenario_reset_zeroes_counters_and_reseeds(client: TestClient) -> None:
    before = client.post("/pulls", json={"arms": [0, 1]}).json()["rewards"]
    truth = client.post("/scenario", json={"name": "seed", "seed": 0}).json()
    assert truth["total_pulls"] == 0
    assert client.post("/pulls", json={"arms": [0, 1]}).json()["rewards"] == before
    banners = client.post("/scenario", json={"name": "banners"}).json()
    assert len(banners["arms"]) == 10
    assert banners["means"][banners["best_arm"]] == 0.05
    custom = client.post("/scenario", json={"name": "two", "arms": [{"kind": "bernoulli", "p": 0.1},
                                                                     {"kind": "bernoulli", "p": 0.7}]}).json()
    assert (custom["scenario"], custom["best_arm"], custom["means"]) == ("two", 1, [0.1, 0.7])
    kinds = [e["kind"] for e in client.get("/events").json()["events"]]
    assert kinds == ["scenario_reset"] * 3


def test_problem1_switches_means_on_schedule_even_inside_a_batch() -> None:
    with make_client(seed=3, scenario="problem1") as c:
        body = c.post("/pulls", json={"arms": [2] * 2500}).json()
        # arm 2 is best (0.9) for 2,000 pulls, then 0.1 against arm 0's 0.3
        assert body["regret"] == pytest.approx(500 * 0.2)
        events = c.get("/events").json()["events"]
        assert [(e["arm"], e["total_pulls"]) for e in events] == [(1, 1000), (2, 2000)]
        assert c.get("/arms").json()["means"] == list(PROBLEM1_MEANS[2])
        rewards = np.array(body["rewards"])
        assert rewards[:2000].mean() > 0.85 and rewards[2000:].mean() < 0.2
        # a manual drift ends the schedule: no switch at 3,000
        c.patch("/arms/0", json={"p": 0.4})
        c.post("/pulls", json={"arms": [0] * 1000})
        assert c.get("/arms").json()["means"] == [0.4, 0.2, 0.1]


# -- auth, health, metrics, docs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/update_arm/1", {"mean": 0.0}),
        ("PATCH", "/arms/1", {"sd": 2.0}),
        ("POST", "/arms", {"kind": "gaussian", "mean": 1.0}),
        ("POST", "/scenario", {"name": "banners"}),
    ],
)
def test_admin_calls_need_the_token(method: str, path: str, body: dict[str, Any]) -> None:
    with make_client(admin=False) as c:
        truth, events = state(c)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            refused = c.request(method, path, json=body, headers=headers)
            assert refused.status_code == 401
            assert "BANDITOPS_ENV_ADMIN_TOKEN" in refused.json()["detail"]
        assert state(c) == (truth, events)
        accepted = c.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert accepted.status_code in (200, 201)
        assert state(c) != (truth, events)
        # agents' calls stay open
        assert c.post("/pulls", json={"arms": [0]}).status_code == 200
    with make_client(admin=False, admin_token=None) as closed:  # no token configured: off, not open
        truth, events = state(closed)
        refused = closed.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 403
        assert "admin calls are off" in refused.json()["detail"]
        assert "BANDITOPS_ENV_ADMIN_TOKEN" in refused.json()["detail"]
        assert state(closed) == (truth, events)


def test_health_docs_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    paths = set(client.get("/openapi.json").json()["paths"])
    assert paths == {"/pulls", "/pull/{arm}", "/arms", "/arms/{arm}", "/update_arm/{arm}", "/scenario",
                     "/events", "/ledger", "/healthz", "/metrics"}
    client.post("/pulls", json={"arms": [1, 1, 1, 0]})
    client.post("/pull/1")
    client.post("/update_arm/1", json={"mean": 0.0})
    assert metric(client, "banditops_env_pulls_total", arm="1") == 4
    assert metric(client, "banditops_env_pulls_total", arm="0") == 1
    assert metric(client, "banditops_env_events_total", kind="drift") == 1
    assert metric(client, "banditops_env_arm_mean", arm="1") == 0.0
    assert metric(client, "banditops_env_world_pulls") == 5
    assert metric(client, "banditops_env_request_duration_seconds_count",
                  method="POST", route="/pulls", status="200") == 1


# -- bad input: 404/422 with an actionable message, state unchanged --------------------------------------

BAD = [
    ("POST", "/pull/9", None, 404, "unknown arm 9; valid arms: 0..4"),
    ("POST", "/pull/-1", None, 404, "unknown arm -1; valid arms: 0..4"),
    ("POST", "/pulls", {"arms": [0, 5]}, 404, "unknown arm 5; valid arms: 0..4"),
    ("POST", "/pulls", {"arms": [2**63]}, 404, "unknown arm"),
    ("POST", "/pulls", {"arms": [2**70]}, 404, "unknown arm"),
    ("POST", "/pulls", {"arms": [0, [1]]}, 422, "flat list"),
    ("POST", "/pulls", {"arms": [[0], [1]]}, 422, "flat list"),
    ("POST", "/pulls", {"arms": [{}]}, 422, "flat list"),
    ("POST", "/pulls", {"arms": [-1, 2]}, 404, "unknown arm -1; valid arms: 0..4"),
    ("POST", "/pulls", {"arms": [7, 0, -1]}, 404, "unknown arms -1, 7; valid arms: 0..4"),
    ("PATCH", "/arms/7", {"mean": 1.0}, 404, "unknown arm 7; valid arms: 0..4"),
    ("POST", "/update_arm/5", {"mean": 1.0}, 404, "unknown arm 5; valid arms: 0..4"),
    ("POST", "/pulls", {"arms": []}, 422, "1..10 arm indices"),
    ("POST", "/pulls", {"arms": [0] * 11}, 422, "1..10 arm indices"),
    ("POST", "/pulls", {"arms": [0, 1.5]}, 422, "integer arm indices"),
    ("POST", "/pulls", {"arms": [True]}, 422, "integer arm indices"),
    ("POST", "/pulls", {"arms": ["1"]}, 422, "integer arm indices"),
    ("POST", "/pulls", {"arms": [None]}, 422, "integer arm indices"),
    ("POST", "/pulls", {"arms": 3}, 422, "list of 1..10"),
    ("POST", "/pulls", {"arms": [0], "extra": 1}, 422, 'exactly one key, "arms"'),
    ("POST", "/pulls", [0, 1], 422, 'exactly one key, "arms"'),
    ("POST", "/pulls", b"{not json", 422, "not valid JSON"),
    ("POST", "/pulls", b"", 422, "not valid JSON"),
    ("POST", "/update_arm/1", b'{"mean": NaN}', 422, "finite"),
    ("POST", "/update_arm/1", b'{"mean": Infinity}', 422, "finite"),
    ("POST", "/update_arm/1", {"mean": "high"}, 422, "mean"),
    ("POST", "/update_arm/1", {}, 422, "mean"),
    ("POST", "/update_arm/1", {"mean": 1.0, "sd": 1.0}, 422, "sd"),
    ("PATCH", "/arms/1", {"sd": 0.0}, 422, "sd must be a finite number > 0 for a gaussian arm; got 0.0"),
    ("PATCH", "/arms/1", {"sd": -1.0}, 422, "sd must be a finite number > 0 for a gaussian arm; got -1.0"),
    ("PATCH", "/arms/1", {"p": 0.5}, 422, "valid: mean, sd"),
    ("PATCH", "/arms/1", {}, 422, "at least one parameter"),
    ("PATCH", "/arms/1", {"kind": "bernoulli"}, 422, "kind"),
    ("POST", "/arms", {"kind": "bernoulli", "p": 0.5}, 422, "must be gaussian"),
    ("POST", "/arms", {"kind": "gaussian", "mean": 1.0, "sd": -2.0}, 422, "sd must be a finite number > 0"),
    ("POST", "/arms", {"kind": "poisson", "rate": 1.0}, 422, "bernoulli"),
    ("POST", "/scenario", b"\xff\xfe{", 422, "UTF-8"),
    ("POST", "/scenario", {"name": "nope"}, 422, "seed, banners, problem1"),
    ("POST", "/scenario", {"name": "seed", "arms": [{"kind": "bernoulli", "p": 0.5}]}, 422, "other label"),
    ("POST", "/scenario", {"name": "mixed", "arms": [{"kind": "bernoulli", "p": 0.5},
                                                      {"kind": "gaussian", "mean": 1.0}]}, 422, "same kind"),
    ("POST", "/scenario", {"name": "b", "arms": [{"kind": "bernoulli", "p": 1.5}]}, 422, "finite number in [0, 1]"),
    ("POST", "/scenario", {"name": "seed", "seed": -1}, 422, "greater than or equal to 0"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD,
                         ids=[f"{m} {p} {b!r:.40}" for m, p, b, *_ in BAD])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    method: str, path: str, body: Any, status: int, message: str
) -> None:
    with make_client(seed=0, max_batch=10) as c:
        c.post("/pulls", json={"arms": [0, 1]})
        before = state(c)
        if isinstance(body, bytes):
            response = c.request(method, path, content=body, headers={"Content-Type": "application/json"})
        else:
            response = c.request(method, path, json=body)
        assert response.status_code == status
        assert message in str(response.json()["detail"])
        assert state(c) == before
        # the generator did not advance either: the next draw is the one a fresh world makes second
        with make_client(seed=0) as fresh:
            fresh.post("/pulls", json={"arms": [0, 1]})
            assert c.post("/pulls", json={"arms": [2]}).json() == fresh.post("/pulls", json={"arms": [2]}).json()


def test_settings_refuse_unsafe_or_unknown_configuration() -> None:
    with pytest.raises(ValueError, match="must be set"):
        Settings(deploy_mode="deployed")
    with pytest.raises(ValueError, match="placeholder"):
        Settings(deploy_mode="deployed", admin_token="change-me-please")
    with pytest.raises(ValueError, match="BANDITOPS_REDIS_URL must be set"):  # a restart would lose the world
        Settings(deploy_mode="deployed", admin_token="a-real-token")
    with pytest.raises(ValueError, match="valid scenarios: seed, banners, problem1"):
        Settings(scenario="casino")
    with pytest.raises(ValueError, match="invalid arms"):
        Settings(arms='[{"kind": "bernoulli", "p": 2}]')
    assert Settings(admin_token="").admin_token is None
    with make_client(arms='[{"kind": "bernoulli", "p": 0.25}]') as c:
        assert c.get("/arms").json()["scenario"] == "custom"


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_pulls_from_many_threads_are_counted_exactly() -> None:
    """Each thread runs its own test client (its own event loop) against the one shared world."""
    app = create_app(Settings(seed=0, admin_token=TOKEN))
    threads, rounds, batch = 6, 40, [0, 1, 1, 2, 3, 3, 3, 4]
    errors: list[BaseException] = []

    def agent(i: int) -> None:
        try:
            with TestClient(app) as c:
                for r in range(rounds):
                    assert c.post("/pulls", json={"arms": batch}).status_code == 200
                    if i == 0 and r % 10 == 0:  # drift while the others pull
                        patched = c.patch("/arms/2", json={"mean": float(r)},
                                          headers={"Authorization": f"Bearer {TOKEN}"})
                        assert patched.status_code == 200
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=agent, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    with TestClient(app) as c:
        truth = c.get("/arms").json()
        n = threads * rounds
        assert truth["total_pulls"] == n * len(batch)
        assert truth["pulls"] == [n * batch.count(k) for k in range(5)]
        assert metric(c, "banditops_env_pulls_total", arm="3") == n * 3
        assert len(c.get("/events").json()["events"]) == 4


def test_world_docstring_example_holds() -> None:
    """services/ is outside pytest's doctest paths, so the world's example is checked here."""
    import doctest

    from services.environment.app import world

    assert doctest.testmod(world, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_the_ledger_books_each_batch_under_its_epoch_and_refuses_bad_headers(client: TestClient) -> None:
    booked = {"X-BanditOps-Epoch": "4", "X-BanditOps-Batch": "d/r/0/0"}
    r = client.post("/pulls", json={"arms": [0, 1, 1]}, headers=booked)
    again = client.post("/pulls", json={"arms": [0, 1, 1]}, headers=booked)  # a retried round pulls again
    client.post("/pull/2")
    truth = client.get("/arms").json()
    for headers in ({"X-BanditOps-Epoch": "-1"}, {"X-BanditOps-Epoch": "four"}, {"X-BanditOps-Batch": "x" * 257}):
        refused = client.post("/pulls", json={"arms": [0]}, headers=headers)
        assert refused.status_code == 422 and "X-BanditOps-" in refused.json()["detail"]
    assert client.get("/arms").json() == truth  # nothing pulled
    ledger = client.get("/ledger").json()
    sums = [sum(r.json()["rewards"]), sum(again.json()["rewards"])]
    assert [(e["epoch"], e["pulls"], e["batches"]) for e in ledger["epochs"]] == [(None, 1, 1), (4, 6, 2)]
    assert ledger["epochs"][1]["reward_sum"] == pytest.approx(sum(sums), rel=1e-12)
    [batch] = ledger["batches"]
    assert batch["batch_id"] == "d/r/0/0" and batch["epoch"] == 4
    assert [a[0] for a in batch["attempts"]] == [3, 3]
    assert [a[1] for a in batch["attempts"]] == pytest.approx(sums, rel=1e-12)
    assert client.get("/ledger", params={"epoch": 5}).json()["batches"] == []
