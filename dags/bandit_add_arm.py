"""
### bandit_add_arm

**Give the store the environment's new arm(s) → the arm count, the new arm by name.**

Manual; the dashboard's "add arm" control triggers it after adding the arm to the environment.
The dashboard may only *read* Redis (least privilege, docs/security.md), so the store write is
made here, by Airflow's Redis user. The request names the arm count wanted (`n_arms`) and,
optionally, the new arm's `name` (e.g. `summer-sale`; default: its index), so a retried run, or a
second run for the same click, adds nothing twice. A retired name is refused (docs/arms.md).
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from banditops_provider import steps
from banditops_provider.defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="bandit_add_arm",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["banditops", "arms"],
    doc_md=__doc__,
    params={
        "n_arms": Param(None, type=["null", "integer"], minimum=1,
                        description="arm count wanted in the store (default: the environment's)"),
        "name": Param(None, type=["null", "string"], pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
                      description="the new (last) arm's name, e.g. summer-sale (default: its index)"),
    },
)
def bandit_add_arm() -> None:
    @task
    def add_arms(params=None) -> dict:  # type: ignore[no-untyped-def]
        return steps.add_arms(dict(params))

    add_arms()


bandit_add_arm()
