"""The dashboard's settings: one pydantic-settings ``Settings`` read from ``BANDITOPS_*`` variables.

It extends the project-wide :class:`banditops.settings.Settings` (Redis URL, namespace,
environment URL and admin token, MLflow and Airflow URLs) with what only the dashboard needs:
the Airflow REST API credentials (exchanged for a JWT at ``POST /auth/token``), the URLs a
*browser* should follow for links (inside compose the services talk to ``airflow-apiserver:8080``
while the person looking at the page reaches ``127.0.0.1:8080``), the refresh interval and the
optional basic-auth password that protects the page and its controls when deployed.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, model_validator

from banditops.settings import Settings as CoreSettings
from banditops.settings import refuse_placeholder


class Settings(CoreSettings):
    """Where the dashboard reads from, how often, and who may use its controls."""

    #: Airflow REST API v2 user; with no user, the API's ``GET /auth/token`` (all-admins mode) is tried.
    airflow_username: str | None = None
    airflow_password: str | None = None
    #: Airflow UI as a browser reaches it (defaults to ``airflow_url``).
    airflow_public_url: str | None = None
    #: MLflow REST API for run lookups (defaults to ``mlflow_tracking_uri`` when it is http(s), else ``mlflow_ui_url``).
    mlflow_api_url: str | None = None
    #: MLflow basic-auth login (MLflow's ``--app-name basic-auth``), under MLflow's own client variable names.
    mlflow_tracking_username: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_USERNAME", "BANDITOPS_MLFLOW_TRACKING_USERNAME")
    )
    mlflow_tracking_password: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_PASSWORD", "BANDITOPS_MLFLOW_TRACKING_PASSWORD")
    )
    #: Page refresh interval (dcc.Interval), in seconds.
    dashboard_refresh_s: float = Field(default=1.5, ge=0.25, le=60)
    #: Per-call timeout of every source (Redis, environment, Airflow, MLflow): one dead service cannot stall the page.
    dashboard_source_timeout_s: float = Field(default=1.5, gt=0, le=30)
    #: Slow sources (Airflow, MLflow) are re-read at most this often, in seconds.
    dashboard_slow_refresh_s: float = Field(default=5.0, ge=0)
    #: When set, the page and its controls need HTTP basic auth (``dashboard_username`` / this password);
    #: required when ``deploy_mode`` is ``deployed``. Unset (local only), the page shows but its controls are off.
    dashboard_username: str = "admin"
    dashboard_password: str | None = None
    #: ``Host`` values served, comma-separated ``host:port`` (``*``: any, e.g. behind a proxy that checks
    #: it). Unset: 127.0.0.1 and localhost on the listening port and on ``dashboard_url``'s, and its host.
    dashboard_allowed_hosts: str = ""
    #: Largest request body accepted (Dash callbacks send the controls' values: small).
    dashboard_max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    #: Posterior draws per arm for the violins (more is smoother, slower).
    dashboard_posterior_draws: int = Field(default=2000, ge=100, le=50_000)

    @model_validator(mode="after")
    def _no_placeholder_dashboard_secrets(self) -> Settings:
        if self.deploy_mode == "local":
            return self
        # the controls inject drift and trigger DAG runs: deployed, they are never open to anyone
        if not self.dashboard_password:
            raise ValueError(
                "BANDITOPS_DASHBOARD_PASSWORD must be set when BANDITOPS_DEPLOY_MODE=deployed "
                "(the page's controls inject drift and trigger DAG runs)"
            )
        for name in ("airflow_password", "dashboard_password"):
            refuse_placeholder(f"BANDITOPS_{name.upper()}", getattr(self, name))
        return self

    @property
    def airflow_link_url(self) -> str:
        return (self.airflow_public_url or self.airflow_url).rstrip("/")

    @property
    def mlflow_link_url(self) -> str:
        return self.mlflow_ui_url.rstrip("/")

    @property
    def mlflow_rest_url(self) -> str | None:
        """Base URL of MLflow's REST API, or None when tracking is not an HTTP server (e.g. SQLite)."""
        if self.mlflow_api_url:
            return self.mlflow_api_url.rstrip("/")
        uri = self.mlflow_tracking_uri or ""
        if uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
        return self.mlflow_ui_url.rstrip("/") if self.mlflow_ui_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The dashboard process's settings, read once."""
    return Settings()
