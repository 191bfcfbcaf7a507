"""Where the dashboard's data comes from: Redis (the store), the environment, Airflow, MLflow.

Each source is read on its own, with a short timeout, in parallel; a failure of one becomes a
:class:`Notice` ("Environment unreachable (http://...): connection refused") and the page is
drawn with whatever the others returned. Nothing here raises into a Dash callback.

Airflow and MLflow are slow-changing and slower to ask, so they are cached for
``dashboard_slow_refresh_s``; the store and the environment are read on every refresh.
History over time comes from the store's summary stream (see :mod:`.history`), so a restarted
dashboard still draws the whole experiment.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np

from banditops.clients.airflow_client import AirflowClient, AirflowError
from banditops.store.connection import Redis, RedisConnectionError, RedisTimeoutError
from banditops.store.redis_store import BanditStore
from banditops.store.types import Event, StoreState

from .config import Settings
from .history import History, HistoryTracker, PosteriorFactory

T = TypeVar("T")

if TYPE_CHECKING:
    from banditops.bandit.posteriors.base import Posterior
    from banditops.clients.env_client import EnvClient

log = logging.getLogger(__name__)

#: The DAGs whose recent runs the page lists (and links to).
WATCHED_DAGS: tuple[str, ...] = ("bandit_experiment", "bandit_learning", "bandit_drift_monitor", "bandit_relearning")
_EVENT_CACHE = 2000


@dataclass(frozen=True)
class Notice:
    """A line of the banner: which source, how bad, what to do."""

    source: str
    text: str
    level: Literal["error", "warning", "info"] = "error"


@dataclass(frozen=True)
class RunLink:
    label: str
    url: str
    status: str = ""


@dataclass
class DashboardData:
    """Everything one refresh of the page draws; any part may be missing."""

    fetched_at: float
    state: StoreState | None = None
    posterior: Posterior | None = None
    events: list[Event] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    history: History = field(default_factory=History)
    truth: dict[str, Any] | None = None
    env_events: list[dict[str, Any]] = field(default_factory=list)
    airflow_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mlflow_links: list[RunLink] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def unreachable(self) -> list[str]:
        return [n.source for n in self.notices if n.level == "error"]


def redact_url(url: str) -> str:
    """The URL without its password, for messages shown on the page.

    >>> redact_url("redis://:s3cret@redis:6379/0")
    'redis://:***@redis:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def short_reason(exc: BaseException) -> str:
    """One human line from an exception (never a traceback); the root cause when it is a network one."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.TransportError | RedisConnectionError | OSError):
            exc = cause
            break
        cause = cause.__cause__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    refused = "refused" in text.lower() or "111" in text
    if refused and isinstance(exc, httpx.ConnectError | RedisConnectionError | ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException | RedisTimeoutError | TimeoutError):
        return "timed out"
    return text[:200]


# -- Airflow REST API v2: banditops.clients.airflow_client (shared with the demo and the e2e test) ----


# -- MLflow -----------------------------------------------------------------------------------
class MlflowReader:
    """Turns the run ids the loop keeps in the store's meta into links to the MLflow UI."""

    def __init__(self, api_url: str | None, ui_url: str, *, timeout: float = 2.0,
                 auth: tuple[str, str] | None = None):  # fmt: skip
        self.api_url = api_url
        self.ui_url = ui_url.rstrip("/")
        # MLflow's basic-auth app (deployed): the same login its Python client sends.
        self._http = httpx.Client(timeout=timeout, auth=auth)
        self._experiment_of: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        self._http.close()

    def links(self, meta: dict[str, str]) -> list[RunLink]:
        """A link per ``*run_id`` meta field (phase run first). Raises when MLflow cannot be asked."""
        run_ids = {k: v for k, v in meta.items() if k.endswith("run_id") and v}
        links: list[RunLink] = []
        error: Exception | None = None
        for key in sorted(run_ids, key=lambda k: (0 if "phase" in k else 1, k)):
            run_id = run_ids[key]
            experiment_id = meta.get("mlflow_experiment_id") or meta.get("experiment_id")
            status = ""
            if run_id not in self._experiment_of and self.api_url and error is None:
                try:
                    response = self._http.get(f"{self.api_url}/api/2.0/mlflow/runs/get", params={"run_id": run_id})
                    response.raise_for_status()
                    info = response.json()["run"]["info"]
                    self._experiment_of[run_id] = (str(info["experiment_id"]), str(info.get("status", "")))
                except Exception as exc:  # reported once below; links still work without the status
                    error = exc
            if run_id in self._experiment_of:
                experiment_id, status = self._experiment_of[run_id]
            label = key.removeprefix("mlflow_").removesuffix("_run_id").removesuffix("run_id").strip("_") or "run"
            url = (
                f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}"
                if experiment_id
                else f"{self.ui_url}/#/experiments"
            )
            links.append(RunLink(f"MLflow {label} run", url, status))
        if error is not None:
            raise MlflowUnreachableError(links, error)
        return links

    def health(self) -> None:
        if not self.api_url:
            return
        self._http.get(f"{self.api_url}/health").raise_for_status()


