"""Health (one route for compose and Kubernetes probes) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.environment.app.api.deps import MetricsDep, WorldDep
from services.environment.app.models import Health

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health, summary="Liveness and readiness")
async def healthz() -> Health:
    return Health()


@router.get("/metrics", response_model=str, response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics_text(metrics: MetricsDep, world: WorldDep) -> Response:
    metrics.observe_truth(world.truth())
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
