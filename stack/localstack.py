"""The whole loop on one machine: start, check and stop the local stack.

``make up`` starts, bound to 127.0.0.1 only: a Redis-compatible server (AOF on, so a restart
keeps the posterior), the environment service, an MLflow tracking server (SQLite + local
artifacts), Airflow 3 standalone (LocalExecutor, SQLite, a generated JWT secret and admin
password, DAGs unpaused, Connections from the environment), the Dash dashboard and the decision
API. Every process gets its own session, so ``make down`` stops exactly the process groups it
started (recorded in ``var/stack.json``) and nothing else.

Why a Python module and not a shell script: the same code starts the stack for ``make up``,
``make demo`` and the end-to-end test (which runs it on free ports in a temporary folder).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from banditops.store.acl import USERS, acl_file
from stack.private_file import write_private
from stack.redis_server import (
    APPENDFSYNC,
    DataDirError,
    acl_config,
    free_port,
    log_size,
    replay_refused_since,
    server_for,
    unreadable_hint,
)

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_PORTS: dict[str, int] = {
    "redis": 6379,
    "environment": 8000,
    "mlflow": 5000,
    "airflow": 8080,
    "dashboard": 8050,
    "decision": 8001,
}
#: The order in which components start (later ones need the earlier ones).
ORDER = ("redis", "environment", "mlflow", "decision", "dashboard", "airflow")
AIRFLOW_USER = "admin"
DASHBOARD_USER = "admin"


class StackError(RuntimeError):
    """The stack cannot start or answer; the message says what to do."""


@dataclass
class StackConfig:
    """Where the stack keeps its files and which ports it uses (``BANDITOPS_<NAME>_PORT``)."""

    root: Path = field(default_factory=lambda: REPO / "var")
    ports: dict[str, int] = field(default_factory=dict)
    components: tuple[str, ...] = ORDER
    #: Seconds between two runs of ``bandit_learning`` (the agents' heartbeat).
    learning_interval_s: int = 5
    #: Seconds each agent task plays rounds, and the least seconds between two of its rounds.
    agent_task_s: float = 15.0
    agent_round_interval_s: float = 0.5
    #: Seconds between the drift trigger's polls of the store.
    drift_poll_s: float = 0.5

    def __post_init__(self) -> None:
        merged = dict(DEFAULT_PORTS)
        for name in DEFAULT_PORTS:
            env = os.environ.get(f"BANDITOPS_{name.upper()}_PORT")
            if env:
                merged[name] = int(env)
        merged.update(self.ports)
        self.ports = merged
        self.root = Path(self.root)

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def url(self, name: str) -> str:
        scheme = "redis" if name == "redis" else "http"
        suffix = "/0" if name == "redis" else ""
        return f"{scheme}://{HOST}:{self.ports[name]}{suffix}"


# -- the components ----------------------------------------------------------------------------


@dataclass
class Component:
    name: str
    argv: list[str]
    health: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def _redis_ok(url: str) -> Callable[[], bool]:
    """PING with the stack's password (the server refuses every other command before AUTH)."""

    def check() -> bool:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    return check


#: Every generated secret of a stack folder and how it is made.
_SECRET_MAKERS: dict[str, Callable[[], str]] = {
    "jwt_secret": lambda: secrets.token_hex(32),  # 64 characters
    "airflow_password": lambda: secrets.token_urlsafe(12),
    "env_admin_token": lambda: secrets.token_hex(16),
    "decision_admin_token": lambda: secrets.token_hex(16),
    "dashboard_password": lambda: secrets.token_urlsafe(12),
    "redis_password": lambda: secrets.token_hex(16),  # hex: safe inside a redis:// URL; user "admin"
    # One Redis ACL user per service (banditops/store/acl.py), as deployed.
    "redis_airflow_password": lambda: secrets.token_hex(16),
    "redis_decision_password": lambda: secrets.token_hex(16),
    "redis_dashboard_password": lambda: secrets.token_hex(16),
    "redis_environment_password": lambda: secrets.token_hex(16),
}


