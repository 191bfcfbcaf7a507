"""The log of world changes, so the lifecycle can measure detection delay in pulls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.environment.app.api.deps import WorldDep
from services.environment.app.models import EventsOut

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=EventsOut, summary="Drifts, added arms and resets, oldest first")
def get_events(world: WorldDep) -> dict[str, Any]:
    return {"events": world.events()}
