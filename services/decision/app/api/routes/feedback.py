"""``POST /feedback``: the reward of a decision, appended to the feedback stream once.

Feedback is refused with 503 while the store is unreachable (never buffered in memory): an
accepted answer means the reward is in Redis, so no accepted feedback can be lost by a crash
of this process. Clients retry on 503 (``Retry-After``), as they would on any transient error.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, status

from banditops.store.connection import RedisError
from banditops.store.feedback import FeedbackConflictError, UnknownDecisionError, accept_feedback
from services.decision.app.api.deps import ERROR_RESPONSES, STORE_DOWN, RuntimeDep
from services.decision.app.models import FeedbackRequest, FeedbackResponse

router = APIRouter(prefix="/feedback", tags=["decisions"])
_ARM_REFS = re.compile(r"\b(arm|slate) ([0-9]+(?:,[0-9]+)*)\b")


def _with_names(message: str, runtime: RuntimeDep) -> str:
    """The store speaks of internal indices ("arm 3 is not in the slate 3,1"); a client reads names."""
    try:
        names = runtime.arm_table().names
    except (ValueError, RedisError):
        return message

    def named(match: re.Match[str]) -> str:
        indices = [int(i) for i in match.group(2).split(",")]
        if any(i >= len(names) for i in indices):
            return match.group(0)
        return f"{match.group(1)} {','.join(names[i] for i in indices)}"

    return _ARM_REFS.sub(named, message)


@router.post(
    "",
    response_model=FeedbackResponse,
    responses={404: {"description": "unknown or expired decision_id"},
               409: {"description": "this decision already has a different reward"}, **ERROR_RESPONSES},
)
def feedback(body: FeedbackRequest, runtime: RuntimeDep) -> FeedbackResponse:
    """Record the reward of a decision; the same feedback again is a harmless ``duplicate``."""
    count = runtime.metrics.feedback.labels
    ns = runtime.settings.namespace
    try:
        # The decision record keeps internal indices: the arm's name is translated here, at the edge.
        arm = None if body.arm is None else runtime.arm_index(body.arm)
        try:
            receipt = accept_feedback(runtime.client, ns, body.decision_id, body.reward, arm=arm,
                                      position=body.position, maxlen=runtime.settings.feedback_maxlen)
        except UnknownDecisionError:
            # The decision may still sit in this replica's write buffer (or be in flight): flushing
            # writes it out, or waits for the in-flight batch; then ask again.
            runtime.log.flush()
            receipt = accept_feedback(runtime.client, ns, body.decision_id, body.reward, arm=arm,
                                      position=body.position, maxlen=runtime.settings.feedback_maxlen)
    except UnknownDecisionError as exc:
        count("unknown").inc()
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except FeedbackConflictError as exc:
        count("conflict").inc()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ValueError as exc:
        count("invalid").inc()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _with_names(str(exc), runtime)) from exc
    except RedisError as exc:
        count("unavailable").inc()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STORE_DOWN, headers={"Retry-After": "1"}) from exc
    count(receipt.status).inc()
    return FeedbackResponse(decision_id=receipt.decision_id, status=receipt.status)
