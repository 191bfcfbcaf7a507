"""Fixtures of the browser tests: a real environment service, a store with learned data, the
dashboard as a subprocess on a free loopback port, and Debian's headless Chromium via Selenium.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis

from banditops.bandit.posteriors import make_posterior
from banditops.clients.env_client import EnvClient
from banditops.store import BanditStore, ExperimentConfig, Mode
from stack.env_server import EnvServer
from stack.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: The dashboard's login in these tests: the page and its controls need it, as in the local stack.
DASHBOARD_USER = "admin"
DASHBOARD_PASSWORD = secrets.token_urlsafe(18)


def learn(store: BanditStore, env: EnvClient, *, rounds: int, pulls: int = 100, seed: int = 3, tag: str = "a") -> None:
    """Rounds exactly as the agents play them: Thompson draws (round-robin while the store is
    RELEARNING or on a first round), one environment call per round, one atomic apply."""
    rng = np.random.default_rng(seed)
    for i in range(rounds):
        state = store.state()
        config = state.config
        posterior = make_posterior(config.reward_kind, state.stats, config.prior or None)
        arms = np.argmax(posterior.sample(rng, pulls), axis=1)
        if state.mode == Mode.RELEARNING or state.epoch_pulls == 0:
            arms = np.arange(pulls) % state.stats.n_arms
        result = env.pulls(arms)
        store.apply_batch(f"browser-test/{tag}/{i}", state.epoch, arms, result.rewards, regret=result.regret)


def seed_store(store: BanditStore, env: EnvClient, *, rounds: int = 12) -> None:
    """Learn the seed scenario until it is clear, then mark it converged (MONITORING)."""
    store.reset(ExperimentConfig(name="seed", reward_kind="gaussian", n_arms=5, relearn_budget=100))
    learn(store, env, rounds=rounds)
    store.set_mode(Mode.MONITORING, reason="converged", leader=1, prob_best=0.99)


@dataclass
class Dashboard:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@pytest.fixture(scope="module")
def browser_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this module's own (the env may be stopped by a test; Redis stays)."""
    server = RedisServer(data_dir=Path(tmp_path_factory.mktemp("redis-browser"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvServer]:
    server = EnvServer(scenario="seed", seed=11, log_path=tmp_path_factory.mktemp("env") / "env.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def store(browser_redis: RedisServer, env_server: EnvServer) -> BanditStore:
    client = redis.Redis.from_url(browser_redis.url)
    store = BanditStore(client, "browser")
    with EnvClient(env_server.url, token=env_server.admin_token) as env:
        seed_store(store, env)
    return store


@pytest.fixture(scope="module")
def dashboard(
    browser_redis: RedisServer, env_server: EnvServer, store: BanditStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("dash") / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANDITOPS_")}
    env.update(
        BANDITOPS_REDIS_URL=browser_redis.url,
        BANDITOPS_NAMESPACE="browser",
        BANDITOPS_ENV_URL=env_server.url,
        BANDITOPS_ENV_ADMIN_TOKEN=env_server.admin_token,
        BANDITOPS_DASHBOARD_USERNAME=DASHBOARD_USER,
        BANDITOPS_DASHBOARD_PASSWORD=DASHBOARD_PASSWORD,
        BANDITOPS_AIRFLOW_URL="",  # no Airflow in these tests: the page must say nothing about it
        BANDITOPS_MLFLOW_UI_URL="",
        BANDITOPS_DASHBOARD_REFRESH_S="1",
        BANDITOPS_DASHBOARD_SOURCE_TIMEOUT_S="1",
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.dashboard.app.main", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded CI machine can take a minute to import Dash and boot gunicorn
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dashboard exited with {process.returncode}: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.terminate()
        pytest.fail(f"dashboard did not answer /healthz: {log_path.read_text()[-3000:]}")
    yield Dashboard(url, process, log_path)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, with background networking off and a fresh profile."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium/chromedriver not installed (make system-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="banditops-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "--window-size=1500,1350",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    # the dashboard asks for HTTP basic auth: send it on every request, as a logged-in browser does
    login = base64.b64encode(f"{DASHBOARD_USER}:{DASHBOARD_PASSWORD}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {login}"}})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