def _secrets(cfg: StackConfig) -> dict[str, str]:
    """Generated once per stack folder (mode 600), never committed: tokens and passwords.

    A folder from an older checkout keeps its secrets and gains the ones it lacks.
    """
    path = cfg.root / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = {name: make() for name, make in _SECRET_MAKERS.items() if name not in stored}
    if missing or not path.exists():
        stored.update(missing)
        write_private(path, json.dumps(stored))
    return stored


def redis_url(cfg: StackConfig, user: str = "admin") -> str:
    """The stack's Redis URL as one ACL user: ``admin`` (tools, you), ``airflow``, ``decision``, ``dashboard``,
    ``environment``."""
    sec = _secrets(cfg)
    password = sec["redis_password"] if user == "admin" else sec[f"redis_{user}_password"]
    return f"redis://{user}:{password}@{HOST}:{cfg.ports['redis']}/0"


def namespace() -> str:
    """The key namespace the stack's processes use (they inherit ``BANDITOPS_NAMESPACE``; default bo)."""
    return os.environ.get("BANDITOPS_NAMESPACE") or "bo"


def redis_acl(cfg: StackConfig) -> Path:
    """The stack's Redis users in a 0600 ACL file (hashes only), rewritten at every start."""
    sec = _secrets(cfg)
    passwords = {"admin": sec["redis_password"],
                 **{u: sec[f"redis_{u}_password"] for u in USERS if u != "admin"}}
    return acl_config(cfg.root / "redis-users.acl", acl_file(namespace(), passwords))


def logins(cfg: StackConfig) -> dict[str, str]:
    """What ``make up`` prints: the logins and tokens of the stack (also in ``var/secrets.json``)."""
    sec = _secrets(cfg)
    return {
        "Airflow login": f"{AIRFLOW_USER} / {sec['airflow_password']}",
        "Dashboard login": f"{DASHBOARD_USER} / {sec['dashboard_password']}",
        "Environment admin": f"Authorization: Bearer {sec['env_admin_token']}",
        "Decision admin": f"Authorization: Bearer {sec['decision_admin_token']}",
        "Redis URL": redis_url(cfg),
    }


