"""A trigger that times out is asked again with the run id it chose, and starts one run.

The server here is a real HTTP server on 127.0.0.1 that answers like Airflow's ``/api/v2`` but
takes longer than the client's timeout to answer its first trigger (as a cold API server on a
loaded machine does); the real API server is exercised by ``tests/e2e``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from banditops.clients.airflow_client import AirflowClient, AirflowError


class SlowAirflow(ThreadingHTTPServer):
    def __init__(self, first_delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.first_delay_s = first_delay_s
        self.runs: dict[str, dict[str, Any]] = {}
        self.posts: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: SlowAirflow

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if self.path == "/auth/token":
            return self._send(201, {"access_token": "t"})
        dag_id = self.path.split("/")[4]
        run_id = body["dag_run_id"]
        self.server.posts.append(run_id)
        if run_id in self.server.runs:
            return self._send(409, {"detail": f"DAG Run with id {run_id} already exists"})
        self.server.runs[run_id] = _run(dag_id, run_id, body.get("conf"))
        if len(self.server.posts) == 1:
            time.sleep(self.server.first_delay_s)  # created, but answered after the client gave up
        return self._send(200, self.server.runs[run_id])

    def do_GET(self) -> None:
        run = self.server.runs.get(unquote(self.path.rsplit("/", 1)[-1]))
        return self._send(200, run) if run else self._send(404, {"detail": "not found"})


def _run(dag_id: str, run_id: str, conf: dict[str, Any] | None) -> dict[str, Any]:
    return {"dag_id": dag_id, "dag_display_name": dag_id, "dag_run_id": run_id, "dag_versions": [],
            "run_after": "2026-12-03T00:00:00Z", "run_type": "manual", "state": "queued", "conf": conf}


@pytest.fixture
def slow_airflow() -> Iterator[SlowAirflow]:
    server = SlowAirflow(first_delay_s=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_trigger_that_timed_out_is_asked_again_and_starts_one_run(slow_airflow: SlowAirflow) -> None:
    host, port = slow_airflow.server_address[:2]
    client = AirflowClient(f"http://{host}:{port}", "admin", "pw", timeout=0.3)
    run = client.trigger("bandit_experiment", {"seed": 7})
    assert len(slow_airflow.runs) == 1  # one run, though the server was asked twice
    assert slow_airflow.posts == [run["dag_run_id"]] * 2
    assert run["dag_run_id"].startswith("manual__") and run["conf"] == {"seed": 7}


def test_a_server_that_never_answers_in_time_is_an_error_that_names_it(slow_airflow: SlowAirflow) -> None:
    host, port = slow_airflow.server_address[:2]
    slow_airflow.first_delay_s = 1.0
    client = AirflowClient(f"http://{host}:{port}", "admin", "pw", timeout=0.3)
    client.timeout_attempts = 1
    with pytest.raises(AirflowError, match=r"Airflow unreachable at http://127\.0\.0\.1"):
        client.trigger("bandit_experiment")
