"""Dependencies as named types, so a route's signature reads like its contract.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, and
that hop cost more than the whole pull on the hot path. None of them blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from services.common.auth import ADMIN_RESPONSES as AUTH_RESPONSES
from services.common.auth import bearer_admin
from services.environment.app.core.config import Settings
from services.environment.app.metrics import EnvMetrics
from services.environment.app.world import UnknownArmError, World, WorldNotSavedError


async def get_world(request: Request) -> World:
    world: World = request.app.state.world
    return world


async def get_metrics(request: Request) -> EnvMetrics:
    metrics: EnvMetrics = request.app.state.metrics
    return metrics


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


WorldDep = Annotated[World, Depends(get_world)]
MetricsDep = Annotated[EnvMetrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _admin_token(request: Request) -> str | None:
    token: str | None = request.app.state.settings.admin_token
    return token


#: Admin calls (drift, add arm, reset): ``Authorization: Bearer <BANDITOPS_ENV_ADMIN_TOKEN>``; off
#: (403) when the service has no token. Pulls are the agents' data plane and need none.
AdminDep = Annotated[None, bearer_admin("BANDITOPS_ENV_ADMIN_TOKEN", _admin_token)]


@contextmanager
def world_errors() -> Iterator[None]:
    """The world's refusals as HTTP answers: unknown arm → 404, bad value → 422, record down → 503 (state unchanged)."""
    try:
        yield
    except WorldNotSavedError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    except UnknownArmError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "unknown arm"},
    413: {"description": "request body over BANDITOPS_ENV_MAX_BODY_BYTES; the message states the cap"},
    422: {"description": "invalid input; the message says what is valid"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, str]] = {
    **ERROR_RESPONSES,
    409: {"description": "the change would give the running experiment a different world; the message says what to do"},
    503: {"description": "the world record in Redis could not be written; nothing was changed, retry"},
    **AUTH_RESPONSES,
}
