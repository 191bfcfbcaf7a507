"""Start and stop a real decision service (uvicorn subprocess) on loopback, for tests and benchmarks.

The service runs in its own process, exactly as deployed (uvloop + httptools, no access log),
so chaos tests can stop its Redis under it and benchmarks can load it from another process.
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

APP = "services.decision.app.main:app"


def repo_root() -> Path:
    """The checkout holding ``services/decision`` (the service is not part of the wheel)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "services" / "decision" / "app" / "main.py").exists():
        raise RuntimeError(f"services/decision not found under {root}; run from a BanditOps checkout")
    return root


@dataclass
class DecisionServer:
    """``python -m uvicorn services.decision.app.main:app`` bound to 127.0.0.1 on a free port.

    ``settings`` are ``BANDITOPS_DECISION_*`` variables without the prefix, e.g.
    ``{"static_ranking": "2,0,1", "max_staleness_s": 1.5}``.
    """

    redis_url: str
    namespace: str = "bo"
    settings: dict[str, object] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANDITOPS_DECISION_")}
        env["BANDITOPS_DECISION_REDIS_URL"] = self.redis_url
        env["BANDITOPS_DECISION_NAMESPACE"] = self.namespace
        for name, value in self.settings.items():
            env[f"BANDITOPS_DECISION_{name.upper()}"] = str(value)
        return env

    def start(self, timeout_s: float = 30.0) -> DecisionServer:
        root = repo_root()
        args = [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(self.port),
                "--app-dir", str(root), "--no-access-log", "--log-level", "warning"]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=root, env=self.environ(), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"decision service exited with {self.process.returncode}; "
                                   f"see {self.log_path or 'its stderr (pass log_path)'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"decision service did not answer /healthz on {self.url} within {timeout_s} s")

    def wait_live(self, timeout_s: float = 10.0) -> dict[str, object]:
        """Block until answers come from the posterior (not fallbacks); returns the health body."""
        deadline = time.monotonic() + timeout_s
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/healthz", timeout=1.0).json()
            if body.get("posterior") == "live":
                return body
            time.sleep(0.05)
        raise RuntimeError(f"decision service did not go live within {timeout_s} s: {body}")

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

    def __enter__(self) -> DecisionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
