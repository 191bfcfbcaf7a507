"""A thin adapter over the official Airflow REST API v2 client (``apache-airflow-client``).

The demo, the end-to-end test and the dashboard start DAG runs and watch them through the same
public API a person's script would use; nothing here imports Airflow itself. The calls and their
models are the official client's (``airflow_client.client``); this module adds only what that
client leaves to its user:

- **The JWT login.** The token comes from the auth manager's ``POST /auth/token`` (user and
  password: the simple and FAB auth managers) or, with no user configured, ``GET /auth/token``
  (simple auth manager in all-admins mode). That endpoint is not part of the ``/api/v2`` spec
  the client is generated from. The token is cached, shared by threads (the dashboard serves
  several at once) and renewed once when the API answers 401.
- **Retry on 500/503.** On SQLite (the local stack) a busy moment of the scheduler and
  dag-processor surfaces as "Database error" (HTTP 500) and the transaction is rolled back, so
  asking again is safe and usually answered at once: urllib3's ``Retry`` does it, POST included.
- **A trigger that timed out is asked again**, with the run id it chose, so it starts one run.
- **Errors a person can act on.** Every failure is an :class:`AirflowError` with Airflow's own
  words and what to do; results are plain JSON dicts (``dag_run_id``, ``state``, ...).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from airflow_client.client import ApiClient, ApiException, Configuration, TriggerDAGRunPostBody
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.monitor_api import MonitorApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.exceptions import ConflictException, NotFoundException, UnauthorizedException
from urllib3 import exceptions as urllib3_errors
from urllib3.util.retry import Retry

T = TypeVar("T")


class AirflowError(RuntimeError):
    """Airflow refused or could not be reached; the message says what to do."""


class AirflowClient:
    """Token-authenticated calls to ``/api/v2`` through the official client."""

    #: Attempts for an answer of 500/503 (see the module docstring for why retrying is safe).
    server_error_attempts = 4
    #: Tries of a trigger that timed out or found no server (its run id makes a retry safe).
    timeout_attempts = 3

    def __init__(
        self, base_url: str, username: str | None, password: str | None, *, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        config = Configuration(
            host=self.base_url,
            retries=Retry(
                total=self.server_error_attempts - 1, connect=0, read=0, status_forcelist=(500, 503),
                allowed_methods=None, backoff_factor=0.5, raise_on_status=False,
            ),
        )
        self._api = ApiClient(config)
        self._runs = DagRunApi(self._api)
        self._tasks = TaskInstanceApi(self._api)
        self._monitor = MonitorApi(self._api)

    def close(self) -> None:
        self._api.rest_client.pool_manager.clear()  # the generated ApiClient has no close of its own

    # -- authentication ------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        url = f"{self.base_url}/auth/token"
        try:
            if self.username:
                response = httpx.post(
                    url, json={"username": self.username, "password": self.password or ""}, timeout=self.timeout
                )
            else:
                response = httpx.get(url, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise AirflowError(f"Airflow unreachable at {self.base_url}: {exc}") from exc
        if response.status_code in (401, 403):
            raise AirflowError(
                "Airflow refused the credentials: set BANDITOPS_AIRFLOW_USERNAME and BANDITOPS_AIRFLOW_PASSWORD"
                f" (HTTP {response.status_code})"
            )
        if response.status_code >= 400:
            raise AirflowError(f"Airflow token request failed: HTTP {response.status_code} {response.text[:200]}")
        token = response.json().get("access_token")
        if not token:
            raise AirflowError("Airflow's /auth/token answered without an access_token")
        return str(token)

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._fetch_token()
                self._api.configuration.access_token = self._token
            return self._token

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one API call with a valid token, renewing it once on a 401."""
        for renewed in (False, True):
            self.token()
            try:
                return call()
            except AirflowError:
                raise
            except UnauthorizedException:
                if renewed:
                    raise AirflowError(f"{what}: Airflow refused the token twice (HTTP 401)") from None
                with self._lock:
                    self._token = None
            except ApiException as exc:
                raise AirflowError(f"{what}: HTTP {exc.status} {_detail(exc)}") from exc
            except Exception as exc:  # urllib3's connection and retry errors: the server is not there
                raise AirflowError(f"Airflow unreachable at {self.base_url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the calls -----------------------------------------------------------------------------
    def health(self) -> bool:
        try:
            self._monitor.get_health(_request_timeout=self.timeout)
        except Exception:  # any failure means "not healthy"
            return False
        return True

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a manual run now with ``conf``; returns the created run (``dag_run_id``, ``state``).

        The run id is chosen here (``manual__<now>``, Airflow's own form), so a request that timed
        out is asked again safely: a cold API server on a loaded machine can take longer than the
        timeout to answer its first trigger, yet create the run. A retry then meets 409 (that id
        exists) and returns the run the first request created: one run, whatever the timing.
        """
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf=conf or {})
        sent = False  # outside call(): a token renewal calls it again, and the first ask may have created the run

        def call() -> dict[str, Any]:
            nonlocal sent
            for attempt in range(self.timeout_attempts):
                try:
                    return _json(self._runs.trigger_dag_run(dag_id, body, _request_timeout=self.timeout))
                except NotFoundException:
                    raise AirflowError(
                        f"DAG {dag_id} is not known to Airflow (is the DAG folder loaded and parsed?)"
                    ) from None
                except ConflictException:
                    if not sent:
                        raise
                    return _json(self._runs.get_dag_run(dag_id, run_id, _request_timeout=self.timeout))
                except (urllib3_errors.MaxRetryError, urllib3_errors.TimeoutError):
                    if attempt == self.timeout_attempts - 1:
                        raise
                finally:
                    sent = True
            raise AssertionError("unreachable")  # pragma: no cover

        return self._call(f"Airflow refused to trigger {dag_id}", call)

    def runs(self, dag_id: str = "~", *, limit: int = 50, state: str | None = None) -> list[dict[str, Any]]:
        """DAG runs, newest first (``~`` = every DAG); an unknown DAG has none."""

        def call() -> list[dict[str, Any]]:
            try:
                page = self._runs.get_dag_runs(
                    dag_id, limit=limit, order_by=["-run_after"], state=[state] if state else None,
                    _request_timeout=self.timeout,
                )
            except NotFoundException:
                return []
            return [_json(run) for run in page.dag_runs]

        return self._call(f"listing runs of {dag_id}", call)

    def recent_runs(self, dag_id: str, limit: int = 5) -> list[dict[str, Any]]:
        return self.runs(dag_id, limit=limit)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        def call() -> list[dict[str, Any]]:
            page = self._tasks.get_task_instances(dag_id, run_id, _request_timeout=self.timeout)
            return [_json(ti) for ti in page.task_instances]

        return self._call(f"task instances of {dag_id}/{run_id}", call)

    @staticmethod
    def run_url(public_base: str, dag_id: str, run_id: str) -> str:
        """The Airflow UI page of one run."""
        return f"{public_base.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


class _Model(Protocol):
    """What the generated models share (pydantic v2): a JSON-ready dump by alias."""

    def model_dump(self, *, mode: str, by_alias: bool) -> dict[str, Any]: ...  # pragma: no cover


def _json(model: _Model) -> dict[str, Any]:
    """A generated model as the API's own JSON (ISO dates as strings, field names as in the spec)."""
    return dict(model.model_dump(mode="json", by_alias=True))


def _detail(exc: ApiException) -> str:
    """Airflow's ``detail`` message of an error answer, else its body, shortened."""
    body = exc.body or exc.reason or ""
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and "detail" in parsed:
            return str(parsed["detail"])[:300]
    except (TypeError, ValueError):
        pass
    return str(body)[:300]
