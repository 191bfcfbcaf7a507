"""The dashboard's pure parts: figure builders, history replay, timeline, actions' validation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from banditops.bandit.posteriors import make_posterior
from banditops.bandit.stats import ArmStats
from banditops.store.types import BatchSummary, Event, Mode
from services.dashboard.app import actions, figures
from services.dashboard.app.history import HistoryTracker, batch_regret, build_timeline
from services.dashboard.app.sources import redact_url


@pytest.fixture
def stats() -> ArmStats:
    rng = np.random.default_rng(0)
    arms = np.repeat([0, 1, 2], [30, 200, 30])
    rewards = rng.normal(np.array([1.0, 3.0, 2.0])[arms], 1.0)
    return ArmStats.from_pulls(arms, rewards, n_arms=3)


def test_posterior_figure_has_a_violin_per_arm_the_interval_and_the_truth(stats: ArmStats) -> None:
    posterior = make_posterior("gaussian", stats)
    fig = figures.posterior_figure(posterior, [1.0, 3.0, 2.0], rng=np.random.default_rng(1), draws=500)
    violins = [t for t in fig.data if t.type == "violin"]
    assert [t.name for t in violins] == ["arm 0", "arm 1", "arm 2"]
    assert all(len(t.y) == 500 for t in violins)
    ci = next(t for t in fig.data if t.name == "95% credible interval")
    lo, hi = posterior.credible_interval(0.95)
    np.testing.assert_allclose(ci.y, posterior.mean())
    np.testing.assert_allclose(np.asarray(ci.y) + np.asarray(ci.error_y.array), hi)
    np.testing.assert_allclose(np.asarray(ci.y) - np.asarray(ci.error_y.arrayminus), lo)
    truth = next(t for t in fig.data if t.name == "true mean")
    assert list(truth.y) == [1.0, 3.0, 2.0]
    # the violins of the best-known arm sit around its sample mean
    assert abs(float(np.mean(violins[1].y)) - stats.means()[1]) < 0.1


def test_posterior_figure_without_truth_or_posterior() -> None:
    assert not any(
        t.name == "true mean"
        for t in figures.posterior_figure(
            make_posterior("bernoulli", ArmStats.zeros(2)), None, rng=np.random.default_rng(0), draws=100
        ).data
    )
    empty = figures.posterior_figure(None, None, rng=np.random.default_rng(0))
    assert len(empty.data) == 0
    assert "waiting for the store" in empty.layout.annotations[0].text


def test_posterior_figure_marks_retired_arms(stats: ArmStats) -> None:
    fig = figures.posterior_figure(
        make_posterior("gaussian", stats), None, rng=np.random.default_rng(0), draws=100, retired=[2]
    )
    assert fig.data[2].x[0] == "arm 2 (retired)"


def test_regret_figure_starts_at_zero_and_draws_lai_robbins_from_the_current_epoch() -> None:
    series = figures.RegretSeries(pulls=[100, 200, 300, 400], regret=[10.0, 12.0, 30.0, 31.0], epochs=[1, 1, 2, 2])
    fig = figures.regret_figure(series, lai_robbins_constant=2.0)
    regret = next(t for t in fig.data if t.name == "cumulative regret")
    assert list(regret.x) == [0, 100, 200, 300, 400]
    assert list(regret.y) == [0.0, 10.0, 12.0, 30.0, 31.0]
    reference = next(t for t in fig.data if t.name == "Lai–Robbins C·ln T")
    # epoch 2 starts after pull 200 with regret 12: the reference is 12 + 2·ln(t − 200)
    assert reference.x[0] == 201 and reference.y[0] == pytest.approx(12.0)
    assert reference.x[-1] == 400 and reference.y[-1] == pytest.approx(12.0 + 2.0 * math.log(200))
    assert any("epoch 2" in a.text for a in fig.layout.annotations)


def test_regret_figure_without_constant_or_data() -> None:
    fig = figures.regret_figure(figures.RegretSeries([10], [1.0], [1]), lai_robbins_constant=None)
    assert [t.name for t in fig.data] == ["cumulative regret"]
    assert len(figures.regret_figure(figures.RegretSeries([], [], [])).data) == 0


def test_phase_regret_and_pulls_figures() -> None:
    phase = figures.phase_regret_figure([1, 2], [100.0, 40.0], [1000, 400])
    assert list(phase.data[0].x) == ["epoch 1", "epoch 2"]
    assert list(phase.data[0].y) == [100.0, 40.0]
    np.testing.assert_allclose(phase.data[0].customdata[:, 1], [0.1, 0.1])
    pulls = figures.pulls_figure([5, 90, 5], leader=1, best_true=2)
    assert list(pulls.data[0].y) == [5, 90, 5]
    assert "leader" in pulls.data[0].x[1] and "true best" in pulls.data[0].x[2]


def test_prob_best_figure_pads_arms_added_later() -> None:
    fig = figures.prob_best_figure([10, 20, 30], [[0.5, 0.5], [0.4, 0.6], [0.2, 0.7, 0.1]], threshold=0.95)
    assert [t.name for t in fig.data] == ["arm 0", "arm 1", "arm 2"]
    third = np.asarray(fig.data[2].y, dtype=float)
    assert np.isnan(third[:2]).all() and third[2] == pytest.approx(0.1)


def test_timeline_figure_has_mode_bands_and_named_event_traces() -> None:
    spans = [figures.ModeSpan("LEARNING", 1, 100.0, 160.0), figures.ModeSpan("MONITORING", 1, 160.0, 200.0)]
    marks = [
        figures.TimelineMark(160.0, "converged", "lifecycle", "converged: arm 1"),
        figures.TimelineMark(180.0, "drift_injected", "environment", "drift injected: arm 1 4→0"),
    ]
    fig = figures.timeline_figure(spans, marks)
    names = [t.name for t in fig.data]
    assert names == ["LEARNING", "MONITORING", "converged", "drift injected"]
    assert list(fig.data[0].x) == [60_000.0]  # a 60 s band, in milliseconds on the date axis
    assert list(fig.data[3].text) == ["drift injected: arm 1 4→0"]
    assert list(fig.data[3].y) == ["environment"]


def test_build_timeline_from_store_and_environment_events() -> None:
    events = [
        Event("1-0", "experiment_started", 100.0, {}),
        Event("2-0", "mode_changed", 150.0, {"from": "LEARNING", "to": "MONITORING", "reason": "converged"}),
        Event("2-1", "converged", 150.0, {"leader": 1, "prob_best": 0.97}),
        Event("3-0", "epoch_opened", 170.0, {"epoch": 2, "arm": 1, "magnitude": -4.0, "delay": 37}),
        Event("3-1", "mode_changed", 170.0, {"from": "MONITORING", "to": "RELEARNING", "epoch": 2}),
    ]
    env_events = [
        {
            "kind": "drift",
            "t": 160.0,
            "total_pulls": 900,
            "arm": 1,
            "before": {"kind": "gaussian", "mean": 4.0},
            "after": {"kind": "gaussian", "mean": 0.0},
        }
    ]
    spans, marks = build_timeline(events, env_events, now=200.0, current_mode="RELEARNING", current_epoch=2)
    assert [(s.mode, s.epoch, s.start, s.end) for s in spans] == [
        ("LEARNING", 1, 100.0, 150.0),
        ("MONITORING", 1, 150.0, 170.0),
        ("RELEARNING", 2, 170.0, 200.0),
    ]
    labels = [m.label for m in marks]
    assert labels == [
        "experiment started",
        "converged: arm 1 (P=0.97)",
        "drift detected: arm 1 Δ=-4.00 delay 37 pulls → epoch 2",
        "drift injected: arm 1 4→0",
    ]
    assert [m.row for m in marks] == ["lifecycle"] * 3 + ["environment"]


def test_history_replays_the_summary_stream_incrementally() -> None:
    def summary(i: int, epoch: int, arms: list[int], pulls_before: int) -> BatchSummary:
        return BatchSummary(
            f"{i}-0",
            f"b{i}",
            epoch,
            Mode.LEARNING,
            pulls_before,
            ArmStats.from_pulls(arms, [1.0] * len(arms), n_arms=2),
        )

    stream = [summary(1, 1, [0, 1, 1, 1], 0), summary(2, 1, [1, 1], 4), summary(3, 2, [0, 0], 0)]
    seen: list[str] = []

    def fetch(cursor: str) -> list[BatchSummary]:
        seen.append(cursor)
        return [s for s in stream if s.id > cursor][:2]

    tracker = HistoryTracker(make_posterior, pb_draws=200)
    history = tracker.update(
        fetch, identity=("ns", "e1"), total_pulls=8, reward_kind="bernoulli", prior=None, truth_means=[0.2, 0.5]
    )
    assert [p.pulls for p in history.points] == [4, 6, 8]
    assert [p.epoch for p in history.points] == [1, 1, 2]
    # regret per batch from the truth: gap 0.3 per pull of arm 0
    assert [round(p.regret, 9) for p in history.points] == [0.3, 0.3, 0.9]
    assert history.phase_pulls == {1: 6, 2: 2} and history.phase_regret[2] == pytest.approx(0.6)
    assert history.regret_estimated
    assert all(len(p.prob_best) == 2 and sum(p.prob_best) == pytest.approx(1.0) for p in history.points)
    assert seen == ["0-0", "2-0", "3-0"]
    # a later refresh reads only what is new; a reset (new identity) replays from the start
    stream.append(summary(4, 2, [1], 2))
    again = tracker.update(
        fetch, identity=("ns", "e1"), total_pulls=9, reward_kind="bernoulli", prior=None, truth_means=[0.2, 0.5]
    )
    assert again.points[-1].pulls == 9 and seen[3] == "3-0"
    fresh = tracker.update(
        fetch, identity=("ns", "e2"), total_pulls=9, reward_kind="bernoulli", prior=None, truth_means=None
    )
    assert fresh.points[-1].pulls == 9 and seen[-3:] == ["0-0", "2-0", "4-0"]


def test_batch_regret_prefers_the_recorded_number() -> None:
    s = BatchSummary("1-0", "b", 1, Mode.LEARNING, 0, ArmStats.from_pulls([0, 0], [1.0, 0.0], n_arms=2))
    assert batch_regret(s, [0.2, 0.5]) == pytest.approx(0.6)
    assert batch_regret(s, None) is None
    recorded = replace(s, regret=0.25)  # the store's own number wins over the (possibly drifted) truth
    assert batch_regret(recorded, [0.2, 0.5]) == 0.25 and batch_regret(recorded, None) == 0.25


def test_history_uses_the_recorded_regret_exactly_and_says_it_is_not_estimated() -> None:
    stats = ArmStats.from_pulls([0, 1], [1.0, 0.0], n_arms=2)
    stream = [BatchSummary(f"{i}-0", f"b{i}", 4, Mode.LEARNING, 2 * (i - 1), stats, regret=0.1 * i) for i in (1, 2, 3)]
    tracker = HistoryTracker(None)
    history = tracker.update(
        lambda cursor: [s for s in stream if s.id > cursor],
        identity=("ns", "e1"),
        total_pulls=6,
        reward_kind="bernoulli",
        prior=None,
        truth_means=[9.0, 0.0],
    )
    assert [p.regret for p in history.points] == [0.1, 0.1 + 0.2, 0.1 + 0.2 + 0.30000000000000004]
    assert history.phase_regret == {4: 0.1 + 0.2 + 0.30000000000000004} and not history.regret_estimated


def test_timeline_takes_the_epoch_of_experiment_started_since_epochs_continue_across_resets() -> None:
    events = [Event("1-0", "experiment_started", 100.0, {"epoch": 4}), Event("2-0", "converged", 150.0, {"leader": 1})]
    spans, _ = build_timeline(events, [], now=200.0, current_mode=None, current_epoch=None)
    assert [(s.mode, s.epoch) for s in spans] == [("LEARNING", 4), ("MONITORING", 4)]


def test_actions_refuse_bad_input_before_calling_anything() -> None:
    class Refuse:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"{name} must not be called on bad input")

    truth = {"arms": [{"kind": "bernoulli", "p": 0.1}] * 3, "means": [0.1, 0.1, 0.1]}
    assert actions.inject_drift(Refuse(), truth, 7, 0.5).message == "unknown arm 7; valid arms: 0..2"
    bad_p = "p must be a finite number in [0, 1] for a bernoulli arm; got 1.5"
    assert actions.inject_drift(Refuse(), truth, 1, 1.5).message == bad_p
    assert "finite number" in actions.inject_drift(Refuse(), truth, 1, None).message
    assert "finite number" in actions.add_arm(Refuse(), Refuse(), "http://airflow", truth, float("nan")).message
    assert "valid scenarios: seed, banners, problem1" in actions.reset_scenario(Refuse(), "nope").message
    assert "seed must be >= 0" in actions.reset_scenario(Refuse(), "seed", -1).message
    assert "valid scenarios" in actions.start_experiment(Refuse(), "http://af", "nope").message  # type: ignore[arg-type]
    assert not actions.inject_drift(Refuse(), None, 0, 1.0).ok


def test_redact_url_hides_passwords() -> None:
    assert redact_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_force_relearning_names_the_epoch_it_relearns() -> None:
    class Recording:
        base_url = "http://af"

        def __init__(self) -> None:
            self.sent: list[tuple[str, dict[str, object]]] = []

        def trigger(self, dag_id: str, conf: dict[str, object]) -> dict[str, str]:
            self.sent.append((dag_id, dict(conf)))
            return {"dag_run_id": "manual__1", "state": "queued"}

        def run_url(self, public_url: str, dag_id: str, run_id: str) -> str:
            return f"{public_url}/dags/{dag_id}/runs/{run_id}"

    airflow = Recording()
    assert actions.force_relearning(airflow, "http://af", 4).ok  # type: ignore[arg-type]
    assert airflow.sent == [("bandit_relearning", {"epoch": 4, "force": True})]
