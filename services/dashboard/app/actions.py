"""The controls' effects: drift, new arm, scenario reset (environment) and DAG runs (Airflow).

Each action validates its input first (a clear message naming the valid values, nothing sent),
then makes one call and returns an :class:`ActionResult` for the page — never an exception.
The environment's admin token and the Airflow credentials stay on the server side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from banditops.bandit.arms import SCENARIOS
from banditops.bandit.validators import check_arm_index, check_drift_value
from banditops.clients.airflow_client import AirflowClient, AirflowError
from banditops.store.types import check_arm_name

from .sources import short_reason

if TYPE_CHECKING:
    from banditops.clients.env_client import EnvClient
    from banditops.store.redis_store import BanditStore


#: What a Dash input or dropdown delivers: text, a number, or nothing; each action checks it first.
FormValue = str | int | float | None


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    link: str | None = None


def _arm_kind(truth: dict[str, Any] | None) -> str:
    arms = (truth or {}).get("arms") or []
    return str(arms[0].get("kind", "gaussian")) if arms and isinstance(arms[0], dict) else "gaussian"


def _env_error(exc: Exception) -> str:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return f"environment refused (HTTP {status}): {exc}" if status else f"environment unreachable: {short_reason(exc)}"


def _check_value(kind: str, field: str, value: object) -> float | str:
    """The new mean / p as a float, or the one value rule's refusal (the words every drift entry point uses)."""
    try:
        return check_drift_value(kind, field, value)
    except ValueError as exc:
        return str(exc)


def inject_drift(env: EnvClient, truth: dict[str, Any] | None, arm: FormValue, value: FormValue,
                 store: BanditStore | None = None) -> ActionResult:
    """Change one arm's true mean (Gaussian) or click rate p (Bernoulli); ``arm`` is the index the
    environment takes (the dropdown shows names), ``store`` names it in the message."""
    if truth is None:
        return ActionResult(False, "the environment is unreachable: cannot inject drift")
    if isinstance(arm, str) and arm.strip().isdigit():  # a dropdown value may arrive as text
        arm = int(arm)
    try:
        arm_index = check_arm_index(arm, len(truth.get("means") or []))
    except ValueError as exc:  # the words every drift entry point uses
        return ActionResult(False, str(exc))
    kind = _arm_kind(truth)
    field = _value_field(kind)
    checked = _check_value(kind, field, value)
    if isinstance(checked, str):
        return ActionResult(False, checked)
    before = (truth.get("means") or [None])[arm_index]
    try:
        env.update_arm(arm_index, **{field: checked})
    except Exception as exc:
        return ActionResult(False, _env_error(exc))
    return ActionResult(True, f"drift injected: {_arm_name(store, arm_index)} {field} {before:g} → {checked:g}")


def _value_field(kind: str) -> str:
    """The parameter the page's one value box sets: a Bernoulli arm's click rate ``p``, else its ``mean``."""
    return "p" if kind == "bernoulli" else "mean"


def _arm_name(store: BanditStore | None, index: int) -> str:
    """``arm 3`` for an arm named by its index, else its name (the store's table, if readable)."""
    try:
        name = str(store.arms().name(index)) if store is not None else str(index)
    except Exception:
        name = str(index)
    return f"arm {name}" if name.isdigit() else name


