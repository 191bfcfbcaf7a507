"""The bodies of the DAGs' tasks: Connections → store/environment/MLflow → ``banditops.loop``.

DAG files call one function here per task, so each DAG reads as a data-flow sentence and every
step can be run and tested without Airflow's scheduler. Everything returned is small JSON (XCom
carries ids, counts and verdicts, never posteriors).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from banditops.bandit.validators import check_arm_index, check_drift_value, is_integer
from banditops.loop import arm_choice, ids, transitions
from banditops.settings import get_settings
from banditops.store.types import StoreState, check_arm_name

if TYPE_CHECKING:  # the hooks import Airflow's Redis provider and the tracker MLflow: loaded per task, lazily
    from banditops.clients.env_client import EnvClient
    from banditops.loop.tracking import Tracker
    from banditops.store.redis_store import BanditStore

log = logging.getLogger(__name__)


class BadRequestError(AirflowFailException, ValueError):
    """A request (DAG Params / conf) that cannot run; raised before anything changes, never retried."""


def _store(redis_conn_id: str = "redis_default", namespace: str | None = None) -> BanditStore:
    from banditops_provider.hooks.bandit_state import BanditStateHook

    return BanditStateHook(redis_conn_id, namespace=namespace).get_store()


def _env(env_conn_id: str = "bandit_env_default") -> EnvClient:
    from banditops_provider.hooks.bandit_env import BanditEnvHook

    return BanditEnvHook(env_conn_id).get_conn()


def _tracker(store: BanditStore) -> Tracker:
    from banditops.loop.tracking import Tracker

    return Tracker(store)


def _truth(env_conn_id: str = "bandit_env_default") -> list[float] | None:
    try:
        return [float(m) for m in _env(env_conn_id).truth()["means"]]
    except Exception:  # the truth only decorates figures; its absence must not stop the loop
        log.warning("environment truth unavailable for the figure", exc_info=True)
        return None


def _rng(*parts: object) -> np.random.Generator:
    return ids.round_rng("/".join(str(p) for p in parts), get_settings().seed)


def _has_experiment(store: BanditStore) -> bool:
    return bool(store.exists())


def _arm_name(state: StoreState, arm: int | str | None) -> str | None:
    """An arm index from a conf or an event (internal) as the arm's name, for MLflow tags."""
    if arm is None:
        return None
    try:
        return str(state.config.names[int(arm)])
    except (TypeError, ValueError, IndexError):
        return str(arm)


# -- bandit_learning ----------------------------------------------------------------------------
def plan_agents(*, idle_wait_s: float = 5.0) -> list[int]:
    """The agent indices of this run (from the stored config); none before an experiment exists."""
    store = _store()
    if not _has_experiment(store):
        log.info("no experiment in the store yet; start one with the bandit_experiment DAG")
        time.sleep(idle_wait_s)  # a continuous schedule must not spin when idle
        return []
    state = store.state()
    log.info("mode %s, epoch %s, %s pulls so far; %s agents", state.mode, state.epoch, state.total_pulls,
             state.config.agents)
    return list(range(state.config.agents))


def _close_phase(store: BanditStore, epoch: int, conf: dict[str, Any]) -> bool:
    """Archive and close the MLflow phase of ``epoch`` if it is the open one (the agents restarted)."""
    tracker = _tracker(store)
    if tracker.run_ids().get("mlflow_phase_epoch") != str(epoch):
        return False  # already closed (a retry), or never opened: opening one now would be wrong
    state = store.state(epoch=epoch)
    delay = conf.get("pulls_since_change")
    tracker.end_phase(
        state, arm_choice.posterior_of(state), truth=_truth(), epoch=epoch,
        detection_delay=None if delay is None else float(delay),
        ended_by="drift" if not conf.get("force") else "manual", drift_arm=_arm_name(state, conf.get("arm")),
        drift_magnitude=conf.get("magnitude"), drift_change_point=conf.get("change_point"),
    )
    return True


def _close_left_phase(store: BanditStore, state: StoreState) -> None:
    """Close the MLflow phase of the epoch the agents left, if it is still the open one.

    Whatever logs into the current epoch first (a learning point, or its convergence: a phase that
    keeps all the evidence can converge in the very run that opened it) closes the previous phase
    first, so that phase ends with its own final snapshot, from its own epoch's posterior.
    """
    phase_epoch = _tracker(store).run_ids().get("mlflow_phase_epoch", "")
    if phase_epoch.isdigit() and int(phase_epoch) < state.epoch:
        drift = transitions.recorded_drift(store, int(phase_epoch)) or {}
        _close_phase(store, int(phase_epoch), drift)


