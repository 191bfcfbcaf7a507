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

    from banditops.clients.env_client import EnvClient

    env = EnvClient(connections["env_url"], token=connections["env_token"])
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


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"scenario": "casino"}, "casino"),
        ({"agents": -1}, "agents"),
        ({"convergence_delta": 1.5}, "convergence_delta"),
        ({"drift_delta": 0.0}, "drift_delta"),
        ({"scenario": "seed", "reward_model": "bernoulli"}, "pays gaussian rewards"),
    ],
)
def test_bad_params_are_refused_before_anything_changes(
    airflow_db: Any, connections: dict[str, str], load_dag: Any, redis_client: Any, conf: dict, message: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from banditops.clients.env_client import EnvClient

    env = EnvClient(connections["env_url"], token=connections["env_token"])
    env.update_arm(4, mean=7.5)  # a state a wrongful reset would undo
    before = env.truth()
    store = _store(redis_client, connections)
    refused = ""
    try:
        dag_run = load_dag("bandit_experiment").test(run_conf={**SMALL, **conf})
    except Exception as exc:  # Airflow's own Param validation refuses the run up front
        refused = str(exc)
    else:
        assert str(dag_run.state) == "failed"
        states = _ti_states(dag_run)
        assert states["validate_request"] == "failed" and states["reset_and_start"] != "success"
        captured = capfd.readouterr()
        refused = captured.out + captured.err  # the task's log, where a person reads the reason
    assert message in refused
    assert not store.exists()
    assert env.truth()["means"] == before["means"]


def test_the_drift_monitor_ends_quietly_when_nothing_changed(
    airflow_db: Any, connections: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    import numpy as np
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from banditops.store.types import ExperimentConfig

    store = _store(redis_client, connections)
    store.reset(ExperimentConfig(source="production"))  # the summary-stream tests (production's path)
    store.set_mode(Mode.MONITORING, reason="converged")
    rng = np.random.default_rng(0)
    for i in range(10):
        arms = rng.integers(0, 5, 100)
        store.apply_batch(f"b/{i}", store.epoch(), arms, rng.normal(np.array([2.0, 4.0, 1.0, 3.0, 0.5])[arms], 1.0))
    with create_session() as session:
        before = session.query(DagRun).filter(DagRun.dag_id == "bandit_relearning").count()
    dag_run = load_dag("bandit_drift_monitor").test()
    states = _ti_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert (states["no_drift"], states["record_drift"], states["start_relearning"]) == ("success", "success", "skipped")
    assert store.get_cursor("drift_sensor") == store.summaries(count=100)[-1].id
    assert not [e for e in store.events() if e.kind == "drift_detected"]
    with create_session() as session:
        assert session.query(DagRun).filter(DagRun.dag_id == "bandit_relearning").count() == before


def test_inject_drift_refuses_an_unknown_arm_and_changes_nothing(
    airflow_db: Any, connections: dict[str, str], load_dag: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from banditops.clients.env_client import EnvClient

    env = EnvClient(connections["env_url"], token=connections["env_token"])
    before = env.truth()["means"]
    dag_run = load_dag("bandit_inject_drift").test(run_conf={"arm": 42, "mean": 1.0})
    assert str(dag_run.state) == "failed"
    captured = capfd.readouterr()
    assert f"unknown arm 42; valid arms: 0..{len(before) - 1}" in captured.out + captured.err
    assert env.truth()["means"] == before


@pytest.mark.parametrize("arm", [42, -1])
def test_every_drift_entry_point_refuses_an_unknown_arm_in_the_same_words(
    connections: dict[str, str], arm: int
) -> None:
    """The Airflow step, the dashboard and the environment service share one rule and one message."""
    from banditops_provider import steps

    from banditops.clients.env_client import EnvClient, EnvError
    from services.dashboard.app import actions

    with EnvClient(connections["env_url"], token=connections["env_token"]) as env:
        truth = env.truth()
        expected = f"unknown arm {arm}; valid arms: 0..{len(truth['means']) - 1}"
        with pytest.raises(steps.BadRequestError) as step:
            steps.inject_drift({"arm": arm, "mean": 1.0})
        dashboard = actions.inject_drift(env, truth, arm, 1.0)
        with pytest.raises(EnvError) as service:
            env.update_arm(arm, mean=1.0)
        assert (str(step.value), dashboard.ok, dashboard.message) == (expected, False, expected)
        assert (service.value.status, service.value.message) == (404, expected)
        assert env.truth()["means"] == truth["means"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sd": 0.0}, "sd must be a finite number > 0 for a gaussian arm; got 0.0"),
        ({"sd": -1.0}, "sd must be a finite number > 0 for a gaussian arm; got -1.0"),
        ({"mean": float("nan")}, "mean must be a finite number for a gaussian arm; got nan"),
        ({"mean": float("inf")}, "mean must be a finite number for a gaussian arm; got inf"),
        ({"p": 0.5}, "gaussian arms have no parameter 'p'; valid: mean, sd"),
    ],
)
def test_every_drift_entry_point_refuses_a_bad_value_in_the_same_words(
    connections: dict[str, str], change: dict[str, float], expected: str
) -> None:
    """The value rule (finite, p in [0, 1], sd > 0) is one function too: same words, the world unchanged."""
    import json

    import httpx
    from banditops_provider import steps

    from banditops.clients.env_client import EnvClient
    from services.dashboard.app import actions

    with EnvClient(connections["env_url"], token=connections["env_token"]) as env:
        truth = env.truth()
        assert truth["arms"][1]["kind"] == "gaussian"
        with pytest.raises(steps.BadRequestError) as step:
            steps.inject_drift({"arm": 1, **change})
        service = httpx.patch(  # json.dumps writes NaN/Infinity, which the client's encoder refuses to send
            f"{connections['env_url']}/arms/1", content=json.dumps(change),
            headers={"Authorization": f"Bearer {connections['env_token']}", "Content-Type": "application/json"},
        )
        assert (str(step.value), service.status_code, service.json()["detail"]) == (expected, 422, expected)
        if set(change) == {"mean"}:  # the dashboard's drift control sets the mean of a Gaussian arm
            dashboard = actions.inject_drift(env, truth, 1, change["mean"])
            assert (dashboard.ok, dashboard.message) == (False, expected)
        assert env.truth() == truth


def test_add_arm_gives_the_store_the_arm_count_asked_once(
    airflow_db: Any, connections: dict[str, str], load_dag: Any, redis_client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """The dashboard's add-arm path: the DAG adds arms up to n_arms, and a second run adds nothing."""
    from banditops.store.types import ExperimentConfig

    store = BanditStore(redis_client, connections["namespace"])
    store.reset(ExperimentConfig(name="arms", n_arms=3))
    dag_run = load_dag("bandit_add_arm").test(run_conf={"n_arms": 5})
    assert str(dag_run.state) == "success", _ti_states(dag_run)
    assert store.config().n_arms == 5
    assert [e.fields["arm"] for e in store.events() if e.kind == "arm_added"] == [3, 4]
    again = load_dag("bandit_add_arm").test(run_conf={"n_arms": 5})  # a second click, a retry
    assert str(again.state) == "success" and store.config().n_arms == 5
    refused = load_dag("bandit_add_arm").test(run_conf={"n_arms": 500})
    assert str(refused.state) == "failed" and store.config().n_arms == 5
    captured = capfd.readouterr()
    assert "n_arms=500 would add 495 arms to 5; at most 100" in captured.out + captured.err


def test_add_arm_by_name_adds_the_named_arm_once_and_refuses_a_retired_name(
    airflow_db: Any, connections: dict[str, str], load_dag: Any, redis_client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """The dashboard's named add-arm path: conf {n_arms, name}; a retry adds nothing; a retired name never returns."""
    from banditops.store.types import ExperimentConfig

    store = BanditStore(redis_client, connections["namespace"])
    store.reset(ExperimentConfig(name="arms", n_arms=2, arm_names=("summer-sale", "winter")))
    dag_run = load_dag("bandit_add_arm").test(run_conf={"n_arms": 3, "name": "autumn"})
    assert str(dag_run.state) == "success", _ti_states(dag_run)
    assert store.arms().names == ("summer-sale", "winter", "autumn")
    again = load_dag("bandit_add_arm").test(run_conf={"n_arms": 3, "name": "autumn"})  # a retry, a second click
    assert str(again.state) == "success" and store.arms().names == ("summer-sale", "winter", "autumn")
    assert [e.fields["name"] for e in store.events() if e.kind == "arm_added"] == ["autumn"]
    store.retire_arm("winter")
    before = store.snapshot()["keys"]
    refused = load_dag("bandit_add_arm").test(run_conf={"n_arms": 4, "name": "winter"})
    assert str(refused.state) == "failed" and store.snapshot()["keys"] == before
    captured = capfd.readouterr()
    assert "arm 'winter' is retired (index 1) and cannot come back as a new arm" in captured.out + captured.err
