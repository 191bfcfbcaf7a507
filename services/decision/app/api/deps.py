"""Dependencies as named types, so a route's signature reads like its contract.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool,
which would cost the hot ``/recommend`` path a thread hop per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.decision.app.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="BANDITOPS_DECISION_ADMIN_TOKEN (required when set)")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_admin(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Admin calls (add / retire arms) need ``Authorization: Bearer <token>`` when a token is set."""
    expected = runtime.settings.admin_token
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this admin call needs the header 'Authorization: Bearer <BANDITOPS_DECISION_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Annotated[None, Depends(require_admin)]

STORE_DOWN = "the state store is unreachable; retry in a second (Retry-After)"
ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    422: {"description": "invalid input; the message says what is valid"},
    503: {"description": "the state store is unreachable; retry later"},
}
