"""The Open Bandit Dataset read from the real obp 0.4.1 wheel (downloaded from PyPI into the cache if absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from banditops.datasets import obd

CACHE = Path(__file__).resolve().parents[3] / "benchmarks" / ".cache" / "obd"


@pytest.fixture(scope="module")
def wheel() -> Path:
    return obd.ensure_wheel(CACHE)


def test_both_logs_load_with_obp_shapes(wheel):
    for policy in obd.POLICIES:
        logs = obd.load(wheel, policy)
        assert logs.log.n_rows == 10_000
        assert (logs.n_actions, logs.n_positions) == (80, 3)
        assert set(np.unique(logs.log.position)) == {0, 1, 2}
        assert logs.log.context is not None and logs.log.context.shape[0] == 10_000
    random_logs = obd.load(wheel, "random")
    assert np.allclose(random_logs.log.pscore, 1 / 80)  # uniform over 80 items at each position


def test_bts_action_dist_is_obps_monte_carlo_stream(wheel):
    alpha, beta = obd.zozotown_prior(wheel)
    assert alpha.shape == beta.shape == (80,)
    dist = obd.bts_action_dist(alpha, beta, n_sim=500, seed=12345, chunk=128)
    # OBP draws one Beta vector per simulation from RandomState(seed) and ranks it
    rng = np.random.RandomState(12345)
    counts = np.zeros((80, 3))
    for _ in range(500):
        top = rng.beta(alpha, beta).argsort()[::-1][:3]
        counts[top, np.arange(3)] += 1
    assert np.array_equal(dist, counts / 500)
    assert np.allclose(dist.sum(axis=0), 1.0)


def test_unknown_names_and_failed_download_are_clear_errors(tmp_path, wheel):
    with pytest.raises(ValueError, match="valid: random, bts"):
        obd.load(wheel, "ts")
    with pytest.raises(RuntimeError, match="could not download the Open Bandit Dataset"):
        obd.ensure_wheel(tmp_path / "empty", python="/bin/false")