class MlflowUnreachableError(RuntimeError):
    def __init__(self, links: list[RunLink], cause: Exception) -> None:
        super().__init__(short_reason(cause))
        self.links = links


# -- the collector --------------------------------------------------------------------------
class DataCollector:
    """Reads every source for one refresh of the page; thread-safe, never raises."""

    def __init__(self, settings: Settings, *, store: BanditStore | None = None, env: EnvClient | None = None) -> None:
        self.settings = settings
        timeout = settings.dashboard_source_timeout_s
        if store is None:
            client = Redis.from_url(
                settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
            )
            store = BanditStore(client, settings.namespace)
        self.store = store
        if env is None:
            from banditops.clients.env_client import EnvClient

            env = EnvClient(settings.env_url, settings.env_admin_token, timeout=timeout)
        self.env = env
        self.airflow = AirflowClient(
            settings.airflow_url, settings.airflow_username, settings.airflow_password, timeout=timeout
        )
        login = settings.mlflow_tracking_username, settings.mlflow_tracking_password
        self.mlflow = MlflowReader(settings.mlflow_rest_url, settings.mlflow_link_url, timeout=timeout,
                                   auth=(login[0], login[1]) if login[0] and login[1] else None)
        self.tracker = HistoryTracker(_posterior_factory(), max_points=300)
        self._events: list[Event] = []
        self._event_cursor = "0-0"
        self._events_lock = threading.Lock()
        self._last_env_events: list[dict[str, Any]] = []
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dash-source")
        self._slow: dict[str, tuple[float, Any, list[Notice]]] = {}
        self._slow_lock = threading.Lock()

    # Each reader returns (payload, notices) and never raises.
    def _read_store(self, truth_future: Future[dict[str, Any]]) -> tuple[dict[str, Any], list[Notice]]:
        out: dict[str, Any] = {}
        url = redact_url(self.settings.redis_url)
        try:
            state = self.store.state()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            return out, [Notice("Redis", f"Redis unreachable ({url}): {short_reason(exc)}")]
        except Exception as exc:  # an empty namespace: reachable, but no experiment yet
            return out, [
                Notice(
                    "Redis",
                    f"no experiment in the store yet (namespace '{self.settings.namespace}'): "
                    f"start one with “Start experiment” ({short_reason(exc)})",
                    "info",
                )
            ]
        out["state"] = state
        notices: list[Notice] = []
        try:
            out["events"] = self._read_events()
            out["meta"] = self.store.get_meta()
        except Exception as exc:
            notices.append(Notice("Redis", f"Redis read of events failed: {short_reason(exc)}", "warning"))
        posterior = None
        factory = _posterior_factory()
        if factory is not None:
            try:
                posterior = factory(state.config.reward_kind, state.stats, state.config.prior or None)
            except Exception as exc:
                notices.append(Notice("Posterior", f"cannot build the posterior: {short_reason(exc)}", "warning"))
        out["posterior"] = posterior
        truth = None
        try:
            truth = truth_future.result(timeout=self.settings.dashboard_source_timeout_s * 2)
        except Exception:
            truth = None
        events: list[Event] = out.get("events", [])
        started = [e.id for e in events if e.kind == "experiment_started"]
        try:
            out["history"] = self.tracker.update(
                lambda cursor: self.store.summaries(since=cursor, count=2000),
                identity=(self.settings.namespace, started[-1] if started else None),
                total_pulls=state.total_pulls,
                reward_kind=state.config.reward_kind,
                prior=state.config.prior or None,
                truth_means=(truth or {}).get("means"),
            )
        except Exception as exc:
            notices.append(Notice("Redis", f"Redis read of the summary stream failed: {short_reason(exc)}", "warning"))
        if out.get("meta", {}).get("mlflow_error"):
            notices.append(Notice("MLflow", f"MLflow logging failed: {out['meta']['mlflow_error'][:200]}", "warning"))
        return out, notices

    def _read_events(self) -> list[Event]:
        with self._events_lock:
            while True:
                fresh = self.store.events(since=self._event_cursor, count=500)
                if not fresh:
                    break
                self._events.extend(fresh)
                self._event_cursor = fresh[-1].id
                if len(fresh) < 500:
                    break
            starts = [i for i, e in enumerate(self._events) if e.kind == "experiment_started"]
            if starts:  # a reset wiped the store: the events before it belong to the old experiment
                self._events = self._events[starts[-1] :]
            self._events = self._events[-_EVENT_CACHE:]
            return list(self._events)

    def _read_truth(self) -> dict[str, Any]:
        return dict(self.env.truth())

    def _read_env_events(self) -> list[dict[str, Any]]:
        raw = self.env.events()
        if isinstance(raw, dict):
            raw = raw.get("events", [])
        return [dict(e) if isinstance(e, dict) else _as_dict(e) for e in raw]

    def _slow_read(self, name: str, reader: Callable[[], tuple[T, list[Notice]]]) -> tuple[T, list[Notice]]:
        """Cached read of a slow source; at most one refresh in flight per source."""
        now = time.monotonic()
        with self._slow_lock:
            cached = self._slow.get(name)
            if cached and now - cached[0] < self.settings.dashboard_slow_refresh_s:
                return cached[1], cached[2]
        payload, notices = reader()
        with self._slow_lock:
            self._slow[name] = (time.monotonic(), payload, notices)
        return payload, notices

    def _read_airflow(self) -> tuple[dict[str, list[dict[str, Any]]], list[Notice]]:
        runs: dict[str, list[dict[str, Any]]] = {}
        if not self.settings.airflow_url:  # not configured: nothing to report
            return runs, []
        try:
            for dag_id in WATCHED_DAGS:
                runs[dag_id] = self.airflow.recent_runs(dag_id, limit=3)
        except AirflowError as exc:
            return runs, [Notice("Airflow", f"Airflow: {exc}", "warning")]
        except Exception as exc:
            return runs, [Notice("Airflow", f"Airflow unreachable ({self.settings.airflow_url}): {short_reason(exc)}")]
        return runs, []

    def _read_mlflow(self, meta: dict[str, str]) -> tuple[list[RunLink], list[Notice]]:
        try:
            self.mlflow.health()
            return self.mlflow.links(meta), []
        except MlflowUnreachableError as exc:
            return exc.links, [Notice("MLflow", f"MLflow unreachable ({self.mlflow.api_url}): {exc}")]
        except Exception as exc:
            return [], [Notice("MLflow", f"MLflow unreachable ({self.mlflow.api_url}): {short_reason(exc)}")]

    def collect(self) -> DashboardData:
        data = DashboardData(fetched_at=time.time())
        truth_f = self._pool.submit(self._read_truth)
        env_events_f = self._pool.submit(self._read_env_events)
        airflow_f = self._pool.submit(self._slow_read, "airflow", self._read_airflow)
        store_out, store_notices = self._read_store(truth_f)
        data.state = store_out.get("state")
        data.posterior = store_out.get("posterior")
        data.events = store_out.get("events", [])
        data.meta = store_out.get("meta", {})
        data.history = store_out.get("history", History())
        data.notices.extend(store_notices)
        wait = self.settings.dashboard_source_timeout_s * 2 + 1
        try:
            data.truth = truth_f.result(timeout=wait)
        except Exception as exc:
            data.notices.append(
                Notice("Environment", f"Environment unreachable ({self.settings.env_url}): {short_reason(exc)}")
            )
        try:
            data.env_events = env_events_f.result(timeout=wait)
            self._last_env_events = data.env_events
        except Exception:  # already reported by the truth read when the service is down
            data.env_events = self._last_env_events  # past events stay facts: keep the last log seen
            if data.truth is not None:
                data.notices.append(Notice("Environment", "Environment event log could not be read", "warning"))
        try:
            data.airflow_runs, notices = airflow_f.result(timeout=wait * 3)
            data.notices.extend(notices)
        except Exception as exc:
            data.notices.append(
                Notice("Airflow", f"Airflow unreachable ({self.settings.airflow_url}): {short_reason(exc)}")
            )
        try:
            data.mlflow_links, notices = self._slow_read("mlflow", lambda: self._read_mlflow(data.meta))
            data.notices.extend(notices)
        except Exception as exc:
            data.notices.append(Notice("MLflow", f"MLflow unreachable: {short_reason(exc)}"))
        return data


