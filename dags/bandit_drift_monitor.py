"""
### bandit_drift_monitor

**Sense drift (deferrable) → a branch records the drift once per epoch → trigger `bandit_relearning`.**

A recorded drift routes to relearning on every run until its epoch advances: a retried branch, a failed
trigger or a failed relearning run is retried by the next sensor run, and relearning (idempotent per
epoch) opens exactly one new epoch.

`DriftSensor` defers to `DriftTrigger`, which reads the reward-summary stream from Redis in the
triggerer and runs per-arm GLR change-point tests — only in MONITORING, without blocking the event
loop. It keeps its stream cursor in Redis and rebuilds its detectors from the epoch's summaries
since convergence, so a triggerer restart loses nothing. When nothing happens for
`BANDITOPS_DRIFT_MAX_WAIT_S` seconds (default 600) the run ends quietly and the next one waits.

Schedule: `BANDITOPS_DRIFT_MONITOR_SCHEDULE` (default `@continuous`), one run at a time.
Poll interval: `BANDITOPS_DRIFT_POLL_S` (default 1 s). Connections: `redis_default`,
`bandit_env_default` (for the detection delay in pulls, when reachable).
"""

from __future__ import annotations

from typing import cast

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task
from banditops_provider import steps
from banditops_provider.defaults import (
    DEFAULT_ARGS,
    START_DATE,
    drift_max_wait,
    drift_monitor_schedule,
    drift_poll_interval,
)
from banditops_provider.sensors.drift import DriftSensor


@dag(
    dag_id="bandit_drift_monitor",
    schedule=drift_monitor_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "drift"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # the relearning conf stays a dict
)
def bandit_drift_monitor() -> None:
    sense = DriftSensor(
        task_id="sense_drift",
        poll_interval=drift_poll_interval(),
        max_wait=drift_max_wait(),
    )

    @task.branch
    def record_drift(event: dict, ti=None) -> str:  # type: ignore[no-untyped-def]
        # One task records and routes: every hop is a task process, and drift → relearning
        # running has a 15 s budget.
        drift = steps.record_new_drift(event)
        if drift is None:
            return "no_drift"
        ti.xcom_push(key="drift", value=drift)
        return "start_relearning"

    relearn = TriggerDagRunOperator(
        task_id="start_relearning", trigger_dag_id="bandit_relearning", wait_for_completion=False,
        # cast: the template renders to a dict (render_template_as_native_obj); the operator types conf as the value
        conf=cast(dict, "{{ ti.xcom_pull(task_ids='record_drift', key='drift') }}"),
    )
    # cast: Airflow passes the XComArg and the task receives its value; @task types the call with the task's parameters
    record_drift(cast(dict, sense.output)) >> [relearn, EmptyOperator(task_id="no_drift")]


bandit_drift_monitor()
