"""Smoke test of the compose stack on a machine with a Docker engine (``make smoke-compose``).

Build the images, bring the whole stack up with fresh random secrets on free loopback ports, wait
for every healthcheck, then run the lifecycle for real: the loop learns until it converges
(mode ``monitoring``), a drift is injected through the ``bandit_inject_drift`` DAG, the loop notices
and re-learns (a new epoch), and the decision API answers from the posterior. The stack and its
volumes are removed at the end, pass or fail.

Where no Docker engine answers, it says so and exits 2 -- it never reports a pass it did not
observe. It is not part of ``make test`` (the build machines here have no engine).

Usage: ``python scripts/smoke_compose.py [--timeout 1800] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NO_ENGINE_EXIT = 2


def log(message: str) -> None:
    print(f"smoke-compose: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_client() -> Any:
    """A connected docker SDK client, or exit 2 saying why there is none."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        log(f"the docker SDK is not installed ({exc}); run `make venv`")
        sys.exit(NO_ENGINE_EXIT)
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        log(f"no Docker engine answers ({type(exc).__name__}: {exc}); nothing was built or started")
        sys.exit(NO_ENGINE_EXIT)
    version = client.version()
    log(f"Docker engine {version.get('Version')} ({version.get('Os')}/{version.get('Arch')})")
    return client


def env_file(directory: Path) -> tuple[Path, dict[str, str]]:
    """Fresh secrets (never the .env.example placeholders) and free loopback ports."""
    from cryptography.fernet import Fernet

    from banditops.store.acl import USERS  # every Redis user the ACL writer refuses to start without

    values = {
        "POSTGRES_PASSWORD": secrets.token_hex(24),
        **{f"BANDIT_REDIS_{user.upper()}_PASSWORD": secrets.token_hex(24) for user in USERS},
        "MLFLOW_ADMIN_USERNAME": "admin",
        "MLFLOW_ADMIN_PASSWORD": secrets.token_hex(16),
        "MLFLOW_FLASK_SECRET_KEY": secrets.token_hex(32),
        "CELERY_BROKER_PASSWORD": secrets.token_hex(24),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_API_SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW_JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_hex(16),
        "BANDITOPS_ENV_ADMIN_TOKEN": secrets.token_hex(32),
        "BANDITOPS_DECISION_ADMIN_TOKEN": secrets.token_hex(32),
        "BANDITOPS_DASHBOARD_PASSWORD": secrets.token_hex(16),
        "BANDITOPS_NAMESPACE": "smoke",
        **{name: str(free_port()) for name in
           ("AIRFLOW_PORT", "DASHBOARD_PORT", "MLFLOW_PORT", "ENVIRONMENT_PORT", "DECISION_PORT")},
    }
    path = directory / "smoke.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path, values


class Stack:
    """`docker compose` (the real v2 binary) for one throw-away project."""

    def __init__(self, env_path: Path, project: str) -> None:
        binary = subprocess.run(["bash", str(ROOT / "scripts" / "get-compose.sh")], capture_output=True,
                                text=True, check=True).stdout.strip().splitlines()[-1]
        self.base = [binary, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yaml"),
                     "--env-file", str(env_path), "-p", project]
        self.project = project

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        log("docker compose " + " ".join(args))
        return subprocess.run([*self.base, *args], text=True, check=check)


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 15) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback URLs we built)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        raw = response.read()
    return json.loads(raw) if raw else None


def wait_for(what: str, probe: Any, deadline: float, every: float = 5.0) -> Any:
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                log(f"{what}: ok ({last})")
                return last
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(every)
    raise TimeoutError(f"{what}: not reached before the deadline (last: {last!r})")


def loop_state(client: Any, project: str) -> tuple[str, int]:
    """(mode, epoch) read by the banditops package inside a worker container."""
    worker = client.containers.list(filters={"label": [f"com.docker.compose.project={project}",
                                                         "com.docker.compose.service=airflow-worker"]})[0]
    code = ("from banditops.settings import get_settings; from banditops.store.redis_store import BanditStore; "
            "s = get_settings(); b = BanditStore.from_url(s.redis_url, s.namespace); "
            "m = b.mode(); print(getattr(m, 'value', m), b.epoch())")
    result = worker.exec_run(["python", "-c", code])
    if result.exit_code != 0:
        raise ValueError(result.output.decode(errors="replace")[-300:])
    mode, epoch = result.output.decode().split()[-2:]
    return mode, int(epoch)


def check_health(client: Any, project: str) -> None:
    containers = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    bad = []
    for container in containers:
        service = container.labels.get("com.docker.compose.service")
        state = container.attrs["State"]
        if service in ("airflow-init", "bandit-redis-acl"):  # one-shot jobs
            if state.get("ExitCode") != 0:
                bad.append(f"{service} exited {state.get('ExitCode')}")
        elif state.get("Health", {}).get("Status") != "healthy":
            bad.append(f"{service}: {state.get('Health', {}).get('Status', state.get('Status'))}")
    if bad:
        raise RuntimeError("unhealthy services: " + ", ".join(bad))
    log(f"all {len(containers)} containers healthy (airflow-init and bandit-redis-acl completed)")


def lifecycle(client: Any, project: str, values: dict[str, str], deadline: float) -> None:
    airflow = f"http://127.0.0.1:{values['AIRFLOW_PORT']}"
    token = http("POST", f"{airflow}/auth/token",
                 {"username": values["AIRFLOW_ADMIN_USERNAME"], "password": values["AIRFLOW_ADMIN_PASSWORD"]})
    jwt = token["access_token"]
    dags = {d["dag_id"] for d in http("GET", f"{airflow}/api/v2/dags?limit=100", token=jwt)["dags"]}
    log(f"DAGs loaded: {sorted(dags)}")
    wait_for("the loop converged (mode monitoring)", lambda: loop_state(client, project)[0] == "monitoring", deadline)
    _, epoch = loop_state(client, project)
    http("POST", f"{airflow}/api/v2/dags/bandit_inject_drift/dagRuns", {"logical_date": None}, token=jwt)
    log("drift injected through bandit_inject_drift")
    wait_for("drift detected and relearned (new epoch)", lambda: loop_state(client, project)[1] > epoch, deadline)
    wait_for("re-converged (mode monitoring)", lambda: loop_state(client, project)[0] == "monitoring", deadline)
    decision = f"http://127.0.0.1:{values['DECISION_PORT']}"
    answer = http("POST", f"{decision}/recommend", {"user_id": "smoke", "k": 2})
    if answer.get("fallback"):
        raise RuntimeError(f"the decision API answered with a fallback: {answer}")
    log(f"decision API ranked {answer.get('arms') or answer}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the whole lifecycle")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (debugging)")
    args = parser.parse_args(argv)
    client = docker_client()
    project = f"banditops-smoke-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory() as tmp:
        env_path, values = env_file(Path(tmp))
        stack = Stack(env_path, project)
        deadline = time.monotonic() + args.timeout
        try:
            stack.run("build")
            stack.run("up", "-d", "--wait", "--wait-timeout", str(int(args.timeout / 2)))
            check_health(client, project)
            lifecycle(client, project, values, deadline)
        except (subprocess.CalledProcessError, RuntimeError, TimeoutError, OSError, KeyError) as exc:
            log(f"FAILED: {exc}")
            stack.run("ps", "-a", check=False)
            stack.run("logs", "--tail", "40", check=False)
            return 1
        finally:
            if not args.keep:
                stack.run("down", "-v", "--remove-orphans", check=False)
    log("PASSED: built, healthy, converged, drift detected, relearned, served decisions; torn down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
