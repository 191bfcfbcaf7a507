"""``BanditEnvHook``: the environment service over the ``bandit_env_default`` Airflow Connection."""

from __future__ import annotations

from airflow.sdk import BaseHook

from banditops.clients.env_client import EnvClient
from banditops.settings import get_settings


class BanditEnvHook(BaseHook):
    """Builds an :class:`~banditops.clients.env_client.EnvClient` from an HTTP Connection, once.

    The Connection holds the base URL (``http://host:port``; the ``schema`` field is the scheme,
    ``http`` by default) and, in its password, the environment's admin token, so the secret stays
    in Airflow's secrets backend (env var, Kubernetes Secret) and never in a DAG.
    ``AIRFLOW_CONN_BANDIT_ENV_DEFAULT='http://:TOKEN@127.0.0.1:8000'`` is the env-var form.

    Parameters
    ----------
    env_conn_id : str
        The Airflow Connection, ``bandit_env_default`` unless told.
    """

    conn_name_attr = "env_conn_id"
    default_conn_name = "bandit_env_default"
    # A type of its own so the provider registers it; an ``http`` Connection works here too.
    conn_type = "banditops_env"
    hook_name = "BanditOps environment"

    def __init__(self, env_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.env_conn_id = env_conn_id
        self._client: EnvClient | None = None

    def base_url(self) -> str:
        conn = self.get_connection(self.env_conn_id)
        scheme = conn.schema or conn.conn_type or "http"
        if scheme not in ("http", "https"):
            scheme = "http"
        host = conn.host or "127.0.0.1"
        if "://" in host:  # a Connection whose host already is a URL
            return host.rstrip("/")
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{host}{port}"

    def get_conn(self) -> EnvClient:
        """The cached client; the admin token is the Connection's password (may be empty)."""
        if self._client is None:
            conn = self.get_connection(self.env_conn_id)
            token = conn.password or None
            self._client = EnvClient(self.base_url(), token=token, timeout=get_settings().http_timeout_s)
        return self._client
