"""
### bandit_inject_drift

**Change one arm of the environment → return the new truth.**

Manual. The arm is named as the store names it (an integer is taken as the environment's arm
index). The origin documents' drift is two runs: arm 1 → mean 0.0, then arm 0 → mean 6.0
(`POST /update_arm/{arm}` on the environment, with the admin token from the
`bandit_env_default` Connection's password).
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from banditops_provider import steps
from banditops_provider.defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="bandit_inject_drift",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "drift"],
    doc_md=__doc__,
    params={
        "arm": Param("1", type=["string", "integer"], minimum=0,
                     description='the arm\'s name, e.g. "summer-sale" ("1" for arm 1 of an integer experiment)'),
        "mean": Param(0.0, type=["null", "number"], description="new mean (Gaussian arms)"),
        "p": Param(None, type=["null", "number"], minimum=0, maximum=1, description="new p (Bernoulli arms)"),
    },
)
def bandit_inject_drift() -> None:
    @task
    def update_arm(params=None) -> dict:  # type: ignore[no-untyped-def]
        return steps.inject_drift(dict(params))

    update_arm()


bandit_inject_drift()
