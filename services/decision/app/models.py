"""Request and response bodies of the decision API (the OpenAPI schema is generated from them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from banditops.store.types import ARM_NAME_RE

#: Largest candidate list one request may carry (the body size limit bounds it too).
MAX_CANDIDATES = 1024
#: Largest number of features in one context (or one arm's features).
MAX_CONTEXT_FEATURES = 1024


def _int_as_name(value: object) -> object:
    """An integer is read as the name with those digits: what clients of an experiment started
    with integer arms (whose arms are named ``"0"``, ``"1"``, ...) have always sent."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else value


ArmName = Annotated[
    StrictStr,
    BeforeValidator(_int_as_name),
    Field(pattern=ARM_NAME_RE.pattern, description='arm (banner) name, e.g. "summer-sale"',
          json_schema_extra={"pattern": ARM_NAME_RE.pattern, "maxLength": 64}),
]


class CandidateArm(BaseModel):
    """A candidate arm with its own features (the action-dependent features of VW's ADF form)."""

    model_config = ConfigDict(extra="forbid")
    arm: ArmName
    features: dict[str, float] = Field(
        default_factory=dict, max_length=MAX_CONTEXT_FEATURES,
        description="the arm's numeric features, exactly the experiment's context.arm_features",
    )


class RecommendRequest(BaseModel):
    """Which user asks, how many arms to rank, and optionally which arms may be shown."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=256, description="opaque id of the user asking")
    k: StrictInt = Field(ge=1, le=MAX_CANDIDATES, description="number of arms to rank, 1..number of arms")
    candidates: list[ArmName | CandidateArm] | None = Field(
        default=None, max_length=MAX_CANDIDATES,
        description="arms allowed on this page (default: every active arm). Without a context, retired ones "
                    "are skipped; with a context, unknown or retired ones are refused (422). Objects "
                    "{arm, features} carry each arm's features for a model with arm features",
    )
    context: dict[str, Any] | list[float] | None = Field(
        default=None, max_length=MAX_CONTEXT_FEATURES,
        description="the user's context: {feature: value} with the experiment's numeric features (numbers) and "
                    "categorical ones (strings, hashed), or the encoded vector of length d. Absent: "
                    "non-contextual Thompson Sampling",
    )


class RecommendResponse(BaseModel):
    """The ranked arms and what is needed to learn from and evaluate this decision."""

    decision_id: str = Field(description="send it back with the reward to POST /feedback")
    arms: list[str] = Field(description="the names of the k arms, best first, ranked by one Thompson draw")
    propensity: float = Field(description="estimated probability that the policy ranks arms[0] first")
    propensities: list[float] = Field(
        description="for each arm of the slate, in order: the estimated probability that the policy ranks it "
                    "first for this user and candidate set (Monte Carlo over posterior draws; docs/decision.md)"
    )
    epoch: int = Field(description="learning epoch of the posterior used (0: none yet)")
    fallback: bool = Field(description="true when no posterior was available: the static ranking")


class FeedbackRequest(BaseModel):
    """The reward observed for a decision (a click is 1, no click 0)."""

    model_config = ConfigDict(extra="forbid")
    decision_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="decision_id from POST /recommend")
    reward: float = Field(allow_inf_nan=False, description="observed reward; 0 or 1 for Bernoulli experiments")
    arm: ArmName | None = Field(default=None, description="name of the arm of the slate the reward is for (k > 1)")
    position: int | None = Field(default=None, ge=0, description="0-based slot of that arm in the slate (k > 1)")


class FeedbackResponse(BaseModel):
    decision_id: str
    status: Literal["accepted", "duplicate"] = Field(
        description="accepted: appended to the feedback stream; duplicate: already recorded, nothing changed"
    )


class ArmInfo(BaseModel):
    arm: str = Field(description="the arm's name")
    metadata: dict[str, Any] = Field(default_factory=dict, description="the arm's metadata, as added")
    retired: bool
    pulls: int = Field(description="rewards folded into the current epoch's posterior")
    mean: float = Field(description="posterior mean of the arm's reward")
    prob_best: float = Field(description="P(arm is best among the active arms)")


class ArmsResponse(BaseModel):
    epoch: int
    mode: str
    reward_kind: str
    staleness_s: float = Field(description="seconds since the cached posterior was refreshed")
    arms: list[ArmInfo]


class AddArmRequest(BaseModel):
    """A new arm: its name (never used before, retired names included) and optional metadata."""

    model_config = ConfigDict(extra="forbid")
    name: ArmName | None = Field(default=None, description="default: the new arm's index as text, e.g. \"5\"")
    metadata: dict[str, Any] | None = Field(default=None, description="a small JSON object (<= 4 KiB)")


class ArmChanged(BaseModel):
    arm: str = Field(description="the arm's name")
    retired: bool


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    posterior: Literal["live", "stale", "none"] = Field(
        description="live: answers use the posterior; stale/none: answers are static fallbacks"
    )
    staleness_s: float | None = None
    epoch: int | None = None
    store_error: str | None = Field(default=None, description="last refresh error, if the store is unreachable")
    decisions_buffered: int = Field(description="decisions not yet written to Redis")
