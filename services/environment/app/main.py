"""The environment service: a simulated slot machine with drift injection, ground truth and metrics.

Run it with ``python -m uvicorn services.environment.app.main:app --host 127.0.0.1 --port 8000``
(one process: the world is served from memory, so several workers would be several worlds).

With ``BANDITOPS_REDIS_URL`` set (always, when deployed) the world is durable: it is written to
its record in Redis before any change is answered, and a restarted service rebuilds the
recorded world — the running experiment's scenario, drifts and added arms — not the one its
settings name (``banditops.store.world_journal``). A start that cannot read the record fails,
rather than serve a world the experiment is not about.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from banditops.bandit.arms import SCENARIOS, parse_arms
from banditops.store import BanditStore
from banditops.store.world_journal import WorldJournal
from services.common.body_limit import BodyLimitMiddleware
from services.common.latency import LatencyMiddleware
from services.environment.app.api.main import api_router
from services.environment.app.core.config import Settings, get_settings
from services.environment.app.ledger import Ledger
from services.environment.app.metrics import EnvMetrics
from services.environment.app.world import World


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with where and what, without echoing the input (NaN or inf in it would not render as JSON)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def unreadable_body(request: Request, exc: Exception) -> Response:
    """FastAPI answers 400 to a body it cannot decode (not UTF-8); that is a malformed body too: 422."""
    if isinstance(exc, StarletteHTTPException) and exc.status_code == status.HTTP_400_BAD_REQUEST:
        return JSONResponse({"detail": f"the body could not be read as UTF-8 JSON ({exc.detail})"},
                            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    assert isinstance(exc, StarletteHTTPException)
    return await http_exception_handler(request, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A service with its own world, metrics registry and settings (tests build several)."""
    settings = settings or get_settings()
    # posted arms keep a label of their own; a named scenario's label would misdescribe them
    name = "custom" if settings.arms is not None and settings.scenario in SCENARIOS else settings.scenario
    arms = parse_arms(settings.arms) if settings.arms is not None else None
    store: BanditStore | None = None
    if settings.redis_url:
        journal = WorldJournal.from_url(settings.redis_url, settings.namespace, max_events=settings.max_events)
        store = BanditStore(journal.client, settings.namespace)  # read only: which experiment runs
        world = World.open(journal, name, seed=settings.seed, arms=arms, max_batch=settings.max_batch,
                           max_events=settings.max_events)
    else:
        world = World.create(name, seed=settings.seed, arms=arms, max_batch=settings.max_batch,
                             max_events=settings.max_events)
    metrics = EnvMetrics()
    metrics.observe_truth(world.truth())
    app = FastAPI(
        title="BanditOps environment",
        version="0.1.0",
        description=(
            "The simulated world the bandit agents learn from: K arms with hidden reward models, "
            "batched pulls, ground truth, drift injection and an event log. Admin calls need "
            "`Authorization: Bearer <BANDITOPS_ENV_ADMIN_TOKEN>`; without that setting they are off "
            "(403). Bodies over `BANDITOPS_ENV_MAX_BODY_BYTES` get a 413."
        ),
    )
    app.state.settings = settings
    app.state.world = world
    app.state.metrics = metrics
    app.state.store = store
    app.state.ledger = Ledger(settings.ledger_batches)
    app.include_router(api_router)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, unreadable_body)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.body_cap, variable="BANDITOPS_ENV_MAX_BODY_BYTES")
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    return app


app = create_app()
