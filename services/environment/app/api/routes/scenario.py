"""Reset the world to a scenario (counters to zero, generator reseeded)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.environment.app.api.deps import ADMIN_RESPONSES, AdminDep, MetricsDep, SettingsDep, WorldDep, world_errors
from services.environment.app.models import ScenarioIn, TruthOut

router = APIRouter(prefix="/scenario", tags=["scenario"])


@router.post("", response_model=TruthOut, responses=ADMIN_RESPONSES, summary="Reset to a scenario")
def post_scenario(body: ScenarioIn, world: WorldDep, metrics: MetricsDep, settings: SettingsDep,
                  _admin: AdminDep) -> dict[str, Any]:
    """A named scenario (``seed``, ``banners``, ``problem1``) or posted ``arms``; the new ground truth."""
    seed = body.seed if body.seed is not None else settings.seed
    with world_errors():
        truth = world.reset(body.name, seed=seed, arms=body.arms)
    metrics.observe_event(world.events()[-1], truth)
    return truth
