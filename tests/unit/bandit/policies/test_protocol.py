"""Every simulation policy (each name in POLICIES) against the TablePolicy protocol."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.policies.base import TablePolicy
from banditops.sim.simulation import POLICIES, make_policy, refresh_blocks

MEANS = np.array([0.1, 0.5, 0.9])
HORIZON = 2_000


def _table(kind: str, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "bernoulli":
        return (rng.random((HORIZON, MEANS.size)) < MEANS).astype(float)
    return rng.normal(MEANS, 1.0, (HORIZON, MEANS.size))


def _play(spec: str, kind: str, blocks: list[int] | None) -> tuple[TablePolicy, np.ndarray]:
    policy = make_policy(spec, MEANS.size, kind, np.random.default_rng(11))
    return policy, policy.run(_table(kind), blocks)


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("refresh", [1, 16])
@pytest.mark.parametrize("spec", POLICIES)
def test_every_policy_plays_the_table_by_the_protocol(spec: str, kind: str, refresh: int) -> None:
    blocks = None if refresh == 1 else refresh_blocks(HORIZON, refresh)
    policy, played = _play(spec, kind, blocks)
    assert isinstance(policy, TablePolicy)
    assert played.dtype == np.int64 and played.shape == (HORIZON,)
    assert played.min() >= 0 and played.max() < MEANS.size
    assert 0 <= policy.explored <= HORIZON
    assert all(0 <= alarm.arm < MEANS.size and alarm.t < HORIZON for alarm in policy.alarms)
    # its name is a valid spec that builds the same policy
    assert make_policy(policy.name, MEANS.size, kind, np.random.default_rng(0)).name == policy.name
    # seeded: the same generator plays the same arms
    assert np.array_equal(_play(spec, kind, blocks)[1], played)
    # it learns: on a stationary table with gaps of 0.4, the best arm gets the late pulls. TS alone
    # gives it ~99 %; the floor explores <= ~5 %, a false alarm restarts a policy at most a few
    # times, so 60 % fails only for a policy that does not learn.
    assert np.mean(played[HORIZON // 2 :] == MEANS.argmax()) >= 0.6


def test_an_unknown_policy_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid policies: system, ts"):
        make_policy("ucb", 3, "bernoulli", np.random.default_rng(0))
