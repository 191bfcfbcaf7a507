"""``/healthz`` (one route for compose and Kubernetes probes) and ``/metrics`` (Prometheus).

Health is about this process serving, not about Redis: while the store is down the service
still answers (with fallbacks), so restarting it would not help. The body says which mode it
is in; the metrics and alerts carry the rest.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.decision.app.api.deps import RuntimeDep
from services.decision.app.models import HealthResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz(runtime: RuntimeDep) -> HealthResponse:
    """Always 200 while the process serves; ``posterior`` says whether answers are live or fallbacks."""
    snap = runtime.cache.current
    age = runtime.cache.age_s()
    live = runtime.recommender.live() is not None
    return HealthResponse(
        posterior="live" if live else ("stale" if snap is not None else "none"),
        staleness_s=age if math.isfinite(age) else None,
        epoch=snap.epoch if snap is not None else None,
        store_error=runtime.cache.last_error,
        decisions_buffered=runtime.log.buffered,
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format: latency, decisions per arm, fallbacks, staleness, feedback lag, events."""
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