def _as_dict(obj: object) -> dict[str, Any]:
    for attr in ("model_dump", "_asdict", "to_dict"):
        if hasattr(obj, attr):
            return dict(getattr(obj, attr)())
    return dict(vars(obj))


def _posterior_factory() -> PosteriorFactory | None:
    """``banditops.bandit.posteriors.make_posterior`` when installed (None keeps the page up without it)."""
    try:
        from banditops.bandit.posteriors import make_posterior
    except ImportError:
        return None
    return make_posterior


def lai_robbins_constant(truth: dict[str, Any] | None) -> float | None:
    """C(μ) of the current true instance (via :mod:`banditops.bandit.regret`), or None when unknown."""
    if not truth or not truth.get("means"):
        return None
    try:
        from banditops.bandit.regret import lai_robbins_constant as constant
    except ImportError:
        return None
    arms = truth.get("arms") or []
    kind = str(arms[0].get("kind", "gaussian")) if arms and isinstance(arms[0], dict) else "gaussian"
    sd = float(arms[0].get("sd", 1.0)) if kind == "gaussian" and arms and isinstance(arms[0], dict) else 1.0
    try:
        value = float(constant(np.asarray(truth["means"], dtype=np.float64), kind, sd=sd))
    except Exception:
        return None
    return value if math.isfinite(value) else None
