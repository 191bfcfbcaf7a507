"""The loop's transitions: convergence → MONITORING, drift → RELEARNING, experiment start.

Each transition is guarded by the epoch it was decided under, so a slow task can never mark or
reopen a posterior it did not look at.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from banditops.bandit.arms import SCENARIOS, BernoulliArm, GaussianArm, parse_arms, reward_kind, scenario
from banditops.bandit.convergence import ConvergenceVerdict, check_convergence
from banditops.bandit.validators import is_integer
from banditops.clients.env_client import EnvironmentLog, EnvironmentReset
from banditops.loop.arm_choice import posterior_of
from banditops.store.protocols import EventStore, StoreLike
from banditops.store.types import ExperimentConfig, Mode, StoreState

log = logging.getLogger(__name__)


# -- convergence --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvergenceOutcome:
    """The verdict on the current posterior and whether this call switched to MONITORING."""

    verdict: ConvergenceVerdict | None
    marked: bool
    mode: str
    epoch: int
    epoch_pulls: int
    total_pulls: int

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict.to_dict() if self.verdict is not None else None
        return {"verdict": verdict, "marked": self.marked, "mode": self.mode, "epoch": self.epoch,
                "epoch_pulls": self.epoch_pulls, "total_pulls": self.total_pulls}


def check_and_mark_convergence(store: StoreLike, rng: np.random.Generator, *, draws: int = 4000) -> ConvergenceOutcome:
    """In LEARNING, check convergence and, when reached, switch to MONITORING (guarded by epoch).

    The switch is refused by the store if a relearning opened a new epoch meanwhile, so a slow
    check can never mark a posterior it did not look at.
    """
    state: StoreState = store.state()
    if state.mode != Mode.LEARNING:
        return ConvergenceOutcome(None, False, str(state.mode), state.epoch, state.epoch_pulls, state.total_pulls)
    cfg = state.config
    verdict = check_convergence(
        posterior_of(state), rng, delta=cfg.convergence_delta, value_threshold=cfg.value_remaining_threshold,
        min_pulls_per_arm=cfg.min_pulls_per_arm, draws=draws, retired=tuple(sorted(state.retired)),
    )
    marked = False
    if verdict.converged:
        marked = bool(store.set_mode(
            Mode.MONITORING, reason="converged", expected_epoch=state.epoch,
            leader=int(verdict.leader), prob_best=float(verdict.prob_best),
            value_remaining_p95=float(verdict.value_remaining_p95),
            pulls_to_converge=int(state.epoch_pulls), total_pulls=int(state.total_pulls), epoch=int(state.epoch),
        ))
    return ConvergenceOutcome(verdict, marked, str(Mode.MONITORING if marked else state.mode), state.epoch,
                              state.epoch_pulls, state.total_pulls)


# -- drift → relearning -------------------------------------------------------------------------
def relearning_refusal(state: StoreState, epoch: int, *, force: bool = False) -> str | None:
    """Why relearning ``epoch`` is a no-op in ``state`` (``None``: it is due): THE relearning guard.

    The relearning DAG's branch (``steps.relearning_due``) and the transition itself
    (:func:`record_drift_and_relearn`) both ask it, so the run that is skipped and the epoch that
    is not opened are decided by the same rule: the store must still be in the epoch the drift was
    sensed in, and MONITORING unless a person forced it. The store's script fences the write again
    (``expected_epoch``) against a change between this read and the write.
    """
    if state.epoch != int(epoch):
        return f"relearning of epoch {epoch} is a no-op: the store is already in epoch {state.epoch}"
    if not force and state.mode != Mode.MONITORING:
        return f"drift ignored: the store is in {state.mode}, not MONITORING"
    return None


def record_drift_and_relearn(
    store: StoreLike, *, epoch: int, reason: str = "drift_detected", force: bool = False, **drift: object
) -> int | None:
    """Open a new epoch in RELEARNING with the forced-exploration budget; returns it, or ``None``.

    Idempotent per epoch: when the store is no longer in the epoch the drift was sensed in (a
    duplicate trigger, a second relearning run), or no longer MONITORING, nothing is written.
    ``force`` (a person asked for relearning) skips the MONITORING requirement only. Every request
    names the epoch it relearns (``ValueError`` otherwise): a retried or second queued request for
    epoch E after E+1 opened is a no-op, never E+2.
    """
    if epoch is None or not is_integer(epoch):
        raise ValueError(f"a relearning request must name the epoch it relearns (an integer >= 1); got {epoch!r}")
    state: StoreState = store.state()
    refusal = relearning_refusal(state, epoch, force=force)
    if refusal is not None:
        log.info("%s", refusal)
        return None
    fields = {k: v for k, v in drift.items() if v is not None}
    opened = int(store.open_epoch(reason=reason, explore_budget=state.config.relearn_budget,
                                  expected_epoch=int(epoch), **fields))
    return opened if opened == state.epoch + 1 else None


def recorded_drift(store: EventStore, epoch: int) -> dict[str, Any] | None:
    """The drift of ``epoch`` already recorded (event ``drift_detected``), or ``None``."""
    for e in store.events(count=100_000):
        if e.kind == "drift_detected" and int(e.fields.get("epoch", -1)) == int(epoch):
            return dict(e.fields)
    return None


def drift_recorded(store: EventStore, epoch: int) -> bool:
    """Whether a drift of ``epoch`` was already recorded (event ``drift_detected``)."""
    return recorded_drift(store, epoch) is not None


def record_drift(store: StoreLike, finding: dict[str, Any], env: EnvironmentLog | None = None) -> dict[str, Any] | None:
    """Append event ``drift_detected`` once per epoch; returns the drift (the relearning's conf) or ``None``.

    With ``env`` (an ``EnvClient``), the environment's event log adds what the store cannot know:
    pulls and seconds since the world actually changed (the detection delay).
    """
    epoch = int(finding["epoch"])
    if finding.get("reacted"):
        return _record_reaction(store, finding, env)
    recorded = recorded_drift(store, epoch)
    if recorded is not None:
        # Recorded, but relearning may have failed before opening epoch + 1 (a retried task, a failed
        # trigger or run): while the store is still in this epoch, route to relearning again, with the
        # first record as its conf. Relearning is idempotent per epoch, so this opens exactly one.
        if store.state().epoch != epoch:
            return None
        recorded["epoch"] = epoch
        return recorded
    drift = {k: finding.get(k) for k in ("epoch", "arm", "change_point", "magnitude", "statistic", "detector",
                                         "pulls_before", "epoch_pulls")}
    drift["detected_at"] = time.time()
    drift.update(_delay(env))
    store.append_event("drift_detected", **{k: v for k, v in drift.items() if v is not None})
    return drift


def _delay(env: EnvironmentLog | None, at_total_pulls: int | None = None) -> dict[str, Any]:
    """Pulls and seconds from the environment's last change to now (or to ``at_total_pulls``)."""
    if env is None:
        return {}
    try:
        changes = [e for e in env.events() if e.get("kind") == "drift"]
        if not changes:
            return {}
        last = changes[-1]
        now_pulls = int(env.truth()["total_pulls"]) if at_total_pulls is None else int(at_total_pulls)
        return {"env_change_t": float(last["t"]), "pulls_since_change": now_pulls - int(last["total_pulls"]),
                "seconds_since_change": round(time.time() - float(last["t"]), 3)}
    except Exception:  # the delay is a measurement, not a precondition
        log.warning("environment event log unreachable; detection delay unknown", exc_info=True)
        return {}


def _record_reaction(store: EventStore, finding: dict[str, Any], env: EnvironmentLog | None) -> dict[str, Any] | None:
    """Record, once per epoch, a restart the agents' rounds already made (event ``drift_recorded``).

    The store reacted atomically with the round that saw the change (``drift_detected`` with
    ``reaction: restart``, ``epoch_opened`` with reason ``drift_restart``); what is left is the
    record: the detection delay the environment can tell, and the relearning run's conf that
    archives the closed phase and opens the next one in MLflow. Nothing is opened in the store.
    """
    epoch = int(finding["epoch"])
    if any(e.kind == "drift_recorded" and int(e.fields.get("epoch", -1)) == epoch for e in store.events(count=100_000)):
        return None
    reacted = next((e for e in store.events(count=100_000) if e.kind == "drift_detected"
                    and e.fields.get("reaction") == "restart" and int(e.fields.get("epoch", -1)) == epoch), None)
    drift = {k: finding.get(k) for k in ("epoch", "arm", "change_point", "magnitude", "detector", "pulls_before")}
    drift.update(reacted=True, opened_epoch=int(finding.get("opened_epoch") or epoch + 1), recorded_at=time.time())
    drift.update(_delay(env))  # pulls and seconds from the change to this record
    changed_at = drift.get("env_change_t")
    if reacted is not None:
        drift["reacted_ts"] = reacted.ts
        if isinstance(changed_at, float):  # seconds from the change to the agents' reaction
            drift["seconds_to_reaction"] = round(reacted.ts - changed_at, 3)
    store.append_event("drift_recorded", **{k: v for k, v in drift.items() if v is not None})
    return drift


# -- experiment start ---------------------------------------------------------------------------
def experiment_config(
    *,
    scenario_name: str = "seed",
    arms: str | list[dict[str, Any]] | None = None,
    **knobs: Any,
) -> tuple[ExperimentConfig, list[BernoulliArm | GaussianArm]]:
    """Validate a whole experiment request before anything is touched; ``ValueError`` says what is valid."""
    if arms:
        instance = parse_arms(arms)
    elif scenario_name in SCENARIOS:
        instance = scenario(scenario_name)
    else:
        raise ValueError(f"unknown scenario {scenario_name!r}; valid scenarios: {', '.join(SCENARIOS)}")
    kind = reward_kind(instance)
    requested = knobs.pop("reward_kind", None)
    if requested not in (None, "", kind):
        raise ValueError(f"scenario {scenario_name!r} pays {kind} rewards; reward_kind {requested!r} does not match")
    unknown = set(knobs) - set(ExperimentConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown experiment settings {sorted(unknown)}; valid: "
                         f"{', '.join(sorted(ExperimentConfig.__dataclass_fields__))}")
    config = ExperimentConfig(name=scenario_name, reward_kind=kind, n_arms=len(instance), **knobs)
    return config, instance


def start_experiment(
    store: StoreLike, env: EnvironmentReset, config: ExperimentConfig, *, scenario_name: str | None = None,
    seed: int | None = None, arms: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Reset the environment to the scenario, then the store (a new epoch, LEARNING, empty posterior)."""
    env.reset(scenario_name or config.name, seed=seed, arms=arms, new_experiment=True)
    epoch = store.reset(config)  # previous epoch + 1: batches in flight from before are refused
    return {"scenario": scenario_name or config.name, "seed": seed, "epoch": int(epoch),
            "mode": str(store.mode()), "config": config.to_dict()}
