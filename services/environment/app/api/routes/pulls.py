"""Pulling arms: the agents' one call per round (``POST /pulls``) and the single pull of the origin docs.

``POST /pulls`` reads its body with orjson and checks it with numpy instead of letting pydantic
validate a 1,000-element list: the route is the hot path of every agent round. ``PullsIn`` still
documents the body in the OpenAPI schema, and bad input still gets a 422 saying what is valid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Request, status

from services.environment.app.api.deps import ERROR_RESPONSES, MetricsDep, WorldDep, world_errors
from services.environment.app.api.responses import NumpyJSONResponse
from services.environment.app.models import PullOut, PullsIn, PullsOut

router = APIRouter(tags=["pulls"])

_EXAMPLE = 'send {"arms": [0, 1, 2]}'
_PLAIN_BYTES = b'0123456789,[]{}:" \t\r\narms'


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


#: Headers an agent sends with its pulls, so the ledger can book them (``app/ledger.py``).
EPOCH_HEADER, BATCH_HEADER = "x-banditops-epoch", "x-banditops-batch"
MAX_BATCH_ID = 256


def ledger_keys(request: Request) -> tuple[int | None, str | None]:
    """The epoch and batch id the agent named (``None`` when absent); 422 when malformed."""
    raw_epoch, batch_id = request.headers.get(EPOCH_HEADER), request.headers.get(BATCH_HEADER)
    epoch = None
    if raw_epoch is not None:
        if not raw_epoch.isdigit() or len(raw_epoch) > 18:
            raise _unprocessable(f"header X-BanditOps-Epoch must be the epoch the batch was sampled under, an "
                                 f"integer >= 0; got {raw_epoch[:40]!r}")
        epoch = int(raw_epoch)
    if batch_id is not None and not 1 <= len(batch_id) <= MAX_BATCH_ID:
        raise _unprocessable(f"header X-BanditOps-Batch must be a batch id of 1..{MAX_BATCH_ID} characters")
    return epoch, batch_id


def parse_batch(body: bytes, max_batch: int) -> np.ndarray:
    """The arm indices of a ``POST /pulls`` body as an int64 array; ``HTTPException`` 422 otherwise."""
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _unprocessable(f"the body is not valid JSON ({exc}); {_EXAMPLE}") from exc
    if not isinstance(payload, dict) or set(payload) != {"arms"}:
        raise _unprocessable(f'the body must be a JSON object with exactly one key, "arms"; {_EXAMPLE}')
    arms = payload["arms"]
    if not isinstance(arms, list) or not 1 <= len(arms) <= max_batch:
        size = len(arms) if isinstance(arms, list) else type(arms).__name__
        raise _unprocessable(f'"arms" must be a list of 1..{max_batch} arm indices, got {size}; {_EXAMPLE}')
    # Fast path: a body made only of digits, separators and the one key holds no floats, strings,
    # booleans or nulls (each needs a character outside this set), so numpy can take the list as is.
    plain = not body.translate(None, _PLAIN_BYTES) and body.count(b'"') == 2
    if not plain and set(map(type, arms)) != {int}:  # bool is a subclass of int: compare exact types
        raise _unprocessable(f'"arms" must hold only integer arm indices (no floats, strings, booleans, nulls); '
                             f"{_EXAMPLE}")
    try:
        indices = np.array(arms, dtype=np.int64)
    except OverflowError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown arm: an index does not fit in 64 bits") from exc
    except (TypeError, ValueError) as exc:  # nested lists or objects that passed the fast path
        raise _unprocessable(f'"arms" must be a flat list of integer arm indices; {_EXAMPLE}') from exc
    if indices.ndim != 1:
        raise _unprocessable(f'"arms" must be a flat list of integer arm indices; {_EXAMPLE}')
    return indices


@router.post(
    "/pulls",
    response_model=PullsOut,
    response_class=NumpyJSONResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PullsIn.model_json_schema()}},
        }
    },
    summary="Pull a batch of arms",
)
async def post_pulls(request: Request, world: WorldDep, metrics: MetricsDep) -> NumpyJSONResponse:
    """Rewards of a batch of arm indices, the batch's expected pseudo-regret and the total pull count.

    Agents name the epoch they sampled under and their batch id in the headers ``X-BanditOps-Epoch``
    and ``X-BanditOps-Batch``; the batch is then booked in ``GET /ledger`` under both.
    """
    epoch, batch_id = ledger_keys(request)
    indices = parse_batch(await request.body(), world.max_batch)
    with world_errors():
        outcome = world.pulls(indices)
    metrics.observe_pulls(outcome)
    request.app.state.ledger.book(epoch, batch_id, int(indices.size), float(outcome.reward_per_arm.sum()))
    return NumpyJSONResponse({"rewards": outcome.rewards, "regret": outcome.regret,
                              "total_pulls": outcome.total_pulls})


@router.post("/pull/{arm}", response_model=PullOut, response_class=NumpyJSONResponse, responses=ERROR_RESPONSES,
             summary="Pull one arm")
async def post_pull(arm: int, request: Request, world: WorldDep, metrics: MetricsDep) -> NumpyJSONResponse:
    """One pull of ``arm`` (the origin documents' example; agents use ``POST /pulls``)."""
    with world_errors():
        outcome = world.pull(arm)
    metrics.observe_pulls(outcome)
    request.app.state.ledger.book(None, None, 1, float(outcome.rewards[0]))
    return NumpyJSONResponse({"arm": arm, "reward": float(outcome.rewards[0]), "regret": outcome.regret,
                              "total_pulls": outcome.total_pulls})