def log_learning_batch(*, run_id: str, agents: list[int] | None = None) -> dict[str, Any]:
    """One MLflow point for the run (step = total pulls); returns the numbers it logged.

    It runs beside the agents (the state of the moment), and is skipped, with the convergence check
    after it, when the run plans no agents (no experiment yet). When the agents restarted since the
    last point, the phase of the epoch they left is closed first (with the drift the store
    recorded), so its run ends where the epoch did.
    """
    if agents is not None and not agents:
        raise AirflowSkipException("no agents planned (no experiment in the store yet): nothing to log or check")
    store = _store()
    state = store.state()
    _close_left_phase(store, state)
    posterior = arm_choice.posterior_of(state)
    prob_best = np.asarray(posterior.prob_best(_rng("mlflow", run_id), draws=4000))
    logged = _tracker(store).log_batch(state, posterior, prob_best)
    return {"logged": logged, "total_pulls": state.total_pulls, "epoch": state.epoch, "mode": str(state.mode),
            "prob_best": float(prob_best.max()), "leader": int(prob_best.argmax()), "regret": state.regret}


def check_convergence(*, dag_id: str, run_id: str) -> dict[str, Any]:
    """In LEARNING: the convergence verdict, and the switch to MONITORING when converged.

    Not converged, the run's bookkeeping ends here, so the run is marked booked (its agents may
    stop); converged, :func:`record_convergence` marks it when the phase's record is written.
    """
    store = _store()
    outcome = transitions.check_and_mark_convergence(store, _rng(dag_id, run_id, "convergence")).to_dict()
    outcome["run"] = ids.run_key(dag_id, run_id)
    if not outcome["marked"]:
        store.mark_booked(outcome["run"])
    return outcome


def record_convergence(outcome: dict[str, Any]) -> dict[str, Any]:
    """MLflow's side of convergence: tags, pulls-to-converge, snapshot artifact, figure."""
    from banditops.bandit.convergence import ConvergenceVerdict

    store = _store()
    # The epoch that converged, not the store's current one: a drift met at once may already have
    # opened the next epoch, and this epoch's snapshot belongs in its own phase's run.
    state = store.state(epoch=int(outcome["epoch"]))
    _close_left_phase(store, state)
    known = ConvergenceVerdict.__dataclass_fields__
    verdict = ConvergenceVerdict(**{k: v for k, v in outcome["verdict"].items() if k in known})
    _tracker(store).mark_converged(state, arm_choice.posterior_of(state), verdict, truth=_truth())
    if outcome.get("run"):
        store.mark_booked(str(outcome["run"]))
    return {"epoch": outcome["epoch"], "pulls_to_converge": outcome["epoch_pulls"], "leader": verdict.leader}


# -- bandit_drift_monitor -----------------------------------------------------------------------
def record_new_drift(event: dict[str, Any]) -> dict[str, Any] | None:
    """The sensed drift, recorded once per epoch, as the relearning run's conf (with pulls since
    the change from the environment's log); ``None`` when nothing was sensed or its epoch is over."""
    if event.get("status") != "drift":
        return None
    return transitions.record_drift(_store(), event, env=_env())


# -- bandit_relearning --------------------------------------------------------------------------
def relearning_due(conf: dict[str, Any]) -> bool:
    """True when this drift still concerns the current epoch (or relearning is forced), or when the
    agents already reacted (``reacted``): the run then only documents the phase they closed."""
    state = _store().state()
    epoch = conf.get("epoch")
    if epoch is None:
        raise ValueError("a relearning request must name the epoch it relearns: conf {'epoch': N}")
    if conf.get("reacted"):
        return True
    refusal = transitions.relearning_refusal(state, int(epoch), force=bool(conf.get("force")))
    if refusal is not None:
        log.info("%s", refusal)
        return False
    return True


def archive_phase(conf: dict[str, Any]) -> dict[str, Any]:
    """Final snapshot and figure of the phase in MLflow, its run closed with the drift tags."""
    store = _store()
    state = store.state()
    epoch = int(conf["epoch"]) if conf.get("epoch") is not None else state.epoch
    closed = _close_phase(store, epoch, conf) if conf.get("reacted") else False
    if not closed:
        delay = conf.get("pulls_since_change")
        _tracker(store).end_phase(
            state, arm_choice.posterior_of(state), truth=_truth(), epoch=epoch,
            detection_delay=None if delay is None else float(delay),
            ended_by="drift" if not conf.get("force") else "manual", drift_arm=_arm_name(state, conf.get("arm")),
            drift_magnitude=conf.get("magnitude"), drift_change_point=conf.get("change_point"),
        )
    return {"epoch": epoch, "total_pulls": store.state().total_pulls}


