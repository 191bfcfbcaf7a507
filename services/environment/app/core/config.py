"""Settings of the environment service, read from ``BANDITOPS_ENV_*`` environment variables.

The admin token is the same variable the rest of the loop reads (``BANDITOPS_ENV_ADMIN_TOKEN``),
so one secret configures the service and its clients.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from banditops.bandit.arms import SCENARIOS, parse_arms
from banditops.settings import refuse_placeholder


class Settings(BaseSettings):
    """What world the service starts with and how large a request may be."""

    model_config = SettingsConfigDict(env_prefix="BANDITOPS_ENV_", extra="ignore")

    #: ``local`` (no token: admin routes off) or ``deployed`` (admin token required, no placeholder).
    deploy_mode: Literal["local", "deployed"] = Field(
        default="local", validation_alias=AliasChoices("BANDITOPS_DEPLOY_MODE", "deploy_mode")
    )
    #: Bearer token of the admin routes (drift, add arm, scenario reset); unset, they answer 403.
    admin_token: str | None = None
    #: Seed of the reward generator; ``None`` draws fresh entropy (not reproducible).
    seed: int | None = None
    #: Scenario the world starts in: one of ``banditops.bandit.arms.SCENARIOS`` (or the label of ``arms``).
    scenario: str = "seed"
    #: Optional JSON list of arms that replaces the named scenario's arms at start.
    arms: str | None = None
    #: Largest batch ``POST /pulls`` accepts (bounds the memory and time of one request).
    max_batch: int = Field(default=100_000, gt=0, le=10_000_000)
    #: Largest request body accepted (413 beyond it, before it is read). Unset: room for a batch
    #: of ``max_batch`` indices at 12 bytes each (an index and its separator take at most ~8).
    max_body_bytes: int | None = Field(default=None, ge=256, le=1 << 30)
    #: How many events ``GET /events`` keeps (oldest dropped first).
    max_events: int = Field(default=10_000, gt=0)
    #: Redis holding the world record (``banditops.store.world_journal``), so a restart brings the
    #: world back; the same server and namespace as the experiment's store. Unset (tests, benchmarks
    #: of the HTTP layer): the world lives in memory only. Required in ``deployed`` mode.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("BANDITOPS_ENV_REDIS_URL", "BANDITOPS_REDIS_URL", "redis_url")
    )
    #: The experiment's namespace (``BANDITOPS_NAMESPACE``): the world record is ``<namespace>.world:*``.
    namespace: str = Field(default="bo", validation_alias=AliasChoices("BANDITOPS_NAMESPACE", "namespace"))
    #: How many batches ``GET /ledger`` remembers, each with its epoch, pulls and reward sum.
    ledger_batches: int = Field(default=100_000, gt=0, le=10_000_000)

    @property
    def body_cap(self) -> int:
        """The body limit in bytes: ``max_body_bytes``, or what the largest batch needs."""
        return self.max_body_bytes or 1024 + 12 * self.max_batch

    @field_validator("admin_token", "redis_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.arms is None and self.scenario not in SCENARIOS:
            raise ValueError(
                f"BANDITOPS_ENV_SCENARIO={self.scenario!r} is unknown; valid scenarios: {', '.join(SCENARIOS)} "
                "(or set BANDITOPS_ENV_ARMS to a JSON list of arms)"
            )
        if self.arms is not None:
            parse_arms(self.arms)  # refuses bad arms at start, with the valid form in the message
        if self.deploy_mode == "deployed":
            if not self.admin_token:
                raise ValueError("BANDITOPS_ENV_ADMIN_TOKEN must be set when BANDITOPS_DEPLOY_MODE=deployed")
            refuse_placeholder("BANDITOPS_ENV_ADMIN_TOKEN", self.admin_token)
            if not self.redis_url:
                raise ValueError(
                    "BANDITOPS_REDIS_URL must be set when BANDITOPS_DEPLOY_MODE=deployed: without it a restart "
                    "would bring back the default world in the middle of an experiment"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
