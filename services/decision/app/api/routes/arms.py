"""``/arms``: the arms as the service sees them; add a banner or retire one at runtime, by name.

A new arm starts from the prior (the store keeps per-arm totals; a new index has none); a
retired arm is never recommended again but keeps its totals and its name, which can never be
given to another arm (409). Both changes reach every replica through the store's change
channel; this replica refreshes at once.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool

from banditops.store.acl import is_permission_error
from banditops.store.connection import RedisError
from services.common.auth import ADMIN_RESPONSES as AUTH_RESPONSES
from services.decision.app.api.deps import ERROR_RESPONSES, STORE_DOWN, AdminDep, RuntimeDep
from services.decision.app.models import AddArmRequest, ArmChanged, ArmInfo, ArmName, ArmsResponse
from services.decision.app.runtime import Runtime

router = APIRouter(prefix="/arms", tags=["arms"])
#: The answer when the service's Redis user is the least-privilege ``decision`` user (compose, Helm).
ARMS_READ_ONLY = (
    "this decision service's Redis user may only read the posterior and write decisions and feedback "
    "(least privilege), so it cannot add or retire arms; add or retire them by name where the state is "
    "written: `banditops arms add NAME` / `banditops arms retire NAME`, the bandit_add_arm DAG in Airflow "
    "(Param name) or the dashboard's add-arm control"
)
ADMIN_RESPONSES: dict[int | str, dict[str, str]] = {
    **ERROR_RESPONSES, **AUTH_RESPONSES,
    403: {"description": "no admin token configured, or the service's Redis user may not change arms"},
    409: {"description": "the name is taken or retired (a retired name never comes back), or no experiment yet"},
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
    table = snap.arms
    return ArmsResponse(
        epoch=snap.epoch, mode=snap.mode, reward_kind=snap.reward_kind, staleness_s=runtime.cache.age_s(),
        arms=[ArmInfo(arm=table.names[a], metadata=dict(table.metadata.get(table.names[a], {})),
                      retired=a in snap.retired, pulls=int(snap.posterior.stats.n[a]), mean=float(means[a]),
                      prob_best=float(snap.prob_best[a])) for a in range(snap.n_arms)],
    )


def _change(runtime: Runtime, action: str, name: str | None, metadata: dict[str, object] | None = None) -> str:
    """Add or retire by name; returns the arm's name. The store refuses (nothing written) with a
    ``ValueError``: a taken or retired name is a conflict (409), anything else invalid input (422)."""
    try:
        if action == "add":
            index = runtime.store.add_arm(name, metadata)
        else:
            assert name is not None
            index = runtime.store.retire_arm(name)
        runtime.cache.refresh()
    except ValueError as exc:
        message = str(exc)
        conflict = action == "add" and ("already exists" in message or "is retired" in message)
        code = status.HTTP_409_CONFLICT if conflict else status.HTTP_422_UNPROCESSABLE_CONTENT
        raise HTTPException(code, message) from exc
    except LookupError as exc:  # no experiment in the namespace yet
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except RedisError as exc:
        if is_permission_error(exc):  # deployed: this service's Redis user may not change the state
            raise HTTPException(status.HTTP_403_FORBIDDEN, ARMS_READ_ONLY) from exc
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, STORE_DOWN, headers={"Retry-After": "1"}) from exc
    return name if name is not None else runtime.arm_table(fresh=True).name(index)


@router.post("", response_model=ArmChanged, status_code=status.HTTP_201_CREATED, responses=ADMIN_RESPONSES)
async def add_arm(runtime: RuntimeDep, _: AdminDep, body: AddArmRequest | None = None) -> ArmChanged:
    """Add an arm (a new banner) by name, with optional metadata; it starts from the prior (a
    cold start: Thompson Sampling explores it) and is recommended from now on. No body: the arm
    is named by its index, as in an experiment started with integer arms."""
    body = body or AddArmRequest()
    arm = await run_in_threadpool(_change, runtime, "add", body.name, body.metadata)
    return ArmChanged(arm=arm, retired=False)


@router.post("/{name}/retire", response_model=ArmChanged, responses=ADMIN_RESPONSES)
async def retire_arm(name: ArmName, runtime: RuntimeDep, _: AdminDep) -> ArmChanged:
    """Retire an arm by name: never recommended again (its totals and its name are kept; the name
    can never be added again). Retiring twice is harmless. Unknown names: 422 naming the valid arms."""
    await run_in_threadpool(_change, runtime, "retire", name)
    return ArmChanged(arm=name, retired=True)
