"""
### bandit_experiment

**Validate the request → reset the environment and the store → open phase 1 in MLflow.**

Manual. The typed Params are validated by the Airflow UI form; the first task validates the whole
request again (unknown scenario, agents < 1, δ outside (0, 1), ...) and refuses it with a message
naming the valid values before anything is reset. The `bandit_learning` DAG then picks the
experiment up from Redis.
"""

from __future__ import annotations

from typing import cast

from airflow.sdk import Param, dag, task
from banditops_provider import steps
from banditops_provider.defaults import DEFAULT_ARGS, START_DATE

from banditops.bandit.arms import REWARD_KINDS, SCENARIOS
from banditops.bandit.names import POLICIES
from banditops.store.types import ARM_NAME_RE


@dag(
    dag_id="bandit_experiment",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "experiment"],
    doc_md=__doc__,
    params={
        "scenario": Param("seed", type="string", enum=list(SCENARIOS), description="named scenario"),
        "reward_model": Param("auto", type="string", enum=["auto", *REWARD_KINDS],
                              description="reward model; must match the scenario's"),
        "arms": Param(None, type=["null", "array"], description='custom arms, e.g. [{"kind": "gaussian", "mean": 1}]'),
        "arm_names": Param(None, type=["null", "array"], items={"type": "string", "pattern": ARM_NAME_RE.pattern},
                           uniqueItems=True,
                           description='one name per arm, in order, e.g. ["summer-sale", "winter"]; '
                                       'default "0", "1", ...'),
        "arm_metadata": Param(None, type=["null", "object"],
                              description='optional metadata per arm name, e.g. {"summer-sale": {"title": "..."}}'),
        "agents": Param(4, type="integer", minimum=1, maximum=64, description="parallel agents per run"),
        "pulls_per_round": Param(100, type="integer", minimum=1, maximum=100_000, description="pulls per round"),
        "rounds": Param(5, type="integer", minimum=1, maximum=1000, description="rounds per agent per run"),
        "convergence_delta": Param(0.05, type="number", exclusiveMinimum=0, exclusiveMaximum=1,
                                   description="converged when P(best) >= 1 - δ"),
        "value_remaining_threshold": Param(0.01, type="number", exclusiveMinimum=0,
                                           description="... and value remaining p95 below this"),
        "min_pulls_per_arm": Param(5, type="integer", minimum=0, description="minimum pulls of every arm"),
        "drift_delta": Param(0.01, type="number", exclusiveMinimum=0, exclusiveMaximum=1,
                             description="false-alarm level of the drift tests"),
        "exploration_floor": Param(0.01, type="number", minimum=0, exclusiveMaximum=1,
                                   description="largest share of pulls for stale arms in MONITORING"),
        "relearn_budget": Param(0, type="integer", minimum=0,
                                description="round-robin pulls of a relearning a person asks for (0: none)"),
        "policy": Param("system", type="string", enum=list(POLICIES),
                        description="the agents' policy: system (drift-aware TS), ts (plain TS), <base>:<detector>"),
        "growing_rounds": Param(True, type="boolean",
                                description="rounds of a fresh posterior grow 1, 2, 4, ... up to pulls_per_round"),
        "seed": Param(None, type=["null", "integer"], description="environment seed (reproducible rewards)"),
    },
)
def bandit_experiment() -> None:
    @task
    def validate_request(params=None) -> dict:  # type: ignore[no-untyped-def]
        return steps.validate_experiment(dict(params))

    @task
    def reset_and_start(request: dict) -> dict:
        return steps.start_experiment(request)

    # cast: Airflow passes the XComArg and the task receives its value; @task types the call with the task's parameters
    reset_and_start(cast(dict, validate_request()))


bandit_experiment()
