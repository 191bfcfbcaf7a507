"""All routers of the environment service."""

from __future__ import annotations

from fastapi import APIRouter

from services.environment.app.api.routes import arms, events, ledger, ops, pulls, scenario

api_router = APIRouter()
api_router.include_router(pulls.router)
api_router.include_router(arms.router)
api_router.include_router(arms.update_router)
api_router.include_router(scenario.router)
api_router.include_router(events.router)
api_router.include_router(ledger.router)
api_router.include_router(ops.router)
