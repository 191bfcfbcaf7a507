"""Reset the world to a scenario (counters to zero, generator reseeded).

A reset must never switch the world under a running experiment by accident: its agents would pull
arms that do not exist, or learn a world their posterior is not about. When the service knows the
experiment (it reads the store's config through ``BANDITOPS_REDIS_URL``), a reset to a world of
another scenario, reward kind or arm count is refused with 409 saying what to do, unless the call
says it starts a new experiment (``new_experiment: true``; the experiment DAG sends it and resets
the store right after). A reset to the experiment's own world is allowed: it undoes the drifts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, status

from banditops.bandit.arms import reward_kind
from banditops.store.connection import RedisError
from services.environment.app.api.deps import ADMIN_RESPONSES, AdminDep, MetricsDep, SettingsDep, WorldDep, world_errors
from services.environment.app.models import ScenarioIn, TruthOut
from services.environment.app.world import resolve

if TYPE_CHECKING:
    from banditops.store.redis_store import BanditStore

router = APIRouter(prefix="/scenario", tags=["scenario"])


def check_experiment_world(store: BanditStore | None, body: ScenarioIn) -> None:
    """409 when ``body`` would give the running experiment another world (see the module docstring)."""
    if store is None or body.new_experiment:
        return
    with world_errors():
        arms, _ = resolve(body.name, body.arms)
    try:
        if not store.exists():
            return
        config = store.config()
    except RedisError as exc:
        message = f"cannot read the running experiment from Redis ({exc}); nothing was changed, retry"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, message) from exc
    kind = reward_kind(arms)
    if (body.name, kind, len(arms)) == (config.name, config.reward_kind, config.n_arms):
        return
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        f"the running experiment is on {config.name!r} ({config.n_arms} {config.reward_kind} arms); a reset to "
        f"{body.name!r} ({len(arms)} {kind} arms) would give its agents a world they do not learn. To change "
        "worlds start a new experiment with that scenario (the bandit_experiment DAG, or the dashboard's Start "
        "experiment), which resets the world and the posterior together; or reset to the experiment's own "
        "scenario to undo the drifts",
    )


@router.post("", response_model=TruthOut, responses=ADMIN_RESPONSES, summary="Reset to a scenario")
def post_scenario(body: ScenarioIn, request: Request, world: WorldDep, metrics: MetricsDep, settings: SettingsDep,
                  _admin: AdminDep) -> dict[str, Any]:
    """A named scenario (``seed``, ``banners``, ``problem1``) or posted ``arms``; the new ground truth."""
    check_experiment_world(request.app.state.store, body)
    seed = body.seed if body.seed is not None else settings.seed
    with world_errors():
        truth = world.reset(body.name, seed=seed, arms=body.arms)
    metrics.observe_event(world.events()[-1], truth)
    return truth
