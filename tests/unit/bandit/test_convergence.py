"""Convergence verdicts: clear winner, ties, missing evidence, the absolute fallback, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from banditops.bandit.convergence import ConvergenceVerdict, check_convergence
from banditops.bandit.posteriors import make_posterior
from banditops.bandit.stats import ArmStats


def bern(n: list[int], s: list[float]) -> ArmStats:
    return ArmStats(np.array(n), np.array(s), np.array(s))


def gauss(means: list[float], n: int, seed: int = 0) -> ArmStats:
    rng = np.random.default_rng(seed)
    pulls = np.repeat(np.arange(len(means)), n)
    return ArmStats.from_pulls(pulls, rng.normal(np.repeat(means, n), 1.0), n_arms=len(means))


def test_a_clear_winner_converges() -> None:
    post = make_posterior("bernoulli", bern([800, 800, 800], [40.0, 160.0, 80.0]))
    v = check_convergence(post, np.random.default_rng(0))
    assert v.converged and v.leader == 1
    assert v.prob_best >= 0.95 and v.value_remaining_p95 <= 0.01 and v.relative
    assert v.min_pulls == 800
    assert v.reason.startswith("converged: arm 1 is best")


def test_two_tied_arms_do_not_converge_and_the_reason_names_p_best() -> None:
    post = make_posterior("bernoulli", bern([2000, 2000, 2000], [100.0, 300.0, 300.0]))
    v = check_convergence(post, np.random.default_rng(1))
    assert not v.converged
    assert v.leader in (1, 2) and 0.35 < v.prob_best < 0.65
    assert f"P(best) of arm {v.leader} is {v.prob_best:.3g} < 0.95" in v.reason


def test_missing_pulls_block_convergence_even_when_the_winner_is_clear() -> None:
    post = make_posterior("bernoulli", bern([800, 800, 50], [40.0, 160.0, 0.0]))
    v = check_convergence(post, np.random.default_rng(2), min_pulls_per_arm=100)
    assert not v.converged and v.min_pulls == 50 and v.prob_best >= 0.95
    assert v.reason == "not converged: arms [2] have fewer than 100 pulls (minimum 50)"


def test_a_retired_arm_neither_leads_nor_needs_pulls() -> None:
    # arm 0 would be best, but it is retired; arm 2 has no pulls, but it is retired too
    post = make_posterior("bernoulli", bern([500, 500, 500, 0], [400.0, 50.0, 200.0, 0.0]))
    v = check_convergence(post, np.random.default_rng(3), retired=[0, 3])
    assert v.converged and v.leader == 2 and v.min_pulls == 500


def test_a_single_active_arm_converges_once_it_has_its_pulls() -> None:
    post = make_posterior("gaussian", gauss([1.0, 5.0], n=30))
    v = check_convergence(post, np.random.default_rng(8), retired=[1])
    assert v.converged and v.leader == 0 and v.prob_best == 1.0 and v.value_remaining_p95 == 0.0


def test_value_remaining_is_a_separate_guard_when_delta_is_loose() -> None:
    # 0.30 vs 0.29 after 3000 pulls each: leader fairly likely best, but could trail by > 1%
    post = make_posterior("bernoulli", bern([3000, 3000], [900.0, 870.0]))
    v = check_convergence(post, np.random.default_rng(4), delta=0.3)
    assert v.leader == 0 and v.prob_best >= 0.7
    assert not v.converged
    assert "P(best)" not in v.reason
    assert f"value remaining p95 is {v.value_remaining_p95:.3g} > 0.01 (relative)" in v.reason
    # the same evidence passes once 5% of the leader's value may be left on the table
    assert check_convergence(post, np.random.default_rng(4), delta=0.3, value_threshold=0.05).converged


def test_gaussian_leader_near_zero_uses_the_absolute_value_remaining() -> None:
    post = make_posterior("gaussian", gauss([0.0, -2.0, -3.0], n=60))
    v = check_convergence(post, np.random.default_rng(5), value_threshold=0.05)
    assert v.leader == 0 and not v.relative
    assert v.converged, v.reason


def test_gaussian_seed_scenario_is_relative_once_the_leader_is_clearly_positive() -> None:
    post = make_posterior("gaussian", gauss([2.0, 4.0, 1.0, 3.0, 0.5], n=40))
    v = check_convergence(post, np.random.default_rng(6))
    assert v.relative and v.leader == 1 and v.converged, v.reason


def test_the_verdict_serialises_to_json() -> None:
    v = check_convergence(make_posterior("bernoulli", ArmStats.zeros(2)), np.random.default_rng(7))
    assert isinstance(v, ConvergenceVerdict)
    payload = json.loads(json.dumps(v.to_dict()))
    assert payload["converged"] is False and set(payload) == {
        "converged", "leader", "prob_best", "value_remaining_p95", "relative", "min_pulls", "reason"}
    with pytest.raises(AttributeError):
        v.converged = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delta": 0.0}, "delta must be a probability"),
        ({"delta": 1.0}, "delta must be a probability"),
        ({"value_threshold": -0.1}, "value_threshold must be a finite number >= 0"),
        ({"min_pulls_per_arm": -1}, "min_pulls_per_arm must be an integer >= 0"),
        ({"draws": 0}, "draws must be an integer >= 1"),
        ({"retired": [0, 1]}, "all 2 arms are retired"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    post = make_posterior("bernoulli", ArmStats.zeros(2))
    with pytest.raises(ValueError, match=message):
        check_convergence(post, np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


def test_numpy_scalars_are_accepted_as_settings() -> None:
    post = make_posterior("bernoulli", bern([800, 800], [40.0, 160.0]))
    v = check_convergence(post, np.random.default_rng(9), delta=np.float32(0.05),
                          value_threshold=np.float64(0.01), min_pulls_per_arm=np.int64(20), draws=np.int64(2000))
    assert v.converged