def common_env(cfg: StackConfig) -> dict[str, str]:
    """The BANDITOPS_* settings every component of this stack shares."""
    sec = _secrets(cfg)
    # No Redis URL here: each component that connects gets its own user's (components()).
    return {
        "BANDITOPS_ENV_URL": cfg.url("environment"),
        "BANDITOPS_ENV_ADMIN_TOKEN": sec["env_admin_token"],
        "BANDITOPS_MLFLOW_TRACKING_URI": cfg.url("mlflow"),
        "BANDITOPS_MLFLOW_UI_URL": cfg.url("mlflow"),
        "BANDITOPS_AIRFLOW_URL": cfg.url("airflow"),
        "BANDITOPS_AIRFLOW_USERNAME": AIRFLOW_USER,
        "BANDITOPS_AIRFLOW_PASSWORD": sec["airflow_password"],
        "BANDITOPS_DASHBOARD_URL": cfg.url("dashboard"),
        "BANDITOPS_DECISION_URL": cfg.url("decision"),
        "MLFLOW_TRACKING_URI": cfg.url("mlflow"),
        "PYTHONPATH": str(REPO),
        # Airflow standalone starts its parts as `airflow ...`: the venv's bin must come first.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def airflow_env(cfg: StackConfig) -> dict[str, str]:
    """Airflow 3 standalone tuned for 2 cores and second-scale hops (see the README)."""
    sec = _secrets(cfg)
    home = cfg.root / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    write_private(passwords, json.dumps({AIRFLOW_USER: sec["airflow_password"]}))
    env_url = cfg.url("environment")
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # 4 agents and the learning run's bookkeeping branch beside them, plus the drift monitor's
        # and a relearning run's tasks: 8 slots, so none of them waits for a free one.
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.url('airflow')}/execution/",
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(cfg.ports["airflow"]),
        "AIRFLOW__API__BASE_URL": cfg.url("airflow"),
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The task and trigger log servers default to 8793/8794: free ports, so two stacks (or
        # anything else on the machine) never clash.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(cfg.ports.setdefault("airflow_task_logs", free_port())),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(cfg.ports.setdefault("airflow_trigger_logs", free_port())),
        "AIRFLOW_CONN_REDIS_DEFAULT": json.dumps(
            {"conn_type": "redis", "host": HOST, "port": cfg.ports["redis"], "login": "airflow",
             "password": sec["redis_airflow_password"], "extra": {"db": 0}}
        ),
        "BANDITOPS_REDIS_URL": redis_url(cfg, "airflow"),
        "AIRFLOW_CONN_BANDIT_ENV_DEFAULT": json.dumps(
            {"conn_type": "http", "host": env_url, "password": sec["env_admin_token"]}
        ),
        "BANDITOPS_LEARNING_INTERVAL_S": str(cfg.learning_interval_s),
        # The agents play for time while the run's MLflow and convergence tasks run beside them (each
        # such task costs seconds: a fresh process imports MLflow), so a drift meets a playing agent
        # instead of the gap between two learning runs; two rounds per second per agent at most.
        "BANDITOPS_AGENT_TASK_S": str(cfg.agent_task_s),
        "BANDITOPS_AGENT_ROUND_INTERVAL_S": str(cfg.agent_round_interval_s),
        "BANDITOPS_DRIFT_POLL_S": str(cfg.drift_poll_s),
    }


def components(cfg: StackConfig) -> dict[str, Component]:
    py = sys.executable
    p = cfg.ports
    sec = _secrets(cfg)
    mlflow_dir = cfg.root / "mlflow"
    return {
        "redis": Component(
            "redis",
            [
                # Resolved by `up` (server_for): the server recorded for var/redis, or a new choice.
                # The users (one per service, default user off) are in a 0600 ACL file of password
                # hashes, not on the command line (`ps` shows that).
                "redis-server", "--aclfile", str(redis_acl(cfg)),
                "--bind", HOST, "--port", str(p["redis"]),
                "--dir", str(cfg.root / "redis"), "--appendonly", "yes", "--appendfsync", APPENDFSYNC,
                "--save", "", "--protected-mode", "yes",
            ],
            _redis_ok(redis_url(cfg)),
            timeout_s=15,
        ),
        "environment": Component(
            "environment",
            [py, "-m", "uvicorn", "services.environment.app.main:app", "--host", HOST,
             "--port", str(p["environment"]), "--no-access-log"],
            _http_ok(f"{cfg.url('environment')}/healthz"),
            # Its world record (and which experiment runs), as its own user: never the admin URL a
            # shell that sourced var/stack.env would otherwise pass down.
            env={"BANDITOPS_REDIS_URL": redis_url(cfg, "environment")},
        ),
        "mlflow": Component(
            "mlflow",
            [py, "-m", "mlflow", "server", "--host", HOST, "--port", str(p["mlflow"]), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{mlflow_dir / 'mlflow.db'}",
             "--artifacts-destination", str(mlflow_dir / "artifacts")],
            _http_ok(f"{cfg.url('mlflow')}/health"),
            # MLflow 3's job executor (GenAI jobs, its own worker processes) is not used here:
            # off, it saves about a gigabyte and several seconds of start-up.
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            timeout_s=120,
        ),
        "decision": Component(
            "decision",
            [py, "-m", "uvicorn", "services.decision.app.main:app", "--host", HOST,
             "--port", str(p["decision"]), "--no-access-log"],
            _http_ok(f"{cfg.url('decision')}/healthz"),
            env={"BANDITOPS_DECISION_ADMIN_TOKEN": sec["decision_admin_token"],
                 "BANDITOPS_REDIS_URL": redis_url(cfg, "decision")},
        ),
        "dashboard": Component(
            "dashboard",
            [py, "-m", "services.dashboard.app.main", "--host", HOST, "--port", str(p["dashboard"])],
            _http_ok(f"{cfg.url('dashboard')}/healthz"),
            env={"BANDITOPS_DASHBOARD_USERNAME": DASHBOARD_USER,
                 "BANDITOPS_DASHBOARD_PASSWORD": sec["dashboard_password"],
                 "BANDITOPS_REDIS_URL": redis_url(cfg, "dashboard")},
        ),
        "airflow": Component(
            "airflow",
            [py, "-m", "airflow", "standalone"],
            _http_ok(f"{cfg.url('airflow')}/api/v2/monitor/health"),
            env=airflow_env(cfg),
            # A bound, not a wait: a first start (database, then API server, scheduler, triggerer,
            # DAG processor) took 217 s to answer on 2 cores at load average 12, so 240 s failed.
            timeout_s=480,
        ),
    }