def add_arm(env: EnvClient, airflow: AirflowClient | None, public_url: str, truth: dict[str, Any] | None,
            value: FormValue, *, store: BanditStore | None = None, name: FormValue = None) -> ActionResult:  # fmt: skip
    """A new arm in the environment, then the ``bandit_add_arm`` DAG gives it to the store, named
    ``name`` (or by its index when empty).

    The dashboard only reads Redis (its Redis user may not write, docs/security.md), so the store
    learns the arm through Airflow, like every other state change the page asks for. The name is
    checked first against the store (valid, not taken, not retired), so a refused name sends nothing.
    """
    if truth is None:
        return ActionResult(False, "the environment is unreachable: cannot add an arm")
    kind = _arm_kind(truth)
    checked = _check_value(kind, _value_field(kind), value)
    if isinstance(checked, str):
        return ActionResult(False, checked)
    arm_name = str(name).strip() if name not in (None, "") else None
    if arm_name is not None:
        try:
            check_arm_name(arm_name)
            if store is None:
                raise LookupError("no store is configured")
            table = store.arms()
            if arm_name in table:
                index = table.index(arm_name)
                state = "retired and cannot come back" if index in table.retired else "already taken"
                return ActionResult(False, f"the name {arm_name!r} is {state}; choose another name")
        except ValueError as exc:
            return ActionResult(False, str(exc))
        except Exception as exc:
            return ActionResult(False, f"the store is unreachable: cannot add an arm ({short_reason(exc)})")
    arm: dict[str, Any] = (
        {"kind": "bernoulli", "p": checked}
        if kind == "bernoulli"
        else {
            "kind": "gaussian",
            "mean": checked,
            "sd": float((truth.get("arms") or [{}])[0].get("sd", 1.0)),
        }
    )
    try:
        env.add_arm(arm)
    except Exception as exc:
        return ActionResult(False, _env_error(exc))
    n_arms = len(truth.get("means") or []) + 1
    shown = arm_name or f"arm {n_arms - 1}"
    added = f"{shown} added to the environment ({'p' if kind == 'bernoulli' else 'mean'} {checked:g})"
    conf: dict[str, Any] = {"n_arms": n_arms, **({"name": arm_name} if arm_name else {})}
    how = f"run the bandit_add_arm DAG with {json.dumps(conf)}"
    if airflow is None:
        return ActionResult(False, f"{added}, but Airflow is not configured (BANDITOPS_AIRFLOW_URL): "
                                   f"{how} to add it to the store")
    result = trigger_dag(airflow, public_url, "bandit_add_arm", conf)
    if not result.ok:
        return ActionResult(False, f"{added}; the store was not told: {result.message} ({how})")
    return ActionResult(True, f"{added}; the store adds it: {result.message}", result.link)


def reset_scenario(env: EnvClient, name: FormValue, seed: FormValue = None) -> ActionResult:
    """Reset the environment's world to a named scenario (its pull counters and event log too)."""
    if name not in SCENARIOS:
        return ActionResult(False, f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")
    seed_value = _seed(seed)
    if isinstance(seed_value, str):
        return ActionResult(False, seed_value)
    try:
        env.reset(str(name), seed=seed_value)
    except Exception as exc:
        return ActionResult(False, _env_error(exc))
    return ActionResult(
        True, f"environment reset to scenario {name}" + (f" (seed {seed_value})" if seed_value is not None else "")
    )


def _seed(seed: FormValue) -> int | str | None:
    if seed is None or seed == "":
        return None
    try:
        value = int(seed)
    except (TypeError, ValueError):
        return f"seed must be a whole number >= 0; got {seed!r}"
    return value if value >= 0 else f"seed must be >= 0; got {value}"


def trigger_dag(airflow: AirflowClient, public_url: str, dag_id: str, conf: dict[str, Any]) -> ActionResult:
    try:
        run = airflow.trigger(dag_id, conf)
    except AirflowError as exc:
        return ActionResult(False, str(exc))
    except Exception as exc:
        return ActionResult(False, f"Airflow unreachable ({airflow.base_url}): {short_reason(exc)}")
    run_id = str(run.get("dag_run_id", "?"))
    return ActionResult(
        True, f"{dag_id} run {run_id} {run.get('state', 'queued')}", airflow.run_url(public_url, dag_id, run_id)
    )


def start_experiment(airflow: AirflowClient, public_url: str, scenario: FormValue,
                     seed: FormValue = None) -> ActionResult:
    """Trigger ``bandit_experiment`` (reset the environment and the store, open the MLflow parent run)."""
    if scenario not in SCENARIOS:
        return ActionResult(False, f"unknown scenario {scenario!r}; valid scenarios: {', '.join(SCENARIOS)}")
    seed_value = _seed(seed)
    if isinstance(seed_value, str):
        return ActionResult(False, seed_value)
    conf: dict[str, Any] = {"scenario": scenario}
    if seed_value is not None:
        conf["seed"] = seed_value
    return trigger_dag(airflow, public_url, "bandit_experiment", conf)


def force_relearning(airflow: AirflowClient, public_url: str, epoch: int) -> ActionResult:
    """Trigger ``bandit_relearning`` for ``epoch``: archive the posterior, new epoch, forced exploration.

    The request names the epoch it relearns, so a second click or a retried run is a no-op once
    epoch + 1 is open, instead of opening epoch + 2 and throwing epoch + 1 away.
    """
    # force: relearn even when the loop is not MONITORING (a person asked for it)
    return trigger_dag(airflow, public_url, "bandit_relearning", {"epoch": int(epoch), "force": True})
