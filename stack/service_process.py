"""A BanditOps web service as a real uvicorn subprocess on loopback, for tests and benchmarks.

The service runs in its own process exactly as deployed (uvloop + httptools, no access log), so
whoever starts it — a test, a chaos test that stops Redis under it, a benchmark loading it from
another process — talks HTTP to the real thing. Nothing here imports FastAPI: the subprocess does.
Subclasses name the app and turn their fields into the service's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

import httpx

from stack.redis_server import free_port


@dataclass(kw_only=True)
class ServiceProcess:
    """``python -m uvicorn <app>`` bound to 127.0.0.1 on a free port; a context manager."""

    #: ``services/<name>``: the app is ``services.<name>.app.main:app``.
    service: ClassVar[str]
    #: Prefix of the service's own settings; inherited variables with it are dropped.
    env_prefix: ClassVar[str]

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def repo_root(cls) -> Path:
        """The checkout holding ``services/<name>`` (the services are not part of the wheel)."""
        root = Path(__file__).resolve().parents[1]
        if not (root / "services" / cls.service / "app" / "main.py").exists():
            raise RuntimeError(f"services/{cls.service} not found under {root}; run from a BanditOps checkout")
        return root

    def settings_env(self) -> dict[str, str]:
        """The service's settings as ``<env_prefix><NAME>`` variables."""
        return {}

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(self.env_prefix)}
        env.update(self.settings_env())
        return env

    def start(self, timeout_s: float = 90.0) -> Self:  # a loaded 2-core CI machine imports slowly
        root = self.repo_root()
        app = f"services.{self.service}.app.main:app"
        args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
                "--app-dir", str(root), "--no-access-log", "--log-level", "warning"]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=root, env=self.environ(), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service} service exited with {self.process.returncode}; "
                                   f"see {self.log_path or 'its stderr (pass log_path)'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.service} service did not answer /healthz on {self.url} within {timeout_s} s")

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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
