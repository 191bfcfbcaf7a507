"""Regret accounting and the Lai–Robbins constant: exact numbers and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from banditops.bandit.regret import (
    cumulative_regret,
    kl_bernoulli,
    kl_gaussian,
    lai_robbins_bound,
    lai_robbins_constant,
    pseudo_regret,
)


def test_pseudo_and_cumulative_regret_are_exact() -> None:
    mu = [0.2, 0.7, 0.5]
    arms = [0, 1, 2, 2, 1]
    assert pseudo_regret(mu, arms) == pytest.approx(0.9)
    assert cumulative_regret(mu, arms).tolist() == pytest.approx([0.5, 0.5, 0.7, 0.9, 0.9])
    assert pseudo_regret(mu, []) == 0.0
    assert cumulative_regret(mu, np.array([], dtype=int)).shape == (0,)


def test_kl_helpers() -> None:
    assert kl_bernoulli(0.5, 0.5) == 0.0
    assert kl_bernoulli(0.2, 0.6) == pytest.approx(0.2 * math.log(0.2 / 0.6) + 0.8 * math.log(0.8 / 0.4))
    assert np.asarray(kl_bernoulli(np.array([0.1, 0.9]), 0.5)).shape == (2,)
    assert math.isfinite(kl_bernoulli(0.0, 1.0))  # clipped, not infinite
    assert kl_gaussian(1.0, 3.0, sd=2.0) == pytest.approx(0.5)


def test_lai_robbins_reference_value() -> None:
    """The brief's check: 10 Bernoulli arms 0.1..0.9 over 100,000 pulls → C ln T ≈ 100.1."""
    mu = np.linspace(0.1, 0.9, 10)
    assert lai_robbins_bound(mu, "bernoulli", 100_000) == pytest.approx(100.1, abs=0.05)
    assert lai_robbins_constant(mu, "bernoulli") * math.log(100_000) == lai_robbins_bound(mu, "bernoulli", 100_000)


def test_lai_robbins_gaussian_and_ties() -> None:
    assert lai_robbins_constant([1.0, 3.0, 2.0], "gaussian", sd=2.0) == pytest.approx(2 * 4 / 2 + 2 * 4 / 1)
    # an arm tied with the best costs nothing asymptotically
    assert lai_robbins_constant([0.5, 0.5], "bernoulli") == 0.0
    assert lai_robbins_bound([0.0, 1.0], "gaussian", 1) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pseudo_regret([], [0]), "non-empty 1-D"),
        (lambda: pseudo_regret([0.1, float("nan")], [0]), "finite"),
        (lambda: pseudo_regret([0.1, 0.2], [2]), r"valid arms are 0..1"),
        (lambda: cumulative_regret([0.1, 0.2], [0.5]), "integer arm indices"),
        (lambda: lai_robbins_constant([0.1, 1.2], "bernoulli"), r"probabilities in \[0, 1\]"),
        (lambda: lai_robbins_constant([0.1, 0.2], "poisson"), "valid kinds: bernoulli, gaussian"),
        (lambda: lai_robbins_constant([0.1, 0.2], "gaussian", sd=0.0), "sd must be"),
        (lambda: lai_robbins_bound([0.1, 0.2], "bernoulli", 0), "horizon must be"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
