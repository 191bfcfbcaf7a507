"""The dashboard names arms by the store's names, and its timeline labels cannot collide."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from banditops.bandit.posteriors import make_posterior
from banditops.bandit.stats import ArmStats
from banditops.store import BanditStore, ExperimentConfig
from banditops.store.types import Event
from services.dashboard.app import actions, figures
from services.dashboard.app.history import build_timeline

NAMES = ("summer-sale", "winter", "spring")


def test_figures_label_arms_by_name_and_integer_arms_as_arm_i() -> None:
    stats = ArmStats.from_pulls([0, 1, 2, 2], [1.0, 0.0, 1.0, 1.0], n_arms=3)
    post = make_posterior("bernoulli", stats)
    fig = figures.posterior_figure(post, None, rng=np.random.default_rng(0), draws=50, retired=[1], names=NAMES)
    assert [t.name for t in fig.data if t.type == "violin"] == list(NAMES)
    assert list(fig.data[0].x[:1]) == ["summer-sale"] and list(fig.data[1].x[:1]) == ["winter (retired)"]
    pulls = figures.pulls_figure([1, 1, 2], leader=2, names=NAMES)
    assert list(pulls.data[0].x) == ["summer-sale", "winter", "spring<br><sub>leader</sub>"]
    prob = figures.prob_best_figure([10], [[0.2, 0.3, 0.5]], names=NAMES)
    assert [t.name for t in prob.data] == list(NAMES)
    legacy = figures.prob_best_figure([10], [[0.5, 0.5]], names=("0", "1"))
    assert [t.name for t in legacy.data] == ["arm 0", "arm 1"]


def test_timeline_labels_name_the_arms_and_are_hover_text_only() -> None:
    events = [
        Event("1-0", "experiment_started", 100.0, {}),
        Event("2-0", "converged", 101.0, {"leader": 1, "prob_best": 0.99}),
        Event("3-0", "arm_added", 101.5, {"arm": 3, "name": "autumn"}),
        Event("4-0", "drift_detected", 102.0, {"arm": 2, "magnitude": -0.5}),
        Event("5-0", "epoch_opened", 102.1, {"epoch": 2, "arm": 2, "magnitude": -0.5}),
        Event("6-0", "arm_retired", 102.2, {"arm": 0, "name": "summer-sale"}),
    ]
    env = [{"kind": "drift", "t": 101.9, "arm": 2, "before": {"p": 0.2}, "after": {"p": 0.1}}]
    spans, marks = build_timeline(events, env, now=103.0, current_mode="RELEARNING", current_epoch=2,
                                  names=(*NAMES, "autumn"))
    assert [m.label for m in marks] == [
        "experiment started", "converged: winter (P=0.99)", "added: autumn", "drift detected: spring Δ=-0.50",
        "drift detected: spring Δ=-0.50 → epoch 2", "retired: summer-sale", "drift injected: spring 0.2→0.1",
    ]
    fig = figures.timeline_figure(spans, marks)
    scatters = [t for t in fig.data if t.type == "scatter"]
    # markers only: no label is drawn on the plot, so events a second apart cannot print over each other
    assert scatters and all(t.mode == "markers" for t in scatters)
    for t in scatters:
        assert [h.split("<br>")[0] for h in t.hovertext] == [f"<b>{label}</b>" for label in t.text]
    assert fig.layout.uniformtext.mode == "hide"  # band captions that do not fit are hidden, not shrunk
    assert fig.layout.legend.y < 0  # the legend sits below the plot, clear of the title


def test_add_arm_refuses_a_taken_retired_or_invalid_name_before_calling_the_environment(
    redis_client: redis.Redis, namespace: str
) -> None:
    class Refuse:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"{name} must not be called on a refused name")

    store = BanditStore(redis_client, namespace)
    store.reset(ExperimentConfig(reward_kind="bernoulli", n_arms=3, arm_names=NAMES))
    store.retire_arm("winter")
    truth = {"arms": [{"kind": "bernoulli", "p": 0.1}] * 3, "means": [0.1] * 3}
    before = store.snapshot()["keys"]
    airflow = Refuse()  # a refused name triggers no DAG either

    def add(env: object, name: str) -> actions.ActionResult:
        return actions.add_arm(env, airflow, "http://airflow", truth, 0.5, store=store, name=name)  # type: ignore[arg-type]

    assert add(Refuse(), "spring").message == "the name 'spring' is already taken; choose another name"
    assert add(Refuse(), "winter").message == "the name 'winter' is retired and cannot come back; choose another name"
    assert "invalid arm name 'a b'" in add(Refuse(), "a b").message
    assert store.snapshot()["keys"] == before

    class World:
        def __init__(self) -> None:
            self.added: list[dict[str, object]] = []

        def add_arm(self, arm: dict[str, object]) -> int:
            self.added.append(arm)
            return len(self.added) + 2

    # A free name: the environment gets the arm, the store is told through the bandit_add_arm DAG
    # (the dashboard only reads Redis); without Airflow the message says which run to trigger.
    world = World()
    result = actions.add_arm(world, None, "", truth, 0.5, store=store, name="autumn")
    assert not result.ok and result.message == (
        "autumn added to the environment (p 0.5), but Airflow is not configured (BANDITOPS_AIRFLOW_URL): "
        'run the bandit_add_arm DAG with {"n_arms": 4, "name": "autumn"} to add it to the store')
    assert world.added == [{"kind": "bernoulli", "p": 0.5}] and store.snapshot()["keys"] == before


@pytest.mark.parametrize(("arm", "names", "label"), [(3, None, "arm 3"), (0, NAMES, "summer-sale"),
                                                     (1, ("0", "1"), "arm 1"), (7, NAMES, "arm 7")])
def test_arm_label(arm: int, names: tuple[str, ...] | None, label: str) -> None:
    assert figures.arm_label(arm, names) == label