def open_relearning_epoch(conf: dict[str, Any]) -> int | None:
    """New epoch, fresh prior, RELEARNING with the forced-exploration budget (idempotent per epoch).

    For a restart the agents made (``reacted``) the store already opened it: its number is returned.
    """
    if conf.get("reacted"):
        return int(conf.get("opened_epoch") or int(conf["epoch"]) + 1)
    fields = {k: conf.get(k) for k in ("arm", "change_point", "magnitude", "pulls_since_change")}
    return transitions.record_drift_and_relearn(
        _store(), epoch=int(conf["epoch"]), reason="relearning" if not conf.get("force") else "manual_relearning",
        force=bool(conf.get("force")), **fields,
    )


def open_next_phase(epoch: int | None, conf: dict[str, Any]) -> str | None:
    """The next phase's MLflow child run; returns its id."""
    if epoch is None:
        return None
    store = _store()
    return _tracker(store).start_phase(epoch=int(epoch), reason="drift" if not conf.get("force") else "manual",
                                       drift_arm=_arm_name(store.state(), conf.get("arm")),
                                       drift_magnitude=conf.get("magnitude"))


# -- bandit_experiment --------------------------------------------------------------------------
EXPERIMENT_KNOBS = ("agents", "pulls_per_round", "rounds", "convergence_delta", "value_remaining_threshold",
                    "min_pulls_per_arm", "drift_delta", "exploration_floor", "relearn_budget", "source",
                    "arm_names", "arm_metadata", "policy", "growing_rounds")


def validate_experiment(params: dict[str, Any]) -> dict[str, Any]:
    """The experiment request, validated in full before anything is reset (``BadRequestError``)."""
    knobs = {k: params[k] for k in EXPERIMENT_KNOBS if params.get(k) is not None}
    prior = params.get("prior") or {}
    try:
        config, _ = transitions.experiment_config(
            scenario_name=str(params.get("scenario", "seed")), arms=params.get("arms") or None,
            reward_kind=params.get("reward_model") if params.get("reward_model") not in (None, "", "auto") else None,
            prior=dict(prior), **knobs,
        )
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"bad experiment parameters: {exc}") from exc
    seed = params.get("seed")
    return {"config": config.to_dict(), "scenario": config.name, "seed": None if seed is None else int(seed),
            "arms": params.get("arms") or None}


def start_experiment(request: dict[str, Any]) -> dict[str, Any]:
    """Reset the environment and the store (a new epoch, LEARNING), then open the MLflow runs."""
    from banditops.bandit.arms import parse_arms
    from banditops.store.types import ExperimentConfig

    store = _store()
    config = ExperimentConfig.from_dict(request["config"])
    arms = request.get("arms")
    arm_dicts = [a.model_dump() for a in parse_arms(arms)] if arms else None
    started = transitions.start_experiment(store, _env(), config, scenario_name=request["scenario"],
                                         seed=request.get("seed"), arms=arm_dicts)
    parent = _tracker(store).start_experiment(config, scenario=request["scenario"], seed=request.get("seed"))
    started["mlflow_parent_run_id"] = parent
    return started


# -- bandit_add_arm -----------------------------------------------------------------------------
#: Most arms one request may add: a larger jump is a typo, not a new banner.
MAX_NEW_ARMS = 100


def add_arms(params: dict[str, Any]) -> dict[str, Any]:
    """Add arms to the store (from the prior) until it has ``n_arms`` (default: the environment's
    count); with ``name``, the last of them is named ``name`` (the others by their index).

    Idempotent: a retried task, or a second run for the same click, finds the count reached (or the
    name taken by the arm it added) and adds nothing. Arms are never removed (retire them instead),
    so a smaller count is a no-op. A retired name is refused: it never comes back as another arm.
    """
    target = params.get("n_arms")
    name = params.get("name") or None
    if target is None:
        target = len(_env().truth()["means"])
    if not is_integer(target) or target < 1:
        raise BadRequestError(f"n_arms must be an integer >= 1 (the arm count wanted); got {target!r}")
    if name is not None:
        try:
            check_arm_name(name)
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc
    store = _store()
    if not _has_experiment(store):
        raise BadRequestError("the store holds no experiment yet: start one (bandit_experiment) first")
    table = store.arms()
    have = table.n_arms
    if target - have > MAX_NEW_ARMS:
        raise BadRequestError(f"n_arms={target} would add {target - have} arms to {have}; at most {MAX_NEW_ARMS}")
    if name is None:
        added = [store.add_arm() for _ in range(max(0, target - have))]
        return {"n_arms": max(have, target), "added": added}
    if name in table:
        index = table.index(name)
        if index in table.retired:
            raise BadRequestError(f"arm {name!r} is retired (index {index}) and cannot come back as a new arm; "
                                  "choose another name")
        return {"n_arms": have, "added": [], "name": name, "index": index}  # added by an earlier try
    if have >= target:
        raise BadRequestError(f"the store already has {have} arms (n_arms={target} asked) and none is named "
                              f"{name!r}: the environment's new arm is index {target - 1}, taken by "
                              f"{table.names[target - 1]!r}")
    added = [store.add_arm() for _ in range(target - 1 - have)]
    try:
        added.append(store.add_arm(name))
    except ValueError as exc:  # taken meanwhile by another writer
        raise BadRequestError(str(exc)) from exc
    return {"n_arms": target, "added": added, "name": name, "index": added[-1]}


