"""All routers of the decision service."""

from __future__ import annotations

from fastapi import APIRouter

from services.decision.app.api.routes import arms, feedback, health, recommend

api_router = APIRouter()
api_router.include_router(recommend.router)
api_router.include_router(feedback.router)
api_router.include_router(arms.router)
api_router.include_router(health.router)
