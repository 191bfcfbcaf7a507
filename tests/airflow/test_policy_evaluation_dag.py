"""``bandit_policy_evaluation`` for real: DagBag-parsed DAG, real Redis with a decision log written
through the decision service's store calls, MLflow on SQLite; then the gate's promotion."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from banditops.loop import transitions
from banditops.loop.evaluation import last_evaluation
from banditops.loop.promotion import live_policy
from banditops.serving.recommender import new_decision_id
from banditops.store.feedback import Decision, accept_feedback, record_decisions
from banditops.store.redis_store import BanditStore

pytestmark = pytest.mark.airflow

CANDIDATES = {"uniform": {"policy": "uniform"}, "always_7": {"policy": "static", "ranking": [7]}}


def _experiment(store: BanditStore) -> None:
    """A banners experiment whose live posterior (wrongly) prefers arm 3: its Thompson policy plays 3."""
    config, _ = transitions.experiment_config(scenario_name="banners")
    store.reset(config)
    arms = np.array([3] * 50 + [7] * 50)
    store.apply_batch("seed-posterior", store.epoch(), arms, np.r_[np.ones(40), np.zeros(10), np.ones(5),
                                                                    np.zeros(45)], regret=0.0)  # fmt: skip


def _decision_log(store: BanditStore, n: int, propensity: float, seed: int = 0) -> None:
    """Uniform logging over arms 3 and 7 (propensity 0.5); arm 7 pays 0.7, arm 3 pays 0.2."""
    rng = np.random.default_rng(seed)
    now_ms = int(time.time() * 1000)
    decisions, rewards = [], []
    for _ in range(n):
        arm = 7 if rng.random() < 0.5 else 3
        decisions.append(Decision(new_decision_id(), "u", (arm,), propensity, store.epoch(), False, now_ms,
                                  "bernoulli"))  # fmt: skip
        rewards.append(float(rng.random() < (0.7 if arm == 7 else 0.2)))
    record_decisions(store.client, store.namespace, decisions)
    for d, r in zip(decisions, rewards, strict=True):
        accept_feedback(store.client, store.namespace, d.decision_id, r)


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_evaluation_logs_one_parent_one_child_per_policy_and_the_gate_promotes(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    from mlflow.tracking import MlflowClient

    from banditops.loop.tracking import Tracker

    store = BanditStore(redis_client, connections["namespace"])
    _experiment(store)
    tracker = Tracker(store)
    tracker.start_experiment(store.config(), scenario="banners")
    phase_before = store.phase_run(store.epoch())
    _decision_log(store, 1500, 0.5)

    dag_run = load_dag("bandit_policy_evaluation").test(run_conf={
        "candidates": CANDIDATES, "window_s": 3600, "estimators": ["ipw", "snipw", "dr", "dros"], "margin": 0.05,
        "promote": True, "n_boot": 200})  # fmt: skip
    assert str(dag_run.state) == "success", _states(dag_run)

    client = MlflowClient(mlflow_env["uri"])
    exp = client.get_experiment_by_name(mlflow_env["experiment"])
    parents = client.search_runs([exp.experiment_id], filter_string="tags.kind = 'evaluation'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["gate_candidate"] == "always_7"
    assert parent.data.tags["gate_promote"] == "true" and parent.data.params["window_s"] == "3600.0"
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "evaluation")} == {
        "evaluation/report.json", "evaluation/estimates.png"}
    children = client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_name = {r.info.run_name: r for r in children}
    assert sorted(by_name) == ["always_7", "live", "uniform"]
    for name, run in by_name.items():
        m = run.data.metrics
        for est in ("ipw", "snipw", "dr", "dros"):
            assert m[f"{est}_lo"] <= m[f"{est}_estimate"] <= m[f"{est}_hi"], (name, est)
        assert m["ess"] > 0 and m["max_weight"] > 0 and run.info.status == "FINISHED"
        assert [a.path for a in client.list_artifacts(run.info.run_id, "evaluation")] == ["evaluation/estimates.png"]
    assert by_name["always_7"].data.params["config.policy"] == "static"
    assert by_name["always_7"].data.params["config.ranking"] == "[7]"
    # uniform logging: the static candidate's IPW is exactly arm 7's logged mean (weight 2 on its rows)
    assert by_name["always_7"].data.metrics["ipw_estimate"] == pytest.approx(0.7, abs=0.06)
    assert by_name["live"].data.metrics["dros_estimate"] < 0.45  # the live posterior plays arm 3 mostly
    assert by_name["always_7"].data.metrics["dros_lo"] > by_name["live"].data.metrics["dros_estimate"] + 0.05

    # the gate promoted it: live policy, event, the dashboard's summary, a new MLflow phase
    assert live_policy(store) == CANDIDATES["always_7"]
    assert [e.kind for e in store.events()].count("policy_promoted") == 1
    summary = last_evaluation(store)
    assert summary is not None and summary["promoted"] and summary["decision"]["candidate"] == "always_7"
    assert store.get_meta()["last_evaluation_run_id"] == parent.info.run_id
    phase_after = store.phase_run(store.epoch(), 1)
    assert phase_after and phase_after != phase_before
    assert client.get_run(phase_before).info.status == "FINISHED"
    new_phase = client.get_run(phase_after)
    assert new_phase.info.status == "RUNNING" and new_phase.data.tags["policy"] == "always_7"
    assert new_phase.info.run_name.endswith("· policy 1")


def test_a_log_without_propensities_is_refused_and_nothing_is_logged_or_promoted(
    airflow_db: Any, connections: dict[str, str], mlflow_env: dict[str, str], load_dag: Any, redis_client: Any
) -> None:
    from mlflow.tracking import MlflowClient

    store = BanditStore(redis_client, connections["namespace"])
    _experiment(store)
    _decision_log(store, 50, 0.0)
    dag_run = load_dag("bandit_policy_evaluation").test(run_conf={"candidates": CANDIDATES, "promote": True})
    states = _states(dag_run)
    assert states["evaluate"] == "failed" and states["log_to_mlflow"] == "upstream_failed", states
    assert live_policy(store) == {"policy": "thompson", "use_posterior": True}
    assert last_evaluation(store) is None
    exp = MlflowClient(mlflow_env["uri"]).get_experiment_by_name(mlflow_env["experiment"])
    if exp is not None:
        assert MlflowClient(mlflow_env["uri"]).search_runs([exp.experiment_id], "tags.kind = 'evaluation'") == []


def test_the_form_offers_exactly_the_library_s_policies_and_estimators(load_dag: Any) -> None:
    from banditops.bandit.ope import ESTIMATORS
    from banditops.loop import evaluation

    params = load_dag("bandit_policy_evaluation").params
    assert params.get_param("estimators").schema["items"]["enum"] == [e for e in ESTIMATORS if e != "dm"]
    assert params["estimators"] == list(evaluation.DEFAULT_ESTIMATORS)
    assert "|".join(evaluation.POLICIES) in params.get_param("candidates").description
