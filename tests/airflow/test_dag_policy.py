"""Policy over every DAG: imports cleanly, tags, retries, explicit schedule, cheap to parse."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.airflow

DAG_IDS = ["bandit_learning", "bandit_drift_monitor", "bandit_relearning", "bandit_experiment", "bandit_inject_drift",
           "bandit_add_arm", "bandit_policy_evaluation"]


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    # Warm the imports every DAG file shares, so the per-file timing below measures the file itself.
    import airflow.providers.standard.operators.trigger_dagrun  # noqa: F401
    import banditops_provider.steps  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_every_dag_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_follows_the_policy(dagbag, dag_id: str) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags[dag_id]
    assert "banditops" in dag.tags and len(dag.tags) >= 2
    assert dag.catchup is False
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert "schedule" in dag.__dict__ or hasattr(dag, "timetable")
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} has retries={task.retries}"
        assert task.retry_exponential_backoff


def test_schedules_are_explicit(load_dag) -> None:  # type: ignore[no-untyped-def]
    learning = load_dag("bandit_learning")
    monitor = load_dag("bandit_drift_monitor")
    assert learning.max_active_runs == 1 and monitor.max_active_runs == 1
    assert type(learning.timetable).__name__ == type(monitor.timetable).__name__ == "ContinuousTimetable"
    for manual in ("bandit_relearning", "bandit_experiment", "bandit_inject_drift", "bandit_add_arm",
                   "bandit_policy_evaluation"):
        assert type(load_dag(manual).timetable).__name__ == "NullTimetable"


def test_the_learning_schedule_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from banditops_provider.defaults import learning_schedule

    monkeypatch.setenv("BANDITOPS_LEARNING_SCHEDULE", "15s")
    assert learning_schedule().total_seconds() == 15.0  # type: ignore[union-attr]


def test_each_file_parses_in_under_a_second(dagbag) -> None:  # type: ignore[no-untyped-def]
    # Nothing heavy at parse time: no network, Redis, MLflow or numpy work at the top level.
    durations = {Path(s.file).name: s.duration.total_seconds() for s in dagbag.dagbag_stats}
    assert len(durations) == len(DAG_IDS)
    assert max(durations.values()) < 1.0, durations


def test_the_plugin_puts_dashboard_and_mlflow_links_in_the_ui() -> None:
    import sys

    sys.path.insert(0, str(REPO / "plugins"))
    try:
        from banditops_plugin import BanditOpsPlugin
    finally:
        sys.path.remove(str(REPO / "plugins"))
    names = {view["name"]: view for view in BanditOpsPlugin.external_views}
    assert set(names) == {"BanditOps dashboard", "MLflow experiments"}
    assert names["BanditOps dashboard"]["href"].startswith("http://127.0.0.1:")
    assert all(v["destination"] == "nav" and v["category"] == "BanditOps" for v in names.values())


def test_the_experiment_form_offers_the_policy_and_the_round_sizes(load_dag) -> None:  # type: ignore[no-untyped-def]
    from banditops_provider import steps
    from banditops_provider.steps import BadRequestError

    from banditops.bandit.names import POLICIES

    params = load_dag("bandit_experiment").params
    policy, growing = params.get_param("policy"), params.get_param("growing_rounds")
    assert policy.value == "system" and policy.schema["enum"] == list(POLICIES)
    assert growing.value is True and growing.schema["type"] == "boolean"
    request = steps.validate_experiment({"scenario": "seed", "policy": "ts:adwin", "growing_rounds": False})
    assert (request["config"]["policy"], request["config"]["growing_rounds"]) == ("ts:adwin", False)
    with pytest.raises(BadRequestError, match="valid policies: system, ts"):
        steps.validate_experiment({"scenario": "seed", "policy": "ucb"})
    with pytest.raises(BadRequestError, match="growing_rounds must be true or false"):
        steps.validate_experiment({"scenario": "seed", "growing_rounds": "yes"})
