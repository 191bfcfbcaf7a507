"""Ground truth and changes to the arms: drift (``PATCH``, and the origin docs' ``/update_arm``), new arms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from banditops.bandit.arms import Arm
from services.environment.app.api.deps import ADMIN_RESPONSES, AdminDep, MetricsDep, WorldDep, world_errors
from services.environment.app.models import ArmPatch, Event, MeanUpdate, TruthOut

router = APIRouter(prefix="/arms", tags=["arms"])
#: ``POST /update_arm/{arm}`` keeps the exact path the origin documents call with curl.
update_router = APIRouter(tags=["arms"])


@router.get("", response_model=TruthOut, summary="Ground truth")
def get_arms(world: WorldDep) -> dict[str, Any]:
    """The arms, their means, the best arm, the pull counters and the scenario."""
    return world.truth()


@router.patch("/{arm}", response_model=Event, responses=ADMIN_RESPONSES, summary="Change any parameter of an arm")
def patch_arm(arm: int, patch: ArmPatch, world: WorldDep, metrics: MetricsDep, _admin: AdminDep) -> dict[str, Any]:
    """A drift: new ``mean``/``sd`` (Gaussian) or ``p`` (Bernoulli); logged as a ``drift`` event."""
    with world_errors():
        event = world.update_arm(arm, **patch.model_dump(exclude_none=True))
    metrics.observe_event(event, world.truth())
    return event


@router.post("", response_model=Event, status_code=status.HTTP_201_CREATED, responses=ADMIN_RESPONSES,
             summary="Add an arm")
def post_arm(arm: Arm, world: WorldDep, metrics: MetricsDep, _admin: AdminDep) -> dict[str, Any]:
    """Append an arm of the world's kind (a new banner); the event's ``arm`` is its index."""
    with world_errors():
        event = world.add_arm(arm)
    metrics.observe_event(event, world.truth())
    return event


@update_router.post("/update_arm/{arm}", response_model=Event, responses=ADMIN_RESPONSES,
                    summary="Set an arm's mean (origin docs' drift call)")
def update_arm(arm: int, update: MeanUpdate, world: WorldDep, metrics: MetricsDep,
               _admin: AdminDep) -> dict[str, Any]:
    """``curl -X POST /update_arm/1 -H 'Content-Type: application/json' -d '{"mean": 0.0}'``."""
    with world_errors():
        event = world.update_arm(arm, mean=update.mean)
    metrics.observe_event(event, world.truth())
    return event
