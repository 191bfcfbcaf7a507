"""Settings of the decision service, read from ``BANDITOPS_DECISION_*`` environment variables.

Where the experiment lives is shared with the rest of the loop: ``BANDITOPS_REDIS_URL`` and
``BANDITOPS_NAMESPACE`` are read too (the ``BANDITOPS_DECISION_`` variants win when both are set).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from banditops.settings import PLACEHOLDER_PREFIX
from banditops.store.feedback import DEFAULT_DECISION_TTL_S, DEFAULT_DECISIONS_MAXLEN, DEFAULT_FEEDBACK_MAXLEN
from banditops.store.types import ARM_NAME_RE


def _alias(name: str) -> AliasChoices:
    # Only the prefixed names: a bare alias would also read e.g. a container's generic REDIS_URL.
    return AliasChoices(f"BANDITOPS_DECISION_{name.upper()}", f"BANDITOPS_{name.upper()}")


class Settings(BaseSettings):
    """How the service reaches the store and how it serves, logs and protects itself."""

    model_config = SettingsConfigDict(env_prefix="BANDITOPS_DECISION_", extra="ignore", populate_by_name=True)

    #: ``local`` (no token: admin routes off) or ``deployed`` (admin token required, no placeholder).
    deploy_mode: Literal["local", "deployed"] = Field(default="local", validation_alias=_alias("deploy_mode"))
    #: The bandit state store (``redis://[:password@]host:port/db``).
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias=_alias("redis_url"))
    #: Key prefix of the experiment in Redis.
    namespace: str = Field(default="bo", validation_alias=_alias("namespace"))
    #: Bearer token of the admin routes (add / retire arms); unset, they answer 403; required when deployed.
    admin_token: str | None = None
    #: Fallback order of arms by NAME, comma-separated (e.g. ``summer-sale,spring,winter``; an
    #: experiment started with integer arms names them ``0``, ``1``, ..., so ``3,1,0`` keeps working).
    #: Checked against the store's arms when the service starts (unknown names: it refuses to
    #: start, naming the valid arms). Empty: the last posterior's ranking by mean, or on a cold
    #: start the candidates as given / arms 0..k-1.
    static_ranking: str = ""
    #: Oldest cached posterior still served; beyond it (store unreachable) answers are fallbacks.
    max_staleness_s: float = Field(default=3.0, gt=0, le=3600)
    #: The cache refreshes on every change notice and at least this often.
    refresh_interval_s: float = Field(default=1.0, gt=0, le=60)
    #: Monte Carlo draws per refresh behind the propensity estimates (error <= 0.5/sqrt(draws)).
    propensity_draws: int = Field(default=4000, ge=100, le=1_000_000)
    #: Monte Carlo rows per refresh behind a CONTEXTUAL decision's propensities, reused by every
    #: request (each costs an (M x arms) multiply-add); error <= 0.5/sqrt(M + 1) = 0.031 at 256.
    context_propensity_draws: int = Field(default=256, ge=16, le=100_000)
    #: Feedback later than this after its decision is refused (the decision record has expired;
    #: records live in one-minute buckets, so the refusal comes between this and 60 s later).
    decision_ttl_s: int = Field(default=DEFAULT_DECISION_TTL_S, ge=1)
    #: Caps (``MAXLEN ~``) of the decision log and feedback streams: their share of the memory budget.
    decisions_maxlen: int = Field(default=DEFAULT_DECISIONS_MAXLEN, ge=1000)
    feedback_maxlen: int = Field(default=DEFAULT_FEEDBACK_MAXLEN, ge=1000)
    #: Longest time a decision waits in memory before the background writer logs it to Redis.
    log_flush_interval_s: float = Field(default=0.01, gt=0, le=5)
    #: Largest request body accepted; larger ones get a 413 before they are read.
    max_body_bytes: int = Field(default=16_384, ge=256, le=10_000_000)
    #: Socket timeout of every Redis call (the request path never makes one; feedback and admin do).
    redis_timeout_s: float = Field(default=0.5, gt=0, le=30)
    #: Seed of the Thompson draws (reproducible tests); unset draws fresh entropy.
    seed: int | None = Field(default=None, validation_alias=_alias("seed"))

    @field_validator("admin_token")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("static_ranking")
    @classmethod
    def _ranking(cls, value: str) -> str:
        parse_ranking(value)
        return value

    @property
    def ranking(self) -> list[str]:
        return parse_ranking(self.static_ranking)

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.deploy_mode == "deployed":
            if not self.admin_token:
                raise ValueError("BANDITOPS_DECISION_ADMIN_TOKEN must be set when BANDITOPS_DEPLOY_MODE=deployed")
            if self.admin_token.startswith(PLACEHOLDER_PREFIX):
                raise ValueError(
                    "BANDITOPS_DECISION_ADMIN_TOKEN still holds the placeholder from .env.example; "
                    "set a real secret (e.g. `openssl rand -hex 32`)"
                )
        return self


def parse_ranking(text: str) -> list[str]:
    """``"summer-sale, spring,0"`` -> ``["summer-sale", "spring", "0"]``; ``ValueError`` unless distinct arm names."""
    ranking = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    bad = [p for p in ranking if not ARM_NAME_RE.match(p)]
    if bad:
        raise ValueError(f"static_ranking must be comma-separated arm names like 'summer-sale,spring' (an experiment "
                         f"started with integer arms names them '0', '1', ...); not arm names: {bad}")
    if len(set(ranking)) != len(ranking):
        raise ValueError(f"static_ranking must list distinct arm names; got {text!r}")
    return ranking


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
