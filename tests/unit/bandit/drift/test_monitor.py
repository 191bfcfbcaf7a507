"""ArmDriftMonitor: per-arm batch summaries -> a signal in epoch pulls; JSON state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from banditops.bandit.drift.monitor import ArmDriftMonitor
from banditops.bandit.stats import ArmStats


def batches(rng, means_before, means_after, change_at, size=100, total=6000):
    k = len(means_before)
    for pulls in range(0, total, size):
        means = means_before if pulls < change_at else means_after
        arms = rng.integers(0, k, size)
        yield pulls, ArmStats.from_pulls(arms, rng.normal(np.take(means, arms), 1.0), n_arms=k)


def run(monitor, stream):
    for pulls, stats in stream:
        signal = monitor.update(stats, pulls)
        if signal is not None:
            return pulls, signal
    return None, None


def test_monitor_finds_the_changed_arm_at_the_batch_of_the_change():
    monitor = ArmDriftMonitor(3, "gaussian")
    at, signal = run(monitor, batches(np.random.default_rng(8), [1, 2, 3], [1, 2.5, 3], change_at=3000))
    assert signal.arm == 1 and signal.change_point == 3000
    assert at == 3700 and signal.magnitude == pytest.approx(0.5, abs=0.1)  # a 0.5-sigma rise: 7 batches
    assert monitor.drift_detected and monitor.update(ArmStats.zeros(3), at + 100) is signal


def test_monitor_quiet_on_stationary_batches():
    monitor = ArmDriftMonitor(4, "gaussian")
    at, _ = run(monitor, batches(np.random.default_rng(1), [0, 1, 2, 3], [0, 1, 2, 3], change_at=10**9, total=40_000))
    assert at is None and monitor.batches == 400
    assert monitor.progress().max() < 1.0


def test_monitor_state_round_trips_through_json():
    rng = np.random.default_rng(8)
    stream = list(batches(rng, [1, 2, 3], [1, 2.5, 3], change_at=3000))
    a = ArmDriftMonitor(3, "gaussian")
    for pulls, stats in stream[:20]:
        a.update(stats, pulls)
    b = ArmDriftMonitor.from_dict(json.loads(json.dumps(a.to_dict())))
    assert run(a, stream[20:]) == run(b, stream[20:])


def test_monitor_grows_with_arms_added_at_runtime():
    monitor = ArmDriftMonitor(2, "bernoulli")
    monitor.update(ArmStats.from_pulls([0, 1, 2], [1.0, 0.0, 1.0], n_arms=3), 0)
    assert monitor.n_arms == 3 and monitor.detectors[2].n_seen == 1


def test_monitor_bad_input_changes_nothing():
    monitor = ArmDriftMonitor(2, "bernoulli")
    monitor.update(ArmStats.from_pulls([0, 1], [1.0, 0.0], n_arms=2), 0)
    before = monitor.to_dict()
    bad = ArmStats(np.array([2, 1]), np.array([1.0, 3.0]), np.array([1.0, 9.0]))
    with pytest.raises(ValueError, match="Bernoulli rewards must be in"):
        monitor.update(bad, 2)
    with pytest.raises(ValueError, match="pulls_before"):
        monitor.update(ArmStats.zeros(2), -1)
    assert monitor.to_dict() == before
    with pytest.raises(ValueError, match="valid kinds"):
        ArmDriftMonitor(2, "poisson")
    with pytest.raises(ValueError, match="valid detectors"):
        ArmDriftMonitor(2, "gaussian", detector="magic")
