"""A small client of Airflow 3's REST API v2 (JWT from ``POST /auth/token``).

The demo, the end-to-end test and the dashboard start DAG runs and watch them through the same
public API a person's script would use; nothing here imports Airflow.
"""

from __future__ import annotations

from typing import Any

import httpx


class AirflowError(RuntimeError):
    """Airflow refused or could not be reached; the message carries its answer."""


class AirflowClient:
    """Token-authenticated calls to ``/api/v2``; the token is fetched once and renewed on 401."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        if self._token is None:
            try:
                resp = self._http.post("/auth/token", json={"username": self.username, "password": self.password})
            except httpx.HTTPError as exc:
                raise AirflowError(f"Airflow unreachable at {self.base_url}: {exc}") from exc
            if resp.status_code >= 400:
                raise AirflowError(f"Airflow refused the login of {self.username!r}: {resp.status_code} {resp.text}")
            self._token = str(resp.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            try:
                resp = self._http.request(method, f"/api/v2{path}", headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise AirflowError(f"Airflow unreachable at {self.base_url}: {exc}") from exc
            if resp.status_code == 401 and attempt == 0:
                self._token = None
                continue
            if resp.status_code >= 400:
                raise AirflowError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
            return resp.json() if resp.content else None
        raise AirflowError(f"{method} {path}: not authorised")

    def health(self) -> bool:
        try:
            return self._http.get("/api/v2/monitor/health").status_code == 200
        except httpx.HTTPError:
            return False

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a manual run now; returns the DAG run (``dag_run_id``, ``state``, ...)."""
        run: dict[str, Any] = self.request(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        return run

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def dags(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/dags", params={"limit": 100})["dags"])

    def runs(self, dag_id: str = "~", *, limit: int = 50, state: str | None = None) -> list[dict[str, Any]]:
        """DAG runs, newest first (``~`` = every DAG)."""
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if state:
            params["state"] = state
        return list(self.request("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"])
