"""The request-latency middleware both FastAPI services run, in plain ASGI.

Plain ASGI, not ``BaseHTTPMiddleware``: it costs microseconds, not a task per request, which
matters at thousands of requests per second. What is recorded, and under which labels, is each
service's own business (its metrics object's ``observe_request``); timing the request and
catching its status, including the 500 of a request that raised, is shared here once.
"""

from __future__ import annotations

import time
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestObserver(Protocol):
    """A service's metrics: told of every finished HTTP request."""

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None: ...


class LatencyMiddleware:
    """Time every HTTP request and hand its scope, status and duration to the service's metrics.

    A request that raises before it answers is recorded with status 500. Place it outermost, so
    what the inner middlewares refuse (the body cap's 413) is counted too.
    """

    def __init__(self, app: ASGIApp, metrics: RequestObserver) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.observe_request(scope, status, time.perf_counter() - start)
