"""
### bandit_relearning

**Still the drifted epoch? → archive the posterior and close the phase run in MLflow → open a new
epoch (fresh prior, RELEARNING, forced-exploration budget) → open the next phase run.**

Triggered by `bandit_drift_monitor` with the drift as conf (`epoch`, `arm`, `change_point`,
`magnitude`, ...), or by hand with `{"epoch": N, "force": true}` to relearn epoch N now. Idempotent per epoch: a
second run for the same drift finds a newer epoch and stops at the first step.
The learning DAG's agents explore round-robin until the budget is spent; the store then switches
back to LEARNING by itself.
"""

from __future__ import annotations

from typing import cast

from airflow.sdk import Param, dag, task
from banditops_provider import steps
from banditops_provider.defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="bandit_relearning",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "relearning"],
    doc_md=__doc__,
    params={
        "epoch": Param(type="integer", minimum=1, description="epoch to relearn (required: a retry is a no-op)"),
        "arm": Param(None, type=["null", "integer"], minimum=0, description="arm that drifted"),
        "magnitude": Param(None, type=["null", "number"], description="mean after − before"),
        "change_point": Param(None, type=["null", "integer"], description="estimated change point (epoch pulls)"),
        "force": Param(False, type="boolean", description="relearn even if not MONITORING"),
    },
)
def bandit_relearning() -> None:
    @task.short_circuit
    def still_current(dag_run=None) -> bool:  # type: ignore[no-untyped-def]
        return steps.relearning_due(dict(dag_run.conf or {}))

    @task
    def archive_phase(dag_run=None) -> dict:  # type: ignore[no-untyped-def]
        return steps.archive_phase(dict(dag_run.conf or {}))

    @task
    def open_epoch(dag_run=None) -> int | None:  # type: ignore[no-untyped-def]
        return steps.open_relearning_epoch(dict(dag_run.conf or {}))

    @task
    def open_next_phase(epoch: int | None, dag_run=None) -> str | None:  # type: ignore[no-untyped-def]
        return steps.open_next_phase(epoch, dict(dag_run.conf or {}))

    epoch = open_epoch()
    still_current() >> archive_phase() >> epoch
    # cast: Airflow passes the XComArg and the task receives its value; @task types the call with the task's parameters
    open_next_phase(cast(int | None, epoch))


bandit_relearning()
