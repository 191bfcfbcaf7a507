"""Exactly one MLflow run per epoch, none left RUNNING after its phase ends, in every task order.

The actors are the learning DAG's logger (it reads the store's state, then logs: two steps that
other tasks can fall between) and the relearning DAG's tasks (archive the phase, open the next
epoch, open the next phase run), each a separate process with its own tracker. Every
interleaving of the two is run against a real Redis and a real MLflow (SQLite) store, with the
claims dropped before every step (the 120 s claim having expired), then every task retried.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from banditops.loop import arm_choice, transitions
from banditops.loop.tracking import CLASSIC_ML, EXPERIMENT_KIND_TAG
from banditops.store.redis_store import BanditStore

if TYPE_CHECKING:
    from tests.integration.conftest import MlflowExperiment


# the shared ``store`` fixture resets with it; a relearning budget, so the relearning chain opens
# a RELEARNING epoch (the default is none)
STORE_CONFIG = dataclasses.replace(transitions.experiment_config(scenario_name="seed")[0], relearn_budget=100)


def _feed(store: BanditStore, batch: str) -> None:
    arms = np.repeat(np.arange(5), 20)
    rewards = np.random.default_rng(len(batch)).normal(np.array([2.0, 4.0, 1.0, 3.0, 0.5])[arms], 1.0)
    store.apply_batch(batch, store.epoch(), arms, rewards, regret=1.0)


def _interleavings() -> list[tuple[str, ...]]:
    """Every order of the logger's (read, log) among the relearning chain (archive, open epoch, open phase)."""
    orders = []
    for slots in itertools.combinations(range(5), 2):
        chain, logger, order = iter(("archive", "open_epoch", "open_phase")), iter(("read", "log")), []
        for i in range(5):
            order.append(next(logger) if i in slots else next(chain))
        orders.append(tuple(order))
    return orders


class Actors:
    """The tasks, each with a tracker of its own (as separate Airflow task processes have)."""

    def __init__(self, store: BanditStore, experiment: MlflowExperiment) -> None:
        self.store = store
        self.make = lambda: experiment.tracker(store)
        self.epoch = store.epoch()
        self.read: Any = None

    def step(self, what: str) -> None:
        store, epoch = self.store, self.epoch
        if what == "read":
            self.read = store.state()
        elif what == "log":
            posterior = arm_choice.posterior_of(self.read)
            self.make().log_batch(self.read, posterior, posterior.prob_best(np.random.default_rng(0), draws=200))
        elif what == "archive":
            state = store.state()
            self.make().end_phase(state, arm_choice.posterior_of(state), epoch=epoch, ended_by="drift",
                                  drift_arm=1, detection_delay=40)
        elif what == "open_epoch":
            transitions.record_drift_and_relearn(store, epoch=epoch, reason="relearning", force=False, arm=1,
                                                 change_point=None, magnitude=None, pulls_since_change=40)
        elif what == "open_phase":
            self.make().start_phase(epoch=epoch + 1, reason="drift", drift_arm=1)


@pytest.mark.parametrize("order", _interleavings(), ids="-".join)
def test_one_run_per_epoch_in_every_order_of_logger_and_relearning(
    order: tuple[str, ...], store: BanditStore, mlflow_experiment: MlflowExperiment
) -> None:
    actors = Actors(store, mlflow_experiment)
    parent = actors.make().start_experiment(store.config(), scenario="seed")
    assert parent
    store.set_mode("MONITORING", reason="converged", expected_epoch=actors.epoch)
    _feed(store, "b1")
    first = actors.epoch
    for what in (*order, "archive", "open_epoch", "open_phase", "read", "log"):  # then every task retried
        store.release_phase_run(first)  # the claims have expired: only the recorded run ids remain
        store.release_phase_run(first + 1)
        actors.step(what)

    client = mlflow_experiment.client
    assert client.get_experiment_by_name(mlflow_experiment.name).tags[EXPERIMENT_KIND_TAG] == CLASSIC_ML
    runs = mlflow_experiment.phase_runs(parent)
    by_epoch = sorted((int(r.data.tags["epoch"]), r.info.status, r.info.run_name) for r in runs)
    assert by_epoch == [(first, "FINISHED", f"epoch {first} · learning"),
                        (first + 1, "RUNNING", f"epoch {first + 1} · relearning")], order
    ended = next(r for r in runs if int(r.data.tags["epoch"]) == first)
    assert ended.data.tags["drift_arm"] == "1" and ended.data.metrics["detection_delay_pulls"] == 40.0
    assert client.get_run(parent).info.status == "RUNNING"
    assert client.get_run(parent).data.metrics["detection_delay_pulls"] == 40.0


def test_a_phase_run_created_but_never_recorded_is_found_not_duplicated(
    store: BanditStore, mlflow_experiment: MlflowExperiment
) -> None:
    """An opener killed between creating the run and recording it, its claim since expired."""
    tracker = mlflow_experiment.tracker(store)
    parent = tracker.start_experiment(store.config(), scenario="seed")
    assert parent
    epoch = store.open_epoch(reason="drift_detected", explore_budget=10)
    orphan = tracker._open_phase(epoch, "killed_opener", {})  # created in MLflow, never recorded in Redis
    assert store.phase_run(epoch) == ""
    assert tracker.start_phase(epoch=epoch, reason="drift") == orphan
    epochs = sorted(int(r.data.tags["epoch"]) for r in mlflow_experiment.phase_runs(parent))
    assert epochs == [epoch - 1, epoch]
    # opening epoch E's run closed epoch E-1's, whose archive never ran
    previous = store.phase_run(epoch - 1)
    assert mlflow_experiment.client.get_run(previous).info.status == "FINISHED"


def test_a_second_experiment_ends_the_first_ones_runs(
    store: BanditStore, mlflow_experiment: MlflowExperiment
) -> None:
    """Two demos in a row: nothing of the first is RUNNING once the second has started; readable names."""
    tracker = mlflow_experiment.tracker(store)
    first = tracker.start_experiment(store.config(), scenario="seed")
    _feed(store, "b1")
    state = store.state()
    posterior = arm_choice.posterior_of(state)
    assert tracker.log_batch(state, posterior, posterior.prob_best(np.random.default_rng(0), draws=200))
    store.reset(store.config())  # the second demo (the reset wipes the run ids kept in Redis)
    second = tracker.start_experiment(store.config(), scenario="seed")
    client = mlflow_experiment.client
    running = client.search_runs([mlflow_experiment.experiment_id], filter_string="attributes.status = 'RUNNING'")
    assert sorted(r.info.run_id for r in running) == sorted([second, store.phase_run(store.epoch())])
    old = client.get_run(first)
    assert old.info.status == "FINISHED" and old.data.tags["ended_by"] == "new_experiment"
    assert old.info.run_name.startswith("seed · ") and old.info.run_name.endswith(" UTC")
    assert {"cumulative_regret", "regret_per_pull", "total_pulls"} <= set(old.data.metrics)
    assert old.data.params["scenario"] == "seed"
