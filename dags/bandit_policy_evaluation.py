"""
### bandit_policy_evaluation

**Validate the request → evaluate the live policy and the candidates on a window of the
production decision log → one MLflow parent run with one child run per policy → the promotion
gate (promote the best candidate only if its interval's lower bound beats the live policy's
estimate by the margin, and promotion was asked).**

Manual. Candidates are configurations of BanditOps' policies, e.g.
`{"uniform": {"policy": "uniform"}, "ts_prior": {"policy": "thompson", "prior": [2, 8]},
"static": {"policy": "static", "ranking": [3, 1, 0]}}`. A log that cannot be evaluated (empty
window, missing or zero propensities, a candidate whose arms the log never played) fails the
evaluation task with a message saying what is missing; nothing is logged or promoted.
Roll a promotion back with `banditops policy rollback`.
"""

from __future__ import annotations

from typing import cast

from airflow.sdk import Param, dag, task
from banditops_provider import steps
from banditops_provider.defaults import DEFAULT_ARGS, START_DATE

# literals, not imports: the library's evaluation module pulls numpy and scikit-learn, too heavy to parse
# (tests/airflow/test_policy_evaluation_dag.py checks they match banditops.loop.evaluation)
POLICIES = ["thompson", "uniform", "greedy", "static"]
ESTIMATOR_CHOICES = ["ipw", "snipw", "dr", "sndr", "switch_dr", "dros"]
DEFAULT_ESTIMATORS = ["ipw", "snipw", "dr", "dros"]


@dag(
    dag_id="bandit_policy_evaluation",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "evaluation"],
    doc_md=__doc__,
    params={
        "candidates": Param(
            {"uniform": {"policy": "uniform"}, "greedy": {"policy": "greedy"}}, type="object",
            description=f"candidate policies by name: {{\"name\": {{\"policy\": {'|'.join(POLICIES)}, ...}}}}",
        ),
        "window_s": Param(3600, type=["null", "number"], exclusiveMinimum=0,
                          description="seconds of decision log to evaluate on (null: all of it)"),
        "estimators": Param(list(DEFAULT_ESTIMATORS), type="array", items={"type": "string", "enum": ESTIMATOR_CHOICES},
                            description="off-policy estimators"),
        "gate_estimator": Param("dros", type="string", enum=["dr", "dros"], description="the estimator the gate uses"),
        "margin": Param(0.01, type="number", minimum=0,
                        description="promote only if the candidate's lower bound beats the live estimate by this"),
        "promote": Param(False, type="boolean", description="promote the best candidate when the gate passes"),
        "n_boot": Param(500, type="integer", minimum=100, maximum=10_000, description="bootstrap resamples"),
    },
)
def bandit_policy_evaluation() -> None:
    @task
    def validate_request(params=None) -> dict:  # type: ignore[no-untyped-def]
        return steps.validate_evaluation(dict(params))

    @task
    def evaluate(request: dict) -> dict:
        return steps.evaluate_policies(request)

    @task
    def log_to_mlflow(request: dict, outcome: dict) -> str | None:
        return steps.log_evaluation(request, outcome)

    @task
    def gate(request: dict, outcome: dict, mlflow_run_id: str | None) -> dict:
        return steps.apply_gate(request, outcome, mlflow_run_id)

    # cast: Airflow passes the XComArg and the task receives its value; @task types the call with the task's parameters
    request = cast(dict, validate_request())
    outcome = cast(dict, evaluate(request))
    gate(request, outcome, cast(str | None, log_to_mlflow(request, outcome)))


bandit_policy_evaluation()
