"""A cap on request bodies for the ASGI services: 413 with the cap in the message, before the app reads.

A declared ``Content-Length`` over the cap is refused from the headers alone. A body without
one (chunked) is read here up to the cap and replayed to the app, so it never holds more than
``max_bytes`` of a request in memory; past the cap it is refused the same way. The app's own
body reader would turn an error raised mid-stream into a vague 400, hence the replay.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


def too_large(limit: int, size: int | None, variable: str) -> dict[str, object]:
    """The 413 body: how large the request was (when declared), the cap, and the setting that moves it.

    >>> too_large(1024, 5000, "BANDITOPS_X_MAX_BODY_BYTES")["detail"]
    'request body too large: 5000 bytes; the limit is 1024 bytes (BANDITOPS_X_MAX_BODY_BYTES)'
    """
    got = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return {"detail": f"request body too large: {got}; the limit is {limit} bytes ({variable})"}


async def send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands an app the body already read (whole, in one message), then defers to ``receive``."""
    replayed = False

    async def receive_again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


class BodyLimitMiddleware:
    """Refuse any request body over ``max_bytes`` with a 413 naming the cap and ``variable``."""

    def __init__(self, app: ASGIApp, max_bytes: int, variable: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.variable = variable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    await send_json(send, 400, {"detail": "invalid Content-Length header"})
                    return
                if size > self.max_bytes:
                    await send_json(send, 413, too_large(self.max_bytes, size, self.variable))
                    return
                await self.app(scope, receive, send)  # the server delivers at most the declared length
                return
        await self._chunked(scope, receive, send)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await send_json(send, 413, too_large(self.max_bytes, None, self.variable))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(b"".join(chunks), receive), send)