# -- bandit_inject_drift ------------------------------------------------------------------------
def inject_drift(params: dict[str, Any]) -> dict[str, Any]:
    """Change one arm of the environment (``POST /update_arm/{arm}``); returns the new truth.

    ``arm`` is the arm's name as the store names it (translated to the index the environment
    takes), or an integer index; an unknown name is refused naming the valid ones.
    """
    arm = params.get("arm")
    change = {k: params[k] for k in ("mean", "p", "sd") if params.get(k) is not None}
    name = arm if isinstance(arm, str) else None
    if name is not None:
        store = _store()
        if store.exists():
            try:
                arm = store.arms().index(name)
            except ValueError as exc:
                raise BadRequestError(str(exc)) from exc
        elif name.isdigit():  # no experiment yet: only the environment's indices are known
            arm = int(name)
    if not change:
        raise BadRequestError("give the arm's new 'mean' (Gaussian arms) or 'p' (Bernoulli arms)")
    env = _env()
    before = env.truth()
    try:  # the rules and words every drift entry point uses (the dashboard, the environment's 404/422)
        index = check_arm_index(arm, len(before["means"]))
        kind = str(before["arms"][index]["kind"])
        change = {field: check_drift_value(kind, field, value) for field, value in change.items()}
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc
    env.update_arm(index, **change)
    truth = env.truth()
    return {"arm": index, "arm_name": name if name is not None else str(index), **change,
            "means": truth["means"], "best_arm": truth["best_arm"]}


# -- bandit_policy_evaluation -------------------------------------------------------------------
def validate_evaluation(params: dict[str, Any]) -> dict[str, Any]:
    """The evaluation request, validated in full before anything is read (``BadRequestError``)."""
    from banditops.loop.evaluation import evaluation_request

    try:
        return evaluation_request(params).to_dict()
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"bad evaluation parameters: {exc}") from exc


def evaluate_policies(request: dict[str, Any]) -> dict[str, Any]:
    """The live policy and the candidates on the decision log's window, with the gate's decisions.

    A log that cannot be evaluated (empty window, missing propensities, a candidate's arms never
    played) fails the task without retries: the message says what is missing.
    """
    from banditops.loop.evaluation import EvaluationRequest, run_evaluation

    try:
        return run_evaluation(_store(), EvaluationRequest.from_dict(request))
    except ValueError as exc:
        raise BadRequestError(f"the decision log cannot be evaluated: {exc}") from exc


def log_evaluation(request: dict[str, Any], outcome: dict[str, Any]) -> str | None:
    """ONE MLflow parent run for the evaluation, a child per policy; returns the parent's id."""
    store = _store()
    return _tracker(store).log_evaluation(outcome["report"], request=request, gate=outcome["best"])


def apply_gate(request: dict[str, Any], outcome: dict[str, Any], mlflow_run_id: str | None) -> dict[str, Any]:
    """The gate: promote the best candidate if it passed (and promotion was asked); a promotion opens a phase."""
    from banditops.loop.evaluation import EvaluationRequest
    from banditops.loop.evaluation import apply_gate as gate

    store = _store()
    summary = gate(store, EvaluationRequest.from_dict(request), outcome)
    if summary["promoted"]:
        _tracker(store).start_phase(epoch=store.epoch(), reason="policy_promoted",
                                    policy=summary["decision"]["candidate"])  # fmt: skip
    if mlflow_run_id:
        store.set_meta(last_evaluation_run_id=mlflow_run_id)
    return {**summary, "mlflow_run_id": mlflow_run_id}
