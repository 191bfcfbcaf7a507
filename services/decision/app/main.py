"""The decision service: serves bandit decisions to real traffic within a latency budget.

Run it with ``python -m uvicorn services.decision.app.main:app --host 127.0.0.1 --port 8001``.
One process per container (scale with replicas): the cached posterior, the decision-log
buffer and the metrics are per process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from services.common.body_limit import BodyLimitMiddleware
from services.common.latency import LatencyMiddleware
from services.decision.app.api.main import api_router
from services.decision.app.api.routes.recommend import RecommendFastPath, recommend
from services.decision.app.core.config import Settings, get_settings
from services.decision.app.runtime import Runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    """A service with its own runtime (store client, cache, log, metrics); tests build several."""
    settings = settings or get_settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="BanditOps decision API",
        version="0.1.0",
        description=(
            "Ranks banners for real users by one Thompson draw from the shared posterior (cached "
            "in-process, never waiting on Redis), with a static fallback, delayed feedback, and "
            "Prometheus metrics. Admin calls need `Authorization: Bearer "
            "<BANDITOPS_DECISION_ADMIN_TOKEN>`; without that setting they are off (403). "
            "Bodies over `BANDITOPS_DECISION_MAX_BODY_BYTES` get a 413."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.include_router(api_router)
    # Accepted /recommend requests are answered by RecommendFastPath (below); the ones it hands on
    # (refusals) reach the same endpoint function as a plain Starlette route placed first: it takes
    # only the Request, so FastAPI's dependency solver has nothing to do. The APIRoute behind it
    # stays for the OpenAPI schema; errors go through FastAPI's handlers (422 with the usual body).
    app.router.routes.insert(0, Route("/recommend", recommend, methods=["POST"], include_in_schema=False))
    # Innermost of ours: accepted /recommend requests are answered there in plain ASGI (see its docstring).
    app.add_middleware(RecommendFastPath, runtime=runtime)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       variable="BANDITOPS_DECISION_MAX_BODY_BYTES")
    app.add_middleware(LatencyMiddleware, metrics=runtime.metrics)
    return app


app = create_app()
