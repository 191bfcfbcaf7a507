"""``POST /recommend``: rank k arms for one user from the cached posterior, never waiting on Redis.

This is the hot path (thousands of requests per second on one core), so it reads its body and
its runtime by hand: pydantic parses and validates the raw JSON in one call, skipping FastAPI's
dependency solver and ``json.loads`` round (about a third of the endpoint's CPU). The OpenAPI
schema still documents the body, and invalid bodies get FastAPI's usual 422 answer. Accepted
requests do not even reach FastAPI: :class:`RecommendFastPath` answers them in plain ASGI with the
same functions (``_decide``, ``_publish``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from banditops.serving.recommender import ArmNamesUnknownError, Recommendation
from services.common.body_limit import replay
from services.decision.app.api.deps import ERROR_RESPONSES
from services.decision.app.models import CandidateArm, RecommendRequest, RecommendResponse
from services.decision.app.runtime import Runtime

router = APIRouter(prefix="/recommend", tags=["decisions"])
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": RecommendRequest.model_json_schema()}},
    }
}


async def _read_body(receive: Receive) -> bytes:
    # One small JSON body almost always arrives in one message; Request.body() would wrap the
    # same receive() in an async generator and a join.
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


@router.post("", response_model=RecommendResponse, openapi_extra=_BODY,
             responses={413: ERROR_RESPONSES[413], 422: ERROR_RESPONSES[422],
                        503: {"description": "a candidate name cannot be mapped yet (the replica has not read "
                                             "the arms from the store since it started); retry"}})
async def recommend(request: Request) -> Response:
    """The ``k`` arms ranked by ONE Thompson draw, or the static ranking (``fallback: true``).

    The decision is logged (with its propensity) by a background writer, so feedback for it is
    accepted and off-policy evaluation sees every impression, fallbacks included.
    """
    runtime: Runtime = request.app.state.runtime
    try:
        body = RecommendRequest.model_validate_json(await _read_body(request.receive))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    try:
        rec = _decide(runtime, body)
    except ValueError as exc:  # nothing was logged: a refusal writes nothing
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except ArmNamesUnknownError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "1"}) from exc
    return Response(_publish(runtime, body, rec), media_type="application/json")


def _publish(runtime: Runtime, body: RecommendRequest, rec: Recommendation) -> bytes:
    """Log and count an accepted decision; its JSON answer, serialised by hand (the response is
    tiny and orjson is the cheapest path; the model documents it)."""
    runtime.log.record(rec.decision(body.user_id))
    runtime.metrics.count(rec)
    return orjson.dumps({"decision_id": rec.decision_id, "arms": rec.names, "propensity": rec.propensity,
                         "propensities": rec.propensities, "epoch": rec.epoch, "fallback": rec.fallback})


_JSON_HEADERS = [(b"content-type", b"application/json")]


class RecommendFastPath:
    """``POST /recommend`` answered in plain ASGI when the request is accepted; anything else goes to the app.

    Why: on the accepted path FastAPI/Starlette's exception middleware, per-request exit stack,
    router, ``Request`` and ``Response`` objects cost tens of microseconds per request, as much as a
    contextual decision itself. An accepted request is answered here with the very functions the
    route calls (same body, same headers); a refused or failing one (422, 503, a bug's 500) is
    handed, with its body replayed, to the app, whose route refuses it again the usual way
    (FastAPI's error bodies). A refusal logs nothing, so answering it twice changes nothing.
    Sits inside the body cap and the latency middleware, so both still see every request.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/recommend" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        try:
            body = RecommendRequest.model_validate_json(raw)
            rec = _decide(self.runtime, body)
        except Exception:  # the app answers every refusal (and any bug) itself
            await self.app(scope, replay(raw, receive), send)
            return
        payload = _publish(self.runtime, body, rec)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS]})
        await send({"type": "http.response.body", "body": payload})


def _decide(runtime: Runtime, body: RecommendRequest) -> Recommendation:
    """Non-contextual Thompson Sampling without a context, Linear Thompson Sampling with one.

    Names in, names out: candidates are arm names (integers read as the default names ``"0"``,
    ``"1"``, ...); the recommender resolves them to the internal indices the posterior and the
    decision log work on, and the answer carries the names.
    """
    recommender = runtime.recommender
    candidates = body.candidates
    if body.context is None:
        names: list[str] | None = None
        if candidates is not None:
            if any(isinstance(c, CandidateArm) and c.features for c in candidates):
                raise ValueError("candidate arm features are used by the contextual model only: send a 'context' "
                                 "with them, or send candidates as plain arm names")
            names = [c.arm if isinstance(c, CandidateArm) else c for c in candidates]
        indices = None if names is None else recommender.candidate_indices(names)
        return recommender.recommend(body.user_id, body.k, indices)
    arms: list[str] | None = None
    features: dict[str, dict[str, float]] | None = None
    if candidates is not None:
        arms = [c.arm if isinstance(c, CandidateArm) else c for c in candidates]
        with_features = {c.arm: c.features for c in candidates if isinstance(c, CandidateArm) and c.features}
        features = with_features or None
    return recommender.recommend_in_context(body.user_id, body.k, body.context, arms, features)
