"""The DAGs' Params take arm names: an experiment started with names, a drift injected by name."""

from __future__ import annotations

from typing import Any

import pytest

from banditops.store.redis_store import BanditStore

pytestmark = pytest.mark.airflow

NAMES = ["summer-sale", "winter", "spring", "black-friday", "easter"]
SMALL = {"scenario": "seed", "agents": 1, "rounds": 1, "pulls_per_round": 10, "seed": 5}


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_an_experiment_started_with_names_and_a_drift_injected_by_name(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from banditops.clients.env_client import EnvClient

    conf = {**SMALL, "arm_names": NAMES, "arm_metadata": {"easter": {"title": "Easter eggs"}}}
    dag_run = load_dag("bandit_experiment").test(run_conf=conf)
    assert str(dag_run.state) == "success", _states(dag_run)
    store = BanditStore(redis_client, connections["namespace"])
    table = store.arms()
    assert list(table.names) == NAMES and table.metadata == {"easter": {"title": "Easter eggs"}}

    env = EnvClient(connections["env_url"], token=connections["env_token"])
    drift = load_dag("bandit_inject_drift").test(run_conf={"arm": "winter", "mean": 0.0})
    assert str(drift.state) == "success", _states(drift)
    assert env.truth()["means"][1] == 0.0  # "winter" is the environment's arm 1

    before = env.truth()["means"]
    refused = load_dag("bandit_inject_drift").test(run_conf={"arm": "autumn", "mean": 1.0})
    assert str(refused.state) == "failed"
    captured = capfd.readouterr()
    assert f"unknown arm 'autumn'; valid arms: {', '.join(NAMES)}" in captured.out + captured.err
    assert env.truth()["means"] == before


def test_names_that_do_not_fit_the_arms_are_refused_before_anything_changes(
    airflow_db: Any, connections: dict[str, str], load_dag: Any, redis_client: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    store = BanditStore(redis_client, connections["namespace"])
    dag_run = load_dag("bandit_experiment").test(run_conf={**SMALL, "arm_names": ["a", "b"]})
    assert str(dag_run.state) == "failed"
    captured = capfd.readouterr()
    assert "arm_names has 2 names for n_arms=5" in captured.out + captured.err
    assert not store.exists()
