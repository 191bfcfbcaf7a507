"""``/arms``: the arms as the service sees them; add a banner or retire one at runtime.

A new arm starts from the prior (the store keeps per-arm totals; a new index has none); a
retired arm is never recommended again but keeps its totals. Both changes reach every replica
through the store's change channel; this replica refreshes at once.
"""

from __future__ import annotations

import redis
from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool

from banditops.store.acl import is_permission_error
from services.common.auth import ADMIN_RESPONSES as AUTH_RESPONSES
from services.decision.app.api.deps import ERROR_RESPONSES, STORE_DOWN, AdminDep, RuntimeDep
from services.decision.app.models import ArmChanged, ArmInfo, ArmsResponse
from services.decision.app.runtime import Runtime

router = APIRouter(prefix="/arms", tags=["arms"])
#: The answer when the service's Redis user is the least-privilege ``decision`` user (compose, Helm).
ARMS_READ_ONLY = (
    "this decision service's Redis user may only read the posterior and write decisions and feedback "
    "(least privilege), so it cannot add or retire arms; do it where the state is written: the dashboard's "
    "add-arm control or the bandit_add_arm DAG in Airflow, or the admin Redis user"
)
ADMIN_RESPONSES: dict[int | str, dict[str, str]] = {
    **ERROR_RESPONSES, **AUTH_RESPONSES,
    403: {"description": "no admin token configured, or the service's Redis user may not change arms"},
    503: {"description": "the state store is unreachable; retry later"},
}


@router.get("", response_model=ArmsResponse, responses={503: ERROR_RESPONSES[503]})
async def list_arms(runtime: RuntimeDep) -> ArmsResponse:
    """Every arm of the cached posterior: retired or not, pulls, posterior mean, P(best)."""
    snap = runtime.cache.current
    if snap is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no posterior yet: the store has not been reached or holds no experiment",
                            headers={"Retry-After": "1"})
    means = snap.posterior.mean()
    return ArmsResponse(
        epoch=snap.epoch, mode=snap.mode, reward_kind=snap.reward_kind, staleness_s=runtime.cache.age_s(),
        arms=[ArmInfo(arm=a, retired=a in snap.retired, pulls=int(snap.posterior.stats.n[a]), mean=float(means[a]),
                      prob_best=float(snap.prob_best[a])) for a in range(snap.n_arms)],
    )


def _change(runtime: Runtime, action: str, arm: int | None = None) -> int:
    try:
        if action == "add":
            arm = runtime.store.add_arm()
        else:
            assert arm is not None
            runtime.store.retire_arm(arm)
        runtime.cache.refresh()
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except LookupError as exc:  # no experiment in the namespace yet
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except redis.RedisError as exc:
        if is_permission_error(exc):  # deployed: this service's Redis user may not change the state
            raise HTTPException(status.HTTP_403_FORBIDDEN, ARMS_READ_ONLY) from exc
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STORE_DOWN, headers={"Retry-After": "1"}) from exc
    return arm


@router.post("", response_model=ArmChanged, status_code=status.HTTP_201_CREATED, responses=ADMIN_RESPONSES)
async def add_arm(runtime: RuntimeDep, _: AdminDep) -> ArmChanged:
    """Add an arm (a new banner); it starts from the prior and is recommended from now on."""
    arm = await run_in_threadpool(_change, runtime, "add")
    return ArmChanged(arm=arm, retired=False)


@router.post("/{arm}/retire", response_model=ArmChanged, responses=ADMIN_RESPONSES)
async def retire_arm(arm: int, runtime: RuntimeDep, _: AdminDep) -> ArmChanged:
    """Retire an arm: never recommended again (its totals are kept). Retiring twice is harmless."""
    await run_in_threadpool(_change, runtime, "retire", arm)
    return ArmChanged(arm=arm, retired=True)
