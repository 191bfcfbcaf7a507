"""The whole lifecycle through the DAGs: experiment → learning until converged → drift injected →
the agents' rounds react in the store → the drift monitor records it → relearning documents the
phase → converged again; plus a retried learning run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from banditops.store.redis_store import BanditStore
from banditops.store.types import Mode

pytestmark = pytest.mark.airflow

EXPERIMENT = {"scenario": "seed", "agents": 2, "rounds": 5, "pulls_per_round": 100, "seed": 5, "relearn_budget": 500}


def _ok(dag_run: Any) -> None:
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "success", states


def _learn_until(load_dag: Any, store: BanditStore, mode: Mode, runs: int) -> int:
    learning = load_dag("bandit_learning")
    for run in range(1, runs + 1):
        _ok(learning.test())
        if store.mode() == mode:
            return run
    raise AssertionError(f"still {store.mode()} after {runs} learning runs")


def test_the_lifecycle_runs_by_itself_through_the_dags(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from mlflow.tracking import MlflowClient

    store = BanditStore(redis_client, connections["namespace"])
    _ok(load_dag("bandit_experiment").test(run_conf=EXPERIMENT))
    phase1 = store.get_meta()["mlflow_phase_run_id"]

    _learn_until(load_dag, store, Mode.MONITORING, runs=6)
    converged = store.state()
    assert converged.epoch == 1
    _ok(load_dag("bandit_learning").test())  # a stationary stretch in MONITORING
    # The origin documents' drift, through the inject DAG: arm 1 → 0.0, arm 0 → 6.0.
    _ok(load_dag("bandit_inject_drift").test(run_conf={"arm": 1, "mean": 0.0}))
    _ok(load_dag("bandit_inject_drift").test(run_conf={"arm": 0, "mean": 6.0}))
    _ok(load_dag("bandit_learning").test())  # agents meet the new world, and react in their rounds
    reacted = store.state()
    # restarted into epoch 2 with no forced budget (the same run's convergence check may already
    # have marked it: its rounds after the restart learnt the new world)
    assert (reacted.epoch, reacted.explore_remaining) == (2, 0) and reacted.mode != Mode.RELEARNING

    monitor_run = load_dag("bandit_drift_monitor").test()  # records what the store did
    _ok(monitor_run)
    drift = monitor_run.get_task_instance("record_drift").xcom_pull(task_ids="record_drift", key="drift")
    assert (drift["epoch"], drift["opened_epoch"], drift["reacted"]) == (1, 2, True) and drift["arm"] in (0, 1)
    assert drift["pulls_since_change"] > 0  # from the environment's event log
    with create_session() as session:
        triggered = session.query(DagRun).filter(DagRun.dag_id == "bandit_relearning").all()
    assert len(triggered) == 1 and triggered[0].conf["arm"] == drift["arm"]

    _ok(load_dag("bandit_relearning").test(run_conf=dict(triggered[0].conf)))  # bookkeeping only
    relearning = store.state()
    assert (relearning.epoch, relearning.mode, relearning.explore_remaining) == (2, reacted.mode, 0)
    # a duplicate trigger for the same drift changes nothing
    _ok(load_dag("bandit_relearning").test(run_conf=dict(triggered[0].conf)))
    assert store.epoch() == 2

    _learn_until(load_dag, store, Mode.MONITORING, runs=6)
    final = store.state()
    assert final.epoch == 2 and int(final.stats.means().argmax()) == 0  # the new best arm

    kinds = [e.kind for e in store.events() if e.kind in (
        "experiment_started", "converged", "epoch_opened", "drift_recorded", "relearning_done")
        or (e.kind == "drift_detected" and e.fields.get("reaction") == "restart")]
    # the store's own milestones, in order; the record comes after the reaction, once (the second
    # convergence may come before it: the learning run that restarted can converge in epoch 2)
    assert [k for k in kinds if k != "drift_recorded"] == ["experiment_started", "converged", "drift_detected",
                                                           "epoch_opened", "converged"]
    assert kinds.count("drift_recorded") == 1 and kinds.index("drift_recorded") > kinds.index("epoch_opened")
    modes = [e.fields["to"] for e in store.events() if e.kind == "mode_changed"]
    assert modes == ["MONITORING", "LEARNING", "MONITORING"]

    client = MlflowClient(mlflow_env["uri"])
    first = client.get_run(phase1)
    assert first.info.status == "FINISHED"
    assert first.data.tags["drift_arm"] == str(drift["arm"]) and first.data.tags["converged"] == "true"
    assert "pulls_to_converge" in first.data.metrics
    steps = [m.step for m in client.get_metric_history(phase1, "cumulative_regret")]
    # one point per learning run of epoch 1: the run that met the change logs into phase 2 (the agents
    # restarted before its logging task, which closed phase 1 first)
    assert steps == sorted(steps) and len(steps) >= 2 and steps[-1] <= converged.total_pulls + 1000
    assert {a.path for a in client.list_artifacts(phase1, "posterior")} >= {
        "posterior/converged.json", "posterior/final.json", "posterior/final.png"}
    phase2 = store.get_meta()["mlflow_phase_run_id"]
    assert phase2 != phase1
    second = client.get_run(phase2)
    assert second.data.tags["epoch"] == "2" and second.data.tags["converged"] == "true"
    assert second.data.tags["mlflow.parentRunId"] == first.data.tags["mlflow.parentRunId"]


def test_a_rerun_of_the_same_learning_run_counts_nothing_twice(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    store = BanditStore(redis_client, connections["namespace"])
    # fixed rounds: 2 agents x 5 rounds x 100 pulls
    _ok(load_dag("bandit_experiment").test(run_conf={**EXPERIMENT, "min_pulls_per_arm": 500,
                                                      "growing_rounds": False}))
    learning = load_dag("bandit_learning")
    when = datetime(2026, 3, 1, tzinfo=UTC)
    _ok(learning.test(logical_date=when, run_after=when))
    once = store.state()
    _ok(learning.test(logical_date=when, run_after=when))  # the same run id, every task cleared and run again
    again = store.state()
    assert once.total_pulls == again.total_pulls == 1000
    assert once.stats.n.tolist() == again.stats.n.tolist() and once.stats.sum.tolist() == again.stats.sum.tolist()
    assert store.counters()["batches_duplicate"] == 10


def test_a_convergence_recorded_late_goes_to_its_own_phase_and_the_next_closes_the_last(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    # A drift met at once can open epoch 2 before epoch 1's convergence is recorded in MLflow, and a
    # phase that keeps all the evidence can converge before anything closed phase 1 (fresh-check saw
    # both: phase 1 without a snapshot, phase 1 without its final one).
    from banditops_provider import steps
    from mlflow.tracking import MlflowClient

    from banditops.loop import transitions

    store = BanditStore(redis_client, connections["namespace"])
    _ok(load_dag("bandit_experiment").test(run_conf=EXPERIMENT))
    phase1 = store.get_meta()["mlflow_phase_run_id"]
    _learn_until(load_dag, store, Mode.MONITORING, runs=6)
    transitions.record_drift_and_relearn(store, epoch=1, reason="relearning", force=False, arm=1,
                                         change_point=None, magnitude=None, pulls_since_change=10)
    assert store.epoch() == 2
    verdict = {"converged": True, "leader": 1, "prob_best": 0.99, "value_remaining_p95": 0.0, "relative": True,
               "min_pulls": 5, "reason": "converged"}
    steps.record_convergence({"epoch": 1, "epoch_pulls": 100, "verdict": verdict})
    assert store.phase_run(2) == ""  # epoch 1's record opened no run for epoch 2
    client = MlflowClient(mlflow_env["uri"])
    assert client.get_run(phase1).info.status == "RUNNING"
    steps.record_convergence({"epoch": 2, "epoch_pulls": 0, "verdict": dict(verdict, leader=0)})
    first = client.get_run(phase1)
    assert first.info.status == "FINISHED"  # closed first, from its own epoch's posterior
    assert {"posterior/converged.json", "posterior/final.json"} <= {
        a.path for a in client.list_artifacts(phase1, "posterior")}
    phase2 = store.phase_run(2)
    assert phase2 and "posterior/converged.json" in {a.path for a in client.list_artifacts(phase2, "posterior")}
