"""Airflow for the tests: a temporary AIRFLOW_HOME with a SQLite metadata DB migrated once.

The environment is set when this conftest is imported, before anything imports Airflow, because
Airflow reads its configuration at import time. Connections are given per test through
``AIRFLOW_CONN_*`` environment variables (what the local stack and Kubernetes do too), so each
test points the DAGs at its own Redis namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_HOME = Path(tempfile.mkdtemp(prefix="banditops-airflow-"))

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
    "BANDITOPS_DRIFT_POLL_S": "0.2",
    "BANDITOPS_DRIFT_MAX_WAIT_S": "3",
}
_SAVED = {key: os.environ.get(key) for key in AIRFLOW_ENV}
os.environ.update(AIRFLOW_ENV)


def pytest_runtest_setup(item: pytest.Item) -> None:
    os.environ.update(AIRFLOW_ENV)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Give the environment back after this folder, so later tests (e2e) never see this AIRFLOW_HOME."""
    if nextitem is not None and Path(nextitem.path).parent == Path(__file__).parent:
        return
    for key, value in _SAVED.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """``airflow db migrate`` once per session, in a subprocess (what an operator would run)."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env={**os.environ, **AIRFLOW_ENV},
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from airflow import settings

    settings.configure_orm()
    return _HOME


@pytest.fixture(scope="session")
def env_server() -> Iterator[Any]:
    """The environment service: a real uvicorn process on a free loopback port."""
    from stack.env_server import EnvServer

    with EnvServer(seed=7, log_path=_HOME / "environment.log") as server:
        yield server


@pytest.fixture
def connections(redis_server: Any, env_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``redis_default`` (with a namespace of its own) and ``bandit_env_default`` for this test."""
    namespace = f"af{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DEFAULT", f"redis://127.0.0.1:{redis_server.port}?db=0&namespace={namespace}")
    # the environment's admin token rides in the Connection's password, as in the local stack
    monkeypatch.setenv("AIRFLOW_CONN_BANDIT_ENV_DEFAULT", json.dumps(
        {"conn_type": "http", "host": env_server.url, "password": env_server.admin_token}))
    return {"namespace": namespace, "env_url": env_server.url, "env_token": env_server.admin_token}


@pytest.fixture
def mlflow_env(mlflow_tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """MLflow on the session's SQLite store, in an experiment of this test's own."""
    experiment = f"af-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("BANDITOPS_MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    monkeypatch.setenv("BANDITOPS_MLFLOW_EXPERIMENT", experiment)
    monkeypatch.setenv("BANDITOPS_MLFLOW_ARTIFACT_LOCATION", str(tmp_path / "artifacts"))
    from banditops.settings import get_settings

    get_settings.cache_clear()
    yield {"uri": mlflow_tracking_uri, "experiment": experiment}
    get_settings.cache_clear()


def _load_dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.fixture(scope="session")
def load_dag() -> Any:
    """``load_dag(dag_id)``: the DAG of ``dags/<dag_id>.py``, parsed the way the DAG processor does."""
    return _load_dag
