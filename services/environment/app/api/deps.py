"""Dependencies as named types, so a route's signature reads like its contract.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, and
that hop cost more than the whole pull on the hot path. None of them blocks.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.environment.app.core.config import Settings
from services.environment.app.metrics import EnvMetrics
from services.environment.app.world import UnknownArmError, World

_bearer = HTTPBearer(auto_error=False, description="BANDITOPS_ENV_ADMIN_TOKEN (required when the service sets one)")


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


async def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Admin calls (drift, add arm, reset) need ``Authorization: Bearer <token>`` when a token is set."""
    expected = settings.admin_token
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this admin call needs the header 'Authorization: Bearer <BANDITOPS_ENV_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Annotated[None, Depends(require_admin)]


@contextmanager
def world_errors() -> Iterator[None]:
    """The world's refusals as HTTP answers: unknown arm → 404, bad value → 422 (state unchanged)."""
    try:
        yield
    except UnknownArmError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "unknown arm"},
    422: {"description": "invalid input; the message says what is valid"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, str]] = {
    **ERROR_RESPONSES,
    401: {"description": "missing or wrong admin token"},
}
