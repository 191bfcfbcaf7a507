"""Start and stop a real environment service (uvicorn subprocess) on loopback, for tests and the local stack.

The service runs in its own process, exactly as deployed, so whoever starts it here — a test,
the Airflow DAG tests, the dashboard tests, ``make demo`` — talks HTTP to the real thing.
Nothing here imports FastAPI: the subprocess does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from banditops.redis_server import free_port

APP = "services.environment.app.main:app"


def repo_root() -> Path:
    """The checkout holding ``services/environment`` (the service is not part of the wheel)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "services" / "environment" / "app" / "main.py").exists():
        raise RuntimeError(f"services/environment not found under {root}; run from a BanditOps checkout")
    return root


@dataclass
class EnvServer:
    """``python -m uvicorn services.environment.app.main:app`` bound to 127.0.0.1 on a free port.

    ``workers > 1`` starts several processes, hence several independent worlds: only for
    benchmarking the HTTP layer, never for a loop that injects drift.
    """

    scenario: str = "seed"
    seed: int | None = None
    admin_token: str | None = None
    arms_json: str | None = None
    max_batch: int | None = None
    workers: int = 1
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANDITOPS_ENV_")}
        env["BANDITOPS_ENV_SCENARIO"] = self.scenario
        for name, value in (("SEED", self.seed), ("ADMIN_TOKEN", self.admin_token), ("ARMS", self.arms_json),
                            ("MAX_BATCH", self.max_batch)):
            if value is not None:
                env[f"BANDITOPS_ENV_{name}"] = str(value)
        return env

    def start(self, timeout_s: float = 30.0) -> EnvServer:
        root = repo_root()
        args = [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(self.port),
                "--app-dir", str(root), "--no-access-log", "--log-level", "warning"]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=root, env=self.environ(), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"environment service exited with {self.process.returncode}; "
                                   f"see {self.log_path or 'its stderr (pass log_path)'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"environment service did not answer /healthz on {self.url} within {timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> EnvServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
