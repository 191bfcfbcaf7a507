"""A small client of Airflow 3's REST API v2, authenticated with a JWT.

The demo, the end-to-end test and the dashboard start DAG runs and watch them through the same
public API a person's script would use; nothing here imports Airflow.

The token comes from ``POST /auth/token`` (user + password: Airflow 3's simple and FAB auth
managers) or, with no user configured, ``GET /auth/token`` (simple auth manager in all-admins
mode). It is cached, shared by threads (the dashboard serves several at once) and renewed once
on a 401.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote

import httpx


class AirflowError(RuntimeError):
    """Airflow refused or could not be reached; the message says what to do."""


class AirflowClient:
    """Token-authenticated calls to ``/api/v2``."""

    def __init__(
        self, base_url: str, username: str | None, password: str | None, *, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # -- authentication ------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        try:
            if self.username:
                response = self._http.post(
                    "/auth/token", json={"username": self.username, "password": self.password or ""}
                )
            else:
                response = self._http.get("/auth/token")
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
            return self._token

    #: Attempts for an answer of 500/503. On SQLite (the local stack) a busy moment of the
    #: scheduler and dag-processor surfaces as "Database error" (HTTP 500) and the transaction is
    #: rolled back, so asking again is safe and usually answered at once.
    server_error_attempts = 4

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call under ``/api/v2``, renewing the token once on a 401; the raw response."""
        response: httpx.Response | None = None
        renewed = False
        for attempt in range(self.server_error_attempts):
            headers = {"Authorization": f"Bearer {self.token()}"}
            try:
                response = self._http.request(method, f"/api/v2{path}", headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise AirflowError(f"Airflow unreachable at {self.base_url}: {exc}") from exc
            if response.status_code == 401 and not renewed:
                renewed = True
                with self._lock:
                    self._token = None
                continue
            if response.status_code in (500, 503) and attempt + 1 < self.server_error_attempts:
                time.sleep(0.5 * 2**attempt)
                continue
            break
        assert response is not None
        return response

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            body = response.json()
            detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
        except ValueError:
            detail = response.text
        return str(detail)[:300]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """JSON of a successful call; ``AirflowError`` with Airflow's own words otherwise."""
        response = self._request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowError(f"{method} {path}: HTTP {response.status_code} {self._detail(response)}")
        return response.json() if response.content else None

    # -- the calls -----------------------------------------------------------------------------
    def health(self) -> bool:
        try:
            return self._http.get("/api/v2/monitor/health").status_code == 200
        except httpx.HTTPError:
            return False

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a manual run now with ``conf``; returns the created run (``dag_run_id``, ``state``)."""
        response = self._request(
            "POST", f"/dags/{quote(dag_id)}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        if response.status_code == 404:
            raise AirflowError(f"DAG {dag_id} is not known to Airflow (is the DAG folder loaded and parsed?)")
        if response.status_code >= 400:
            raise AirflowError(
                f"Airflow refused to trigger {dag_id}: HTTP {response.status_code} {self._detail(response)}"
            )
        return dict(response.json())

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{quote(dag_id)}", json={"is_paused": False})

    def dags(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/dags", params={"limit": 100})["dags"])

    def runs(self, dag_id: str = "~", *, limit: int = 50, state: str | None = None) -> list[dict[str, Any]]:
        """DAG runs, newest first (``~`` = every DAG); an unknown DAG has none."""
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if state:
            params["state"] = state
        response = self._request("GET", f"/dags/{quote(dag_id)}/dagRuns", params=params)
        if response.status_code == 404:
            return []
        if response.status_code >= 400:
            raise AirflowError(f"listing runs of {dag_id}: HTTP {response.status_code} {self._detail(response)}")
        return list(response.json().get("dag_runs", []))

    def recent_runs(self, dag_id: str, limit: int = 5) -> list[dict[str, Any]]:
        return self.runs(dag_id, limit=limit)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return list(self.request("GET", path)["task_instances"])

    @staticmethod
    def run_url(public_base: str, dag_id: str, run_id: str) -> str:
        """The Airflow UI page of one run."""
        return f"{public_base.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
