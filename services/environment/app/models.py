"""Request and response bodies of the environment service (they are its OpenAPI contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from banditops.bandit.arms import Arm

#: The most indices the schema advertises; the service's real limit is BANDITOPS_ENV_MAX_BATCH.
DOC_MAX_BATCH = 100_000


class PullsIn(BaseModel):
    """A batch of arm indices (validated with numpy in the route; this model documents it)."""

    model_config = ConfigDict(extra="forbid")
    arms: list[int] = Field(
        min_length=1,
        description="arm indices to pull, in order; at most BANDITOPS_ENV_MAX_BATCH (default 100,000)",
        json_schema_extra={"items": {"type": "integer", "minimum": 0}},
    )


class PullsOut(BaseModel):
    rewards: list[float] = Field(description="one reward per index, in request order")
    regret: float = Field(description="expected pseudo-regret of the batch, from the true means")
    total_pulls: int = Field(description="pulls since the last scenario reset, this batch included")


class PullOut(BaseModel):
    arm: int
    reward: float
    regret: float = Field(description="expected pseudo-regret of this pull")
    total_pulls: int


class TruthOut(BaseModel):
    """Ground truth: what the agents are trying to learn."""

    arms: list[Arm]
    means: list[float]
    best_arm: int
    total_pulls: int
    pulls: list[int] = Field(description="pulls per arm since the last scenario reset")
    scenario: str


class Event(BaseModel):
    """A change of the world: a drift, a new arm, or a reset; ``total_pulls`` is the count at that moment."""

    kind: Literal["drift", "arm_added", "scenario_reset"]
    t: float = Field(description="unix time in seconds")
    total_pulls: int
    arm: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class EventsOut(BaseModel):
    events: list[Event]


class MeanUpdate(BaseModel):
    """The origin documents' drift call: ``{"mean": 6.0}``.

    NaN and infinity pass this model on purpose: the world refuses them with the one value rule
    (``banditops.bandit.validators.check_drift_value``), in the words every drift entry point uses.
    """

    model_config = ConfigDict(extra="forbid")
    mean: float = Field(description="the arm's new expected reward (p for a Bernoulli arm, in [0, 1])")


class ArmPatch(BaseModel):
    """Any parameter of one arm: ``mean``/``sd`` of a Gaussian arm, ``p`` (or ``mean``) of a Bernoulli arm.

    Values are checked by the world with the one value rule (see :class:`MeanUpdate`), not here.
    """

    model_config = ConfigDict(extra="forbid")
    mean: float | None = None
    sd: float | None = Field(default=None, description="> 0, Gaussian arms only")
    p: float | None = Field(default=None, description="in [0, 1], Bernoulli arms only")


class ScenarioIn(BaseModel):
    """Reset to a named scenario, or to posted ``arms`` labelled ``name``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, description="seed, banners, problem1, or a label for arms")
    seed: int | None = Field(default=None, ge=0, lt=2**63, description="reward seed; default: the service's")
    arms: list[Arm] | None = Field(default=None, min_length=1, max_length=10_000)
    new_experiment: bool = Field(
        default=False,
        description="this reset starts a new experiment (the store is reset next), so the world may change "
                    "scenario, reward kind or arm count; without it such a reset is refused (409) while an "
                    "experiment runs",
    )


class LedgerEpoch(BaseModel):
    epoch: int | None = Field(description="the epoch the agents named (None: pulls that named none)")
    pulls: int
    reward_sum: float
    batches: int = Field(description="batches served, retries included")


class LedgerBatch(BaseModel):
    batch_id: str
    epoch: int | None
    attempts: list[tuple[int, float]] = Field(description="(pulls, reward sum) each time the batch was served")


class LedgerOut(BaseModel):
    """What the environment served, per epoch and per batch (the other side of the store's books)."""

    epochs: list[LedgerEpoch]
    batches: list[LedgerBatch]
    max_batches: int = Field(description="how many batches are remembered (oldest dropped first)")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