def available(name: str) -> bool:
    """A component whose code is in this checkout (the decision API may not be, in old trees)."""
    module = {
        "environment": "services/environment/app/main.py",
        "decision": "services/decision/app/main.py",
        "dashboard": "services/dashboard/app/main.py",
        "airflow": "dags",
    }.get(name)
    return module is None or (REPO / module).exists()


# -- state file --------------------------------------------------------------------------------


def load_state(cfg: StackConfig) -> dict[str, Any]:
    if cfg.state_file.exists():
        state: dict[str, Any] = json.loads(cfg.state_file.read_text())
        return state
    return {"processes": {}}


def save_state(cfg: StackConfig, state: dict[str, Any]) -> None:
    # It holds the Airflow admin login: private to the user, like secrets.json.
    write_private(cfg.state_file, json.dumps(state, indent=2))


def exposed_secrets(cfg: StackConfig) -> list[str]:
    """Files under the stack folder that hold a generated secret but are readable by others.

    Every file the stack writes with a secret in it (secrets, the Airflow passwords file, the state
    with the admin login) must be 0600; this is the check, over whatever is on disk.
    """
    path = cfg.root / "secrets.json"
    if not path.exists():
        return []
    values = [v.encode() for v in json.loads(path.read_text()).values()]
    exposed = []
    for file in sorted(cfg.root.rglob("*")):
        if not file.is_file() or file.is_symlink() or not file.stat().st_mode & 0o077:
            continue
        with contextlib.suppress(OSError), file.open("rb") as handle:
            content = handle.read(8 << 20)
            if any(v in content for v in values):
                exposed.append(f"{file} (mode {file.stat().st_mode & 0o777:o})")
    return exposed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0): reap it if it is ours.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def with_recorded_ports(cfg: StackConfig) -> StackConfig:
    """The ports a running stack was started with win over the defaults (``make down`` after
    ``BANDITOPS_AIRFLOW_PORT=9080 make up`` must find the same URLs); explicit env wins over both."""
    recorded = load_state(cfg).get("ports") or {}
    explicit = {n for n in DEFAULT_PORTS if os.environ.get(f"BANDITOPS_{n.upper()}_PORT")}
    cfg.ports.update({n: int(p) for n, p in recorded.items() if n not in explicit})
    return cfg


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


# -- up / down / status ------------------------------------------------------------------------


