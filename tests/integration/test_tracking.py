"""MLflow tracking on a local SQLite store, and a broken tracking server that must not stop learning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from banditops.bandit.stats import ArmStats
from banditops.loop import arm_choice, transitions
from banditops.loop.tracking import META_ERROR, META_PARENT, META_PHASE, Tracker
from banditops.store.redis_store import BanditStore
from stack.redis_server import free_port

if TYPE_CHECKING:
    from tests.integration.conftest import MlflowExperiment


STORE_CONFIG, _ = transitions.experiment_config(scenario_name="seed")  # the shared ``store`` fixture resets with it


def feed(store: BanditStore, batch: str, rng: np.random.Generator) -> None:
    arms = np.repeat(np.arange(5), 40)
    rewards = rng.normal(np.array([2.0, 4.0, 1.0, 3.0, 0.5])[arms], 1.0)
    store.apply_batch(batch, store.epoch(), arms, rewards, regret=1.5)


def test_phases_runs_metrics_and_artifacts(
    store: BanditStore, mlflow_experiment: MlflowExperiment, tmp_path: Path
) -> None:
    tracker = mlflow_experiment.tracker(store)
    parent = tracker.start_experiment(store.config(), scenario="seed", seed=3)
    assert parent and store.get_meta()[META_PARENT] == parent
    rng = np.random.default_rng(0)
    feed(store, "b1", rng)
    state = store.state()
    posterior = arm_choice.posterior_of(state)
    prob_best = posterior.prob_best(rng, draws=2000)
    assert tracker.log_batch(state, posterior, prob_best)
    phase = store.get_meta()[META_PHASE]
    client = mlflow_experiment.client
    run = client.get_run(phase)
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.data.tags["epoch"] == "1"
    assert run.data.params["agents"] == "4"
    history = client.get_metric_history(phase, "cumulative_regret")
    assert [(m.step, m.value) for m in history] == [(200, 1.5)]
    assert client.get_metric_history(phase, "pulls_arm_3")[0].value == 40.0
    assert client.get_metric_history(phase, "posterior_mean_arm_1")[0].value == pytest.approx(4.0, abs=0.5)

    tracker.end_phase(state, posterior, truth=[2.0, 4.0, 1.0, 3.0, 0.5], drift_arm=1, drift_magnitude=-4.0)
    run = client.get_run(phase)
    assert run.info.status == "FINISHED"
    assert (run.data.tags["drift_arm"], run.data.tags["drift_magnitude"]) == ("1", "-4.0")
    artifacts = {a.path for a in client.list_artifacts(phase, "posterior")}
    assert artifacts == {"posterior/final.json", "posterior/final.png"}
    local = client.download_artifacts(phase, "posterior/final.json", str(tmp_path))
    snap = json.loads(Path(local).read_text())
    assert snap["stats"]["n"] == [40] * 5 and snap["truth_means"][1] == 4.0
    # the next phase is a second child of the same parent
    second = tracker.start_phase(epoch=2, reason="drift", drift_arm=1)
    assert second and second != phase
    assert client.get_run(second).data.tags["mlflow.parentRunId"] == parent
    assert tracker.start_phase(epoch=2, reason="retry") == second  # a retried task opens nothing new


def test_a_broken_tracking_server_loses_no_posterior_update(store: BanditStore, monkeypatch: Any) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracker = Tracker(store, tracking_uri=f"http://127.0.0.1:{free_port()}", experiment_name="down")
    rng = np.random.default_rng(1)
    assert tracker.start_experiment(store.config(), scenario="seed") is None
    feed(store, "b1", rng)
    state = store.state()
    posterior = arm_choice.posterior_of(state)
    assert tracker.log_batch(state, posterior, posterior.prob_best(rng, draws=500)) is False
    feed(store, "b2", rng)
    assert tracker.log_batch(store.state(), posterior, posterior.prob_best(rng, draws=500)) is False
    assert store.state().total_pulls == 400  # learning went on
    meta = store.get_meta()
    assert meta[META_ERROR].startswith("start_experiment") or meta[META_ERROR].startswith("log_batch")
    errors = [e for e in store.events() if e.kind == "mlflow_error"]
    assert 1 <= len(errors) <= 2 and all("error" in e.fields for e in errors)


def test_metric_names_cover_every_arm() -> None:
    from banditops.loop.tracking import metric_names

    names = metric_names(3)
    assert len(names) == 3 + 4 * 3 and "posterior_sd_arm_2" in names
    assert ArmStats.zeros(3).total == 0


def test_a_second_experiment_opens_its_phase_in_the_epoch_the_reset_opened(
    store: BanditStore, mlflow_experiment: MlflowExperiment
) -> None:
    feed(store, "old", np.random.default_rng(1))
    epoch = store.reset(store.config())  # epochs continue across resets: 2, not 1
    assert mlflow_experiment.tracker(store).start_experiment(store.config(), scenario="seed")
    run = mlflow_experiment.client.get_run(store.get_meta()[META_PHASE])
    assert epoch == 2 and run.data.tags["epoch"] == "2" and run.info.run_name == "epoch 2 · learning"


def test_concurrent_tasks_open_one_phase_run_per_epoch(store: BanditStore, mlflow_experiment: MlflowExperiment) -> None:
    """The experiment DAG and the learning DAG's logging task ask for the phase run at once."""
    from concurrent.futures import ThreadPoolExecutor

    parent = mlflow_experiment.tracker(store).start_experiment(store.config(), scenario="seed", seed=3)
    assert parent
    epoch = store.open_epoch(reason="drift_detected", explore_budget=10)
    trackers = [mlflow_experiment.tracker(store) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda t: t._phase_run(epoch), trackers))
    assert len(set(ids)) == 1
    phases = mlflow_experiment.children(parent)
    assert sorted(r.data.tags["epoch"] for r in phases) == [str(epoch - 1), str(epoch)]
