"""Container health check for every Airflow component of the BanditOps image.

Why one script: the same image runs api-server, scheduler, dag-processor, triggerer and the
Celery worker, and Docker's HEALTHCHECK is per image. The script reads what the container runs
(its command line) and asks that component in the way Airflow documents for it.
Exit 0 = healthy, 1 = unhealthy (Docker's contract).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

TIMEOUT_S = 15


def _command_line() -> list[str]:
    """Arguments of every process in the container (PID 1 is dumb-init, so look further)."""
    words: list[str] = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words += cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
    return words


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (fixed loopback URL)
            return bool(200 <= response.status < 300)
    except OSError:
        return False


def _run_ok(*args: str) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=TIMEOUT_S, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def main() -> int:
    words = _command_line()
    host = socket.gethostname()
    if "api-server" in words:
        port = os.environ.get("AIRFLOW__API__PORT", "8080")
        return 0 if _http_ok(f"http://127.0.0.1:{port}/api/v2/monitor/health") else 1
    if "scheduler" in words:
        port = os.environ.get("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT", "8974")
        return 0 if _http_ok(f"http://127.0.0.1:{port}/health") else 1
    if "worker" in words:
        app = "airflow.providers.celery.executors.celery_executor.app"
        return 0 if _run_ok("celery", "--app", app, "inspect", "ping", "-d", f"celery@{host}") else 1
    for component, job_type in (("triggerer", "TriggererJob"), ("dag-processor", "DagProcessorJob")):
        if component in words:
            return 0 if _run_ok("airflow", "jobs", "check", "--job-type", job_type, "--hostname", host) else 1
    # One-shot commands (airflow-init, CLI): healthy while they run.
    return 0


if __name__ == "__main__":
    sys.exit(main())
