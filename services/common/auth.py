"""The one admin check of the FastAPI services: ``Authorization: Bearer <token>``, closed by default.

Each service names the variable that holds its token and where its settings keep it; the check
compares in constant time (``hmac.compare_digest``), so the answer's timing says nothing about
how much of a guess was right. A service started without a token does not serve its admin routes
at all (403 naming the variable; not 503, which clients retry): a forgotten setting must never leave them open.
"""

# No ``from __future__ import annotations``: FastAPI must see the closure's ``Depends(scheme)``
# as an object, not as a string it would resolve in this module's globals.
import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

#: What the admin routes may answer besides their own results (for ``responses=``).
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong admin token"},
    403: {"description": "the service has no admin token configured: admin calls are off"},
}


def token_matches(given: str, expected: str) -> bool:
    """Constant-time equality of two tokens.

    >>> token_matches("s3cret", "s3cret"), token_matches("s3cres", "s3cret"), token_matches("", "s3cret")
    (True, False, False)
    """
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_admin(variable: str, expected_of: Callable[[Request], str | None]) -> Any:
    """A FastAPI dependency (use as ``Annotated[None, bearer_admin(...)]``) guarding one service's admin routes.

    ``variable`` is the environment variable of the token (named in every refusal, so the caller
    knows what to send); ``expected_of`` reads the configured token from the app.
    """
    scheme = HTTPBearer(auto_error=False, description=f"{variable} (the service refuses admin calls without one)")

    async def require_admin(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)]
    ) -> None:
        expected = expected_of(request)
        if not expected:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"admin calls are off: the service was started without {variable}; set it to enable them",
            )
        given = credentials.credentials if credentials else ""
        if not token_matches(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"this admin call needs the header 'Authorization: Bearer <{variable}>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(require_admin)