def _start(cfg: StackConfig, comp: Component, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    (cfg.root / "redis").mkdir(parents=True, exist_ok=True)
    (cfg.root / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
    log = open(cfg.log_dir / f"{comp.name}.log", "ab")  # noqa: SIM115 - handed to the child process
    env = {**os.environ, **extra_env, **comp.env}
    return subprocess.Popen(
        comp.argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: `down` stops it and all its children
    )


def _wait_healthy(cfg: StackConfig, comp: Component, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + comp.timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if comp.name == "redis":
                hint = unreadable_hint(cfg.root / "redis", comp.argv[0], tail(cfg, comp.name, lines=200))
                if hint:
                    raise StackError(hint)
            raise StackError(
                f"{comp.name} exited with code {proc.returncode} while starting; "
                f"see {cfg.log_dir / (comp.name + '.log')}:\n{tail(cfg, comp.name)}"
            )
        if comp.health():
            return
        time.sleep(0.25)
    raise StackError(
        f"{comp.name} did not become healthy within {comp.timeout_s:.0f}s; "
        f"see {cfg.log_dir / (comp.name + '.log')}:\n{tail(cfg, comp.name)}"
    )


def _check_replay(cfg: StackConfig, since: int) -> None:
    """``StackError`` when Redis, started at ``since`` in its log, refused part of its AOF (it then
    serves an incomplete experiment, which agents and the demo would build on)."""
    hint = replay_refused_since(cfg.root / "redis", cfg.log_dir / "redis.log", since)
    if hint:
        raise StackError(hint)


def tail(cfg: StackConfig, name: str, lines: int = 25) -> str:
    path = cfg.log_dir / f"{name}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def status(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """Per component: recorded pid, alive, healthy, URL."""
    state = load_state(cfg)
    comps = components(cfg)
    report: dict[str, dict[str, Any]] = {}
    for name in cfg.components:
        proc = state["processes"].get(name)
        alive = bool(proc) and _alive(int(proc["pid"]))
        report[name] = {
            "pid": proc["pid"] if proc else None,
            "alive": alive,
            "healthy": comps[name].health() if name in comps else False,
            "url": cfg.url(name),
        }
    return report


def up(cfg: StackConfig, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start whatever of the stack is not running; refuse cleanly when a port is taken."""
    cfg.root.mkdir(parents=True, exist_ok=True)
    state = load_state(cfg)
    comps = components(cfg)
    wanted = [n for n in cfg.components if available(n)]
    running = {n for n in wanted if n in state["processes"] and _alive(int(state["processes"][n]["pid"]))}
    # Check every port before starting anything: a half-started stack is worse than none.
    clashes = [n for n in wanted if n not in running and port_taken(cfg.ports[n])]
    if clashes:
        detail = ", ".join(f"{n} on {HOST}:{cfg.ports[n]}" for n in clashes)
        raise StackError(
            f"port already in use: {detail}. Stop what holds it, or choose another port, e.g. "
            + " ".join(f"BANDITOPS_{n.upper()}_PORT={cfg.ports[n] + 100}" for n in clashes)
            + " make up"
        )
    if "redis" in wanted and "redis" not in running:
        try:
            comps["redis"].argv[0] = server_for(cfg.root / "redis")
        except DataDirError as exc:
            raise StackError(str(exc)) from exc
    extra = common_env(cfg)
    for name in wanted:
        if name in running:
            log(f"  {name:<12} already running (pid {state['processes'][name]['pid']})")
            continue
        t0 = time.monotonic()
        since = log_size(cfg.log_dir / f"{name}.log")
        proc = _start(cfg, comps[name], extra)
        state["processes"][name] = {"pid": proc.pid, "argv": comps[name].argv, "started": time.time()}
        save_state(cfg, state)
        try:
            _wait_healthy(cfg, comps[name], proc)
            if name == "redis":
                _check_replay(cfg, since)
        except StackError:
            down(cfg, log=lambda _m: None)
            raise
        log(f"  {name:<12} healthy in {time.monotonic() - t0:5.1f}s  {cfg.url(name)}")
    state["urls"] = {n: cfg.url(n) for n in wanted}
    state["ports"] = cfg.ports
    state["airflow_login"] = {"username": AIRFLOW_USER, "password": _secrets(cfg)["airflow_password"]}
    save_state(cfg, state)
    write_private(cfg.root / "stack.env", "".join(f"{k}={v}\n" for k, v in tool_env(cfg).items()))
    return state


def tool_env(cfg: StackConfig) -> dict[str, str]:
    """What a tool needs to reach this stack (``set -a; . var/stack.env; set +a``, then ``banditops status``)."""
    sec = _secrets(cfg)
    return {
        "BANDITOPS_REDIS_URL": redis_url(cfg),
        "BANDITOPS_ENV_URL": cfg.url("environment"),
        "BANDITOPS_ENV_ADMIN_TOKEN": sec["env_admin_token"],
        "BANDITOPS_DECISION_URL": cfg.url("decision"),
        "BANDITOPS_DECISION_ADMIN_TOKEN": sec["decision_admin_token"],
    }


def _stop_group(pid: int, timeout_s: float = 20.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid) and not _group_alive(pgid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    stat = (entry / "stat").read_text()
                    if ") Z" not in stat:
                        return True
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue
    return False


def stop(cfg: StackConfig, name: str, *, crash: bool = False) -> None:
    """Stop one component (fault tests stop the environment or MLflow and start them again).

    ``crash`` kills its process group with SIGKILL: no clean shutdown, no flush (a crash test).
    """
    state = load_state(cfg)
    proc = state["processes"].pop(name, None)
    if proc and crash:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(int(proc["pid"])), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while _alive(int(proc["pid"])) and time.monotonic() < deadline:
            time.sleep(0.1)
    elif proc:
        _stop_group(int(proc["pid"]))
    save_state(cfg, state)


def down(cfg: StackConfig, *, log: Callable[[str], None] = print) -> None:
    """Stop exactly the process groups this stack started, newest first."""
    state = load_state(cfg)
    for name in reversed(list(state["processes"])):
        proc = state["processes"][name]
        _stop_group(int(proc["pid"]))
        log(f"  {name:<12} stopped (pid {proc['pid']})")
    state["processes"] = {}
    save_state(cfg, state)


@contextlib.contextmanager
def running(cfg: StackConfig, *, log: Callable[[str], None] = print) -> Iterator[dict[str, Any]]:
    """The stack up for the duration of a block (the end-to-end test), always torn down."""
    try:
        yield up(cfg, log=log)
    finally:
        down(cfg, log=log)


def print_urls(cfg: StackConfig, state: dict[str, Any]) -> None:
    login = state.get("airflow_login", {})
    print("\nBanditOps is up (127.0.0.1 only):")
    labels = {
        "dashboard": "Dashboard (Dash)", "airflow": "Airflow UI", "mlflow": "MLflow UI",
        "environment": "Environment API docs", "decision": "Decision API docs", "redis": "Redis",
    }
    for name, url in state.get("urls", {}).items():
        suffix = "/docs" if name in ("environment", "decision") else ""
        print(f"  {labels.get(name, name):<22} {url}{suffix}")
    if login:
        for label, value in logins(cfg).items():
            print(f"  {label:<22} {value}")
        print(f"  Secrets (0600)         {cfg.root / 'secrets.json'}, {cfg.root / 'stack.env'}")
    print(f"  Logs                   {cfg.log_dir}/")
    print("  Stop it with           make down")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="banditops-stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--root", type=Path, default=None, help="stack folder (default: var/)")
    args = parser.parse_args(argv)
    cfg = StackConfig(root=args.root) if args.root else StackConfig()
    cfg = with_recorded_ports(cfg)
    try:
        if args.command == "up":
            print("Starting the BanditOps stack ...")
            print_urls(cfg, up(cfg))
        elif args.command == "down":
            down(cfg)
        else:
            for name, row in status(cfg).items():
                print(f"  {name:<12} pid={row['pid']!s:<8} alive={row['alive']!s:<5} "
                      f"healthy={row['healthy']!s:<5} {row['url']}")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["StackConfig", "StackError", "down", "main", "redis_url", "running", "status", "stop", "up",
           "write_private"]
