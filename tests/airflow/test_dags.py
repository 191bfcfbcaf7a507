"""``dag.test()`` of every DAG against real Redis, a real environment service and MLflow on SQLite."""

from __future__ import annotations

from typing import Any

import pytest

from banditops.store.redis_store import BanditStore
from banditops.store.types import Mode

pytestmark = pytest.mark.airflow

SMALL = {"scenario": "seed", "agents": 2, "rounds": 2, "pulls_per_round": 100, "seed": 5}


def _store(redis_client: Any, connections: dict[str, str]) -> BanditStore:
    return BanditStore(redis_client, connections["namespace"])


def _ti_states(dag_run: Any) -> dict[str, str]:
    return {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
            for ti in dag_run.get_task_instances()}


def test_experiment_resets_the_store_and_the_environment_and_opens_phase_one(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    from mlflow.tracking import MlflowClient

    from banditops.env_client import EnvClient

    env = EnvClient(connections["env_url"])
    env.update_arm(2, mean=9.0)  # a leftover drift the reset must undo
    dag_run = load_dag("bandit_experiment").test(run_conf=SMALL)
    assert str(dag_run.state) == "success", _ti_states(dag_run)
    store = _store(redis_client, connections)
    state = store.state()
    assert (state.mode, state.epoch, state.total_pulls) == (Mode.LEARNING, 1, 0)
    assert (state.config.agents, state.config.rounds, state.config.pulls_per_round) == (2, 2, 100)
    assert env.truth()["means"] == [2.0, 4.0, 1.0, 3.0, 0.5]
    meta = store.get_meta()
    client = MlflowClient(mlflow_env["uri"])
    parent = client.get_run(meta["mlflow_parent_run_id"])
    assert parent.data.params["agents"] == "2" and parent.data.tags["scenario"] == "seed"
    phase = client.get_run(meta["mlflow_phase_run_id"])
    assert phase.data.tags["mlflow.parentRunId"] == parent.info.run_id and phase.data.tags["epoch"] == "1"
