"""Settings shared by every deployable, read from ``BANDITOPS_*`` environment variables.

This class is the one place the library, the provider and the DAGs read a ``BANDITOPS_*``
variable (each service's own ``app/core/config.py`` reads its ``BANDITOPS_<SERVICE>_*`` ones):
a new knob is a field here, not an ``os.environ`` lookup where it is used.

Secrets (tokens, passwords) only ever come from the environment; outside ``local`` mode a
placeholder value is refused so a copied ``.env.example`` cannot reach production.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_PREFIX = "change-me"


def refuse_placeholder(variable: str, value: str | None) -> None:
    """Raise ``ValueError`` when a secret still holds the ``.env.example`` placeholder.

    Every deployable calls this from its settings validator outside ``local`` mode, so a copied
    ``.env.example`` cannot reach production, with one message that says what to do.

    Examples
    --------
    >>> refuse_placeholder("BANDITOPS_ENV_ADMIN_TOKEN", "3f9c2a")
    >>> refuse_placeholder("BANDITOPS_ENV_ADMIN_TOKEN", "change-me-token")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: BANDITOPS_ENV_ADMIN_TOKEN still holds the placeholder from .env.example; set a real secret ...
    """
    if (value or "").startswith(PLACEHOLDER_PREFIX):
        raise ValueError(
            f"{variable} still holds the placeholder from .env.example; "
            "set a real secret (e.g. `openssl rand -hex 32`)"
        )


class DagSettings(BaseSettings):
    """The knobs the DAG files read at parse time: schedules and the drift sensor's timing.

    A class of their own (``Settings`` has them too) so that parsing a DAG validates only what
    the DAG reads: a bad value of an unrelated setting fails the tasks that use it, as it always
    has, not the parse of every DAG.
    """

    model_config = SettingsConfigDict(env_prefix="BANDITOPS_", extra="ignore")

    #: Schedule of ``bandit_learning`` (``@continuous``, a cron/preset, ``none``, or a duration ``15s``).
    learning_schedule: str = "@continuous"
    #: Schedule of ``bandit_drift_monitor`` (same forms).
    drift_monitor_schedule: str = "@continuous"
    #: Seconds between the drift trigger's polls of the store.
    drift_poll_s: float = 1.0
    #: Seconds a drift sensor run waits before it ends ``idle`` (the next run takes over).
    drift_max_wait_s: float = 600.0

    @field_validator("drift_poll_s", "drift_max_wait_s", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object, info: ValidationInfo) -> object:
        # An empty numeric variable (``BANDITOPS_DRIFT_POLL_S=``) means "unset". Empty URLs keep
        # their meaning ("not configured": the dashboard then says so instead of calling 127.0.0.1).
        if value == "":
            return cls.model_fields[str(info.field_name)].default
        return value


class Settings(DagSettings):
    """Where the parts of the loop are and how the loop behaves by default."""

    model_config = SettingsConfigDict(env_prefix="BANDITOPS_", extra="ignore")

    #: ``local`` (one machine, demo defaults) or ``deployed`` (compose, Kubernetes).
    deploy_mode: Literal["local", "deployed"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Key prefix of every Redis key, so several experiments can share one server.
    namespace: str = "bo"
    env_url: str = "http://127.0.0.1:8000"
    env_admin_token: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = "banditops"
    #: Artifact root of a newly created MLflow experiment; ``None``: the tracking server's default.
    mlflow_artifact_location: str | None = None
    airflow_url: str = "http://127.0.0.1:8080"
    dashboard_url: str = "http://127.0.0.1:8050"
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    #: Seed of every random generator that has no seed of its own (reproducible runs).
    seed: int | None = None
    #: Timeout of HTTP calls to the environment, in seconds.
    http_timeout_s: float = Field(default=10.0, gt=0)
    #: Seconds an agent task keeps playing rounds after its ``rounds`` (0: exactly ``rounds``), so a
    #: drift meets a playing agent instead of the scheduler's gap between two learning runs.
    agent_task_s: float = Field(default=0.0, ge=0)
    #: Least seconds between the starts of two rounds of an agent playing for time (its pace).
    agent_round_interval_s: float = Field(default=0.0, ge=0)

    @field_validator("seed", "http_timeout_s", "agent_task_s", "agent_round_interval_s", mode="before")
    @classmethod
    def _empty_number_is_default(cls, value: object, info: ValidationInfo) -> object:
        # ``BANDITOPS_SEED=`` (docs/airflow.md's env file) means "no seed", as for the knobs above.
        return cls._empty_is_default(value, info)

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.deploy_mode != "local":
            refuse_placeholder("BANDITOPS_ENV_ADMIN_TOKEN", self.env_admin_token)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
