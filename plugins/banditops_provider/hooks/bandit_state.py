"""``BanditStateHook``: the bandit state store over the ``redis_default`` Airflow Connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from airflow.providers.redis.hooks.redis import RedisHook
from airflow.sdk import BaseHook

from banditops.settings import get_settings
from banditops.store.connection import Redis
from banditops.store.redis_store import BanditStore


class BanditStateHook(BaseHook):
    """Opens the :class:`~banditops.store.redis_store.BanditStore` of a Redis Connection.

    The Redis provider's ``RedisHook`` reads the Connection (host, port, password, ``db`` and
    TLS extras), so nothing here parses URLs. The store's key namespace comes from the
    Connection's ``namespace`` extra, else ``BANDITOPS_NAMESPACE``. The client is built once per
    hook and cached: a mapped task opens one connection pool, not one per round.

    Parameters
    ----------
    redis_conn_id : str
        The Airflow Connection, ``redis_default`` unless told.
    namespace : str, optional
        Overrides the Connection's ``namespace`` extra.
    """

    conn_name_attr = "redis_conn_id"
    default_conn_name = "redis_default"
    # A type of its own so the provider registers it (``redis`` is the Redis provider's); a
    # ``redis`` Connection works here too: RedisHook reads any Connection's fields.
    conn_type = "banditops_state"
    hook_name = "BanditOps state (Redis)"

    def __init__(self, redis_conn_id: str = default_conn_name, *, namespace: str | None = None) -> None:
        super().__init__()
        self.redis_conn_id = redis_conn_id
        self._namespace = namespace
        self._store: BanditStore | None = None

    def get_conn(self) -> Redis:
        """The cached redis-py client."""
        return self.get_store().client

    @property
    def namespace(self) -> str:
        if self._namespace:
            return self._namespace
        extra = self.get_connection(self.redis_conn_id).extra_dejson
        self._namespace = str(extra.get("namespace") or get_settings().namespace)
        return self._namespace

    def get_store(self) -> BanditStore:
        """The store, built once per hook."""
        if self._store is None:
            # cast: RedisHook.get_conn is unannotated; it returns a redis-py client
            client = cast(Callable[[], Redis], RedisHook(redis_conn_id=self.redis_conn_id).get_conn)()
            self._store = BanditStore(client, namespace=self.namespace)
        return self._store
