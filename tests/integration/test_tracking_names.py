"""MLflow sees arms by name: per-arm metric keys, the arm_names param, the leader tag, the snapshot."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditops.loop import arm_choice
from banditops.loop.tracking import META_PHASE, Tracker, metric_names
from banditops.store import BanditStore, ExperimentConfig

NAMES = ("summer-sale", "winter", "spring")


def test_a_named_experiment_is_tracked_by_name(
    redis_client: Any, namespace: str, mlflow_tracking_uri: str, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    store = BanditStore(redis_client, namespace)
    store.reset(ExperimentConfig(name="banners", reward_kind="gaussian", n_arms=3, arm_names=NAMES))
    tracker = Tracker(store, tracking_uri=mlflow_tracking_uri, experiment_name=f"test-{uuid.uuid4().hex[:8]}",
                      artifact_location=str(tmp_path / "artifacts"))
    parent = tracker.start_experiment(store.config(), scenario="banners")
    arms = np.repeat(np.arange(3), 30)
    store.apply_batch("b1", store.epoch(), arms, np.array([1.0, 3.0, 2.0])[arms], regret=0.5)
    store.add_arm("autumn")
    store.retire_arm("spring")
    state = store.state()
    posterior = arm_choice.posterior_of(state)
    assert tracker.log_batch(state, posterior, posterior.prob_best(np.random.default_rng(0), draws=1000))
    client = MlflowClient(mlflow_tracking_uri)
    phase = store.get_meta()[META_PHASE]
    assert json.loads(client.get_run(parent).data.params["arm_names"]) == list(NAMES)
    assert client.get_metric_history(phase, "pulls_arm_winter")[0].value == 30.0
    assert client.get_metric_history(phase, "posterior_mean_arm_winter")[0].value == pytest.approx(3.0, abs=0.01)
    assert client.get_metric_history(phase, "pulls_arm_autumn")[0].value == 0.0  # added: a cold start
    logged = {k for k in client.get_run(phase).data.metrics}
    assert {"prob_best_arm_summer-sale", "prob_best_arm_autumn"} <= logged and "prob_best_arm_0" not in logged

    class Verdict:
        leader = 1

        def to_dict(self) -> dict[str, Any]:
            return {"leader": 1}

    tracker.mark_converged(state, posterior, Verdict())
    run = client.get_run(phase)
    assert run.data.tags["leader"] == "winter"
    local = client.download_artifacts(phase, "posterior/converged.json", str(tmp_path))
    snap = json.loads(Path(local).read_text())
    assert snap["arm_names"] == [*NAMES, "autumn"] and snap["retired"] == ["spring"]


def test_metric_names_carry_the_arm_names_and_integer_arms_keep_their_keys() -> None:
    assert metric_names(2)[3:5] == ["prob_best_arm_0", "prob_best_arm_1"]
    assert metric_names(2, ["summer-sale", "winter"])[3:5] == ["prob_best_arm_summer-sale", "prob_best_arm_winter"]
