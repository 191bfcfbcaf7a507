"""Dependencies as named types, so a route's signature reads like its contract.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool,
which would cost the hot ``/recommend`` path a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.common.auth import bearer_admin
from services.decision.app.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _admin_token(request: Request) -> str | None:
    token: str | None = request.app.state.runtime.settings.admin_token
    return token


#: Admin calls (add / retire arms): ``Authorization: Bearer <BANDITOPS_DECISION_ADMIN_TOKEN>``;
#: off (403) when the service has no token. ``/recommend`` and ``/feedback`` are the public data plane.
AdminDep = Annotated[None, bearer_admin("BANDITOPS_DECISION_ADMIN_TOKEN", _admin_token)]

STORE_DOWN = "the state store is unreachable; retry in a second (Retry-After)"
ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    413: {"description": "request body over BANDITOPS_DECISION_MAX_BODY_BYTES; the message states the cap"},
    422: {"description": "invalid input; the message says what is valid"},
    503: {"description": "the state store is unreachable; retry later"},
}
