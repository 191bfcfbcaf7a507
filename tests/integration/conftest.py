"""Fixtures the integration tests share: the environment service, a store, an MLflow experiment.

A module that wants its ``store`` reset sets ``STORE_CONFIG`` (an ``ExperimentConfig``).

A module that wants the environment service with a reward seed of its own sets ``ENV_SEED``
(the service's default seed; most tests reset the world with a seed of their own anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from banditops.clients.env_client import EnvClient
from banditops.loop.tracking import Tracker
from banditops.store.redis_store import BanditStore
from banditops.store.types import ExperimentConfig
from stack.env_server import EnvServer


@pytest.fixture(scope="module")
def env_server(request: pytest.FixtureRequest) -> Iterator[EnvServer]:
    """The environment service: a real uvicorn process, one per test module."""
    with EnvServer(seed=getattr(request.module, "ENV_SEED", 3)) as server:
        yield server


@pytest.fixture
def env(env_server: EnvServer) -> Iterator[EnvClient]:
    client = EnvClient(env_server.url, token=env_server.admin_token)
    yield client
    client.close()


@pytest.fixture
def store(request: pytest.FixtureRequest, redis_client: Any, namespace: str) -> BanditStore:
    """A store in a namespace of this test's own, reset with the module's ``STORE_CONFIG`` (empty without one).

    One fixture for every module: a module that needs a reset store names its experiment config
    instead of writing the fixture again.
    """
    store = BanditStore(redis_client, namespace)
    config: ExperimentConfig | None = getattr(request.module, "STORE_CONFIG", None)
    if config is not None:
        store.reset(config)
    return store


class MlflowExperiment:
    """An MLflow experiment of one test on the session's SQLite store, and the lookups the tests make."""

    def __init__(self, tracking_uri: str, artifacts: Path, prefix: str = "test") -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.artifacts = artifacts
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.client = MlflowClient(tracking_uri)

    def tracker(self, store: BanditStore) -> Tracker:
        """A tracker of this experiment (a new one per call, as separate task processes have)."""
        return Tracker(store, tracking_uri=self.tracking_uri, experiment_name=self.name,
                       artifact_location=str(self.artifacts))  # fmt: skip

    @property
    def experiment_id(self) -> str:
        return str(self.client.get_experiment_by_name(self.name).experiment_id)

    def children(self, parent: str, *, kind: str | None = None) -> list[Any]:
        """The child runs of ``parent`` (only those tagged ``kind``, when given)."""
        query = f"tags.mlflow.parentRunId = '{parent}'" + (f" and tags.kind = '{kind}'" if kind else "")
        return list(self.client.search_runs([self.experiment_id], filter_string=query))

    def phase_runs(self, parent: str) -> list[Any]:
        """The phase runs (one per epoch and live policy) of the experiment run ``parent``."""
        return self.children(parent, kind="phase")


@pytest.fixture
def mlflow_experiment(mlflow_tracking_uri: str, tmp_path: Path) -> MlflowExperiment:
    return MlflowExperiment(mlflow_tracking_uri, tmp_path / "artifacts")
