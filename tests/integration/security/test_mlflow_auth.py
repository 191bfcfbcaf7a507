"""MLflow behind its own basic-auth app, started by the image's script (docker/mlflow/start.sh).

The same script the MLflow image runs (compose and Helm), here on a free loopback port with a
SQLite store: without a login the API answers 401, with a wrong password 401, as the admin from
the environment 200; the health route stays open for the probes; the dashboard's MLflow reader
and MLflow's own client sign in with ``MLFLOW_TRACKING_USERNAME/PASSWORD``. Starting MLflow takes
seconds on an idle machine and minutes on a loaded one, hence the long deadline.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stack.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]
START = ROOT / "docker" / "mlflow" / "start.sh"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = Path(tmp_path_factory.mktemp("mlflow-auth"))
    port, password = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(folder / "artifacts"),
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_AUTH_CONFIG_PATH": str(folder / "auth.ini"),
        "MLFLOW_HOST": "127.0.0.1",
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "1",
        "MLFLOW_ALLOWED_HOSTS": f"127.0.0.1:{port},127.0.0.1,localhost",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    log = open(folder / "mlflow.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(["sh", str(START)], env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            assert process.poll() is None, (folder / "mlflow.log").read_text(errors="replace")[-2000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail("MLflow did not answer /health within 420 s")
        assert (folder / "auth.ini").stat().st_mode & 0o077 == 0  # it holds the database URI
        yield url, password
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


def test_the_api_needs_the_login(mlflow_server: tuple[str, str]) -> None:
    url, password = mlflow_server
    assert httpx.get(url + SEARCH, timeout=10).status_code == 401
    assert httpx.get(url + SEARCH, auth=("admin", "wrong"), timeout=10).status_code == 401
    assert httpx.get(url + SEARCH, auth=("nobody", password), timeout=10).status_code == 401
    assert httpx.get(url + SEARCH, auth=("admin", password), timeout=10).status_code == 200
    assert httpx.get(url + "/health", timeout=10).status_code == 200  # the probes need no login


def test_clients_sign_in_with_the_tracking_variables(
    mlflow_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from services.dashboard.app.sources import MlflowReader

    url, password = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"auth-{secrets.token_hex(4)}")
    run = client.create_run(experiment)
    reader = MlflowReader(url, url, timeout=10, auth=("admin", password))
    try:
        links = reader.links({"mlflow_phase_run_id": run.info.run_id})
        assert links[0].url.endswith(f"/#/experiments/{experiment}/runs/{run.info.run_id}")
    finally:
        reader.close()
    anonymous = MlflowReader(url, url, timeout=10)
    try:
        with pytest.raises(RuntimeError):  # 401: reported as MLflow unreachable, links still drawn
            anonymous.links({"mlflow_phase_run_id": run.info.run_id})
    finally:
        anonymous.close()
