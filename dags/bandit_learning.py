"""
### bandit_learning

**Plan the agents → N agents pull and learn in parallel, and beside them: log to MLflow → check
convergence → mark converged | keep going.**

Each mapped agent runs several rounds of: Thompson draws from the shared posterior (with the
staleness exploration floor in MONITORING, round-robin in RELEARNING) → one `POST /pulls` → one
atomic store update with batch id `<dag_id>/<run_id>/<map_index>/<round>` and the epoch it sampled
under. A retry applies nothing twice; a round sampled under an old epoch is refused.

Agents, rounds and pulls per round come from the experiment in Redis (`bandit_experiment`); with
`BANDITOPS_AGENT_TASK_S` an agent keeps playing rounds (one per `BANDITOPS_AGENT_ROUND_INTERVAL_S`) for
that many seconds, so the bookkeeping branch runs while the agents play and a drift meets a playing agent.
Schedule: `BANDITOPS_LEARNING_SCHEDULE` (default `@continuous`; e.g. `15s`), one run at a time.
Connections: `redis_default`, `bandit_env_default`.
"""

from __future__ import annotations

from typing import cast

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag, task
from banditops_provider import steps
from banditops_provider.defaults import DEFAULT_ARGS, START_DATE, learning_schedule
from banditops_provider.operators.agent_batch import AgentBatchOperator


@dag(
    dag_id="bandit_learning",
    schedule=learning_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "learning"],
    doc_md=__doc__,
)
def bandit_learning() -> None:
    @task
    def plan_agents() -> list[int]:
        return steps.plan_agents()

    @task
    def log_to_mlflow(agents: list[int], run_id: str | None = None) -> dict:
        return steps.log_learning_batch(run_id=str(run_id), agents=agents)

    @task.branch
    def check_convergence(dag_run=None, ti=None) -> str:  # type: ignore[no-untyped-def]
        outcome = steps.check_convergence(dag_id=dag_run.dag_id, run_id=dag_run.run_id)
        ti.xcom_push(key="outcome", value=outcome)
        return "mark_converged" if outcome["marked"] else "keep_going"

    @task
    def mark_converged(ti=None) -> dict:  # type: ignore[no-untyped-def]
        return steps.record_convergence(ti.xcom_pull(task_ids="check_convergence", key="outcome"))

    planned = plan_agents()
    AgentBatchOperator.partial(task_id="run_agent_batch").expand(agent=planned)
    # Beside the agents, not after them: the agents keep playing while MLflow and convergence are booked.
    # cast: Airflow passes the XComArg and the task receives its value; @task types the call with the task's parameters
    log_to_mlflow(cast(list[int], planned)) >> check_convergence() >> [mark_converged(),
                                                                       EmptyOperator(task_id="keep_going")]


bandit_learning()
