"""A real uvicorn server on a free loopback port, driven by EnvClient and by curl (the origin docs' calls)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from banditops.bandit.arms import BernoulliArm, GaussianArm
from banditops.clients.env_client import EnvClient, EnvError, PullResult
from stack.env_server import EnvServer

TOKEN = "server-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvServer]:
    log = Path(tmp_path_factory.mktemp("env")) / "env.log"
    with EnvServer(seed=11, admin_token=TOKEN, log_path=log) as running:
        yield running


@pytest.fixture
def admin(server: EnvServer) -> Iterator[EnvClient]:
    """An admin client on a freshly reset world (the server is shared by this module's tests)."""
    with EnvClient(server.url, token=TOKEN) as client:
        client.reset("seed", seed=11)
        yield client


def test_client_pulls_and_truth(server: EnvServer, admin: EnvClient) -> None:
    with EnvClient(server.url) as agent:
        assert agent.health()
        result = agent.pulls(np.array([0, 1, 2, 3, 4, 1]))
        assert isinstance(result, PullResult)
        assert result.rewards.shape == (6,) and result.rewards.dtype == np.float64
        assert result.regret == pytest.approx(2.0 + 3.0 + 1.0 + 3.5)
        assert result.total_pulls == 6
        reward = agent.pull(1)
        assert isinstance(reward, float)
        truth = agent.truth()
        assert truth["total_pulls"] == 7
        assert truth["pulls"] == [1, 3, 1, 1, 1]
        assert agent.arms() == [GaussianArm(mean=m) for m in (2.0, 4.0, 1.0, 3.0, 0.5)]


def test_same_seed_gives_the_same_rewards_through_http(admin: EnvClient) -> None:
    first = admin.pulls([0, 1, 2, 3, 4] * 10).rewards
    admin.reset("seed", seed=11)
    again = admin.pulls([0, 1, 2, 3, 4] * 10).rewards
    np.testing.assert_array_equal(first, again)


def test_origin_curl_drift_calls(server: EnvServer, admin: EnvClient) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    admin.pulls([1] * 100)
    for arm, mean in ((1, "0.0"), (0, "6.0")):
        out = subprocess.run(
            [curl, "-sS", "-X", "POST", f"{server.url}/update_arm/{arm}", "-H", "Content-Type: application/json",
             "-H", f"Authorization: Bearer {TOKEN}", "-d", f'{{"mean":{mean}}}', "-w", "\n%{http_code}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        assert out.endswith("\n200"), out
    truth = admin.truth()
    assert truth["means"][:2] == [6.0, 0.0]
    assert truth["best_arm"] == 0
    drifts = [e for e in admin.events() if e["kind"] == "drift"]
    assert [(e["arm"], e["total_pulls"]) for e in drifts[-2:]] == [(1, 100), (0, 100)]


def test_admin_client_calls_and_errors(server: EnvServer, admin: EnvClient) -> None:
    with EnvClient(server.url) as anonymous:
        with pytest.raises(EnvError) as refused:
            anonymous.update_arm(1, mean=0.0)
        assert refused.value.status == 401
        assert "BANDITOPS_ENV_ADMIN_TOKEN" in refused.value.message
        with pytest.raises(EnvError) as unknown:
            anonymous.pulls([0, 42])
        assert unknown.value.status == 404
        assert "unknown arm 42; valid arms: 0..4" in str(unknown.value)
    event = admin.update_arm(2, mean=5.0, sd=0.5)
    assert event["after"] == {"kind": "gaussian", "mean": 5.0, "sd": 0.5}
    assert admin.add_arm(GaussianArm(mean=7.0)) == 5
    assert admin.truth()["best_arm"] == 5
    with pytest.raises(EnvError) as wrong_kind:
        admin.add_arm(BernoulliArm(p=0.5))
    assert wrong_kind.value.status == 422
    with pytest.raises(EnvError) as bad_sd:
        admin.update_arm(0, sd=-1.0)
    assert bad_sd.value.status == 422 and "sd must be a finite number > 0" in bad_sd.value.message
    truth = admin.reset("custom", seed=1, arms=[BernoulliArm(p=0.1), {"kind": "bernoulli", "p": 0.6}])
    assert (truth["scenario"], truth["best_arm"], truth["total_pulls"]) == ("custom", 1, 0)
    with pytest.raises(EnvError) as unknown_scenario:
        admin.reset("casino")
    assert "valid scenarios: seed, banners, problem1" in unknown_scenario.value.message
    assert admin.events()[-1]["kind"] == "scenario_reset"


def test_concurrent_agents_through_the_real_server(server: EnvServer, admin: EnvClient) -> None:
    agents, rounds, batch = 4, 25, [0, 1, 2, 3, 4, 1, 1]
    errors: list[BaseException] = []

    def agent() -> None:
        try:
            with EnvClient(server.url) as client:
                for _ in range(rounds):
                    client.pulls(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=agent) for _ in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    truth = admin.truth()
    n = agents * rounds
    assert truth["total_pulls"] == n * len(batch)
    assert truth["pulls"] == [n, 3 * n, n, n, n]


def test_client_reports_a_stopped_service(tmp_path: Path) -> None:
    stopped = EnvServer(seed=0, log_path=tmp_path / "env.log").start()
    url = stopped.url
    stopped.stop()
    with EnvClient(url, timeout=2.0) as client:
        assert client.health() is False
        with pytest.raises(EnvError) as unreachable:
            client.truth()
    assert unreachable.value.status is None
    assert url in unreachable.value.message
