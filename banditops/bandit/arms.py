"""Reward models of the arms, and the named scenarios.

One definition serves the whole project: the environment service draws rewards with these
models, the simulator uses them, and the regret accounting reads their means. Agents never
see them; they only see rewards.

Examples
--------
>>> import numpy as np
>>> arms = scenario("seed")
>>> [a.mean for a in arms]
[2.0, 4.0, 1.0, 3.0, 0.5]
>>> GaussianArm(mean=1.0, sd=2.0).draw(np.random.default_rng(0), 3).round(3).tolist()
[1.251, 0.736, 2.281]
>>> parse_arms('[{"kind": "bernoulli", "p": 0.2}]')
[BernoulliArm(kind='bernoulli', p=0.2)]
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from banditops.bandit.validators import check_drift_value

RewardKind = Literal["bernoulli", "gaussian"]
REWARD_KINDS: tuple[str, ...] = ("bernoulli", "gaussian")


class BernoulliArm(BaseModel):
    """An arm that pays 1 with probability ``p`` and 0 otherwise (a banner click)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["bernoulli"] = "bernoulli"
    p: float = Field(ge=0.0, le=1.0, description="click probability, in [0, 1]")

    @field_validator("p", mode="before")
    @classmethod
    def _valid(cls, value: object) -> float:
        """The one rule of a drift's value (:func:`check_drift_value`), so every entry point words it alike."""
        return check_drift_value("bernoulli", "p", value)

    @property
    def mean(self) -> float:
        return self.p

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return (rng.random(size) < self.p).astype(np.float64)

    def with_mean(self, value: float) -> BernoulliArm:
        return BernoulliArm(p=value)


class GaussianArm(BaseModel):
    """An arm that pays a Normal(mean, sd) reward (the slot machines of the seed scenario)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["gaussian"] = "gaussian"
    mean: float = Field(description="expected reward, any finite number")
    sd: float = Field(default=1.0, gt=0.0, description="standard deviation, > 0")

    @field_validator("mean", "sd", mode="before")
    @classmethod
    def _valid(cls, value: object, info: ValidationInfo) -> float:
        """The one rule of a drift's value (:func:`check_drift_value`), so every entry point words it alike."""
        return check_drift_value("gaussian", str(info.field_name), value)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.normal(self.mean, self.sd, size)

    def with_mean(self, value: float) -> GaussianArm:
        return GaussianArm(mean=value, sd=self.sd)


Arm = Annotated[BernoulliArm | GaussianArm, Field(discriminator="kind")]
_ARMS = TypeAdapter(list[Arm])

#: Piecewise-stationary "Problem 1" of Besson et al. (2022): K=3, breakpoints every 1,000 pulls.
PROBLEM1_MEANS: tuple[tuple[float, ...], ...] = (
    (0.3, 0.5, 0.9),
    (0.3, 0.2, 0.9),
    (0.3, 0.2, 0.1),
    (0.7, 0.2, 0.1),
    (0.7, 0.5, 0.1),
)
PROBLEM1_PERIOD = 1000

SCENARIOS: tuple[str, ...] = ("seed", "banners", "problem1")


def scenario(name: str) -> list[BernoulliArm | GaussianArm]:
    """The arms of a named scenario.

    ``seed`` is the origin documents' slot machine (5 Gaussian arms, sd 1, arm 1 best; their
    drift makes arm 1 pay 0.0 and arm 0 pay 6.0). ``banners`` is 10 Bernoulli banners with
    click rates from 1% to 5%. ``problem1`` is the first segment of the piecewise benchmark.
    """
    if name == "seed":
        return [GaussianArm(mean=m, sd=1.0) for m in (2.0, 4.0, 1.0, 3.0, 0.5)]
    if name == "banners":
        rates = np.round(np.linspace(0.01, 0.05, 10), 4)
        order = [3, 7, 1, 9, 0, 5, 2, 8, 4, 6]  # the best banner is not the last one
        return [BernoulliArm(p=float(rates[i])) for i in order]
    if name == "problem1":
        return [BernoulliArm(p=p) for p in PROBLEM1_MEANS[0]]
    raise ValueError(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")


def parse_arms(payload: str | list[dict[str, Any]]) -> list[BernoulliArm | GaussianArm]:
    """Arms from JSON text or a list of dicts; raises ``ValueError`` with what is valid."""
    valid = 'arms must be a non-empty JSON list like [{"kind": "gaussian", "mean": 1, "sd": 1}]'
    try:
        raw = json.loads(payload) if isinstance(payload, str) else payload
    except json.JSONDecodeError as exc:
        raise ValueError(f"{valid}; the text is not JSON ({exc})") from exc
    if not isinstance(raw, list) or not raw:
        raise ValueError(valid)
    try:
        return list(_ARMS.validate_python(raw))
    except ValidationError as exc:  # pydantic's messages name the field and the valid values
        problems = "; ".join(f"{_where(e['loc'], len(raw))}: {_why(e)}" for e in exc.errors())
        raise ValueError(f"invalid arms: {problems}. {_VALID_ARMS}") from exc


_VALID_ARMS = 'Valid arms: {"kind": "bernoulli", "p": 0..1} or {"kind": "gaussian", "mean": finite, "sd": > 0}'


def _why(error: ErrorDetails) -> str:
    """Pydantic's message, or for the value rule (:func:`check_drift_value`) its own words unprefixed."""
    if error["type"] == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    return error["msg"]


def _where(loc: tuple[int | str, ...], n_arms: int) -> str:
    """``(0, "gaussian", "sd")`` → ``arm 0 (gaussian) sd``: which arm and field, as a person says it.

    A single arm (a drift or a new arm, whose own index is not its place in this list) is ``arm``.
    """
    parts = [f"arm {loc[0]}" if n_arms > 1 and loc and isinstance(loc[0], int) else "arm"]
    parts += [f"({x})" if x in REWARD_KINDS else str(x) for x in loc[1:]]
    return " ".join(parts)


def reward_kind(arms: list[BernoulliArm | GaussianArm]) -> RewardKind:
    """The single reward kind of an instance; mixed instances are refused."""
    kinds = {a.kind for a in arms}
    if len(kinds) != 1:
        raise ValueError(f"all arms must have the same kind, one of {REWARD_KINDS}; got {sorted(kinds)}")
    return arms[0].kind


def means(arms: list[BernoulliArm | GaussianArm]) -> np.ndarray:
    return np.array([a.mean for a in arms], dtype=np.float64)
