"""The deployed-loop simulator: the agents' own rounds on a real server, scored like the sequential one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from banditops.bandit.arms import GaussianArm
from banditops.cli import main
from banditops.sim.deployed import DeployedSetup, SimulatedWorld, simulate_deployed, simulate_deployed_seed
from banditops.sim.simulation import Instance, simulate

DROP = Instance.build([GaussianArm(mean=m) for m in (1, 2, 3, 4, 5)],
                      [{"t": 3000, "arm": 4, "mean": 0.0}, {"t": 3000, "arm": 0, "mean": 6.0}], 6000)


def test_the_world_serves_the_sequential_simulators_table_in_pull_order():
    instance = Instance.build([GaussianArm(mean=0), GaussianArm(mean=1)], [{"t": 2, "arm": 1, "mean": -1}], 4)
    table = np.arange(8, dtype=float).reshape(4, 2)
    world = SimulatedWorld(instance, table)
    first = world.pulls([1, 0])
    assert first.rewards.tolist() == [1.0, 2.0] and first.regret == 1.0 and first.total_pulls == 2
    assert world.events() == []
    second = world.pulls([1, 0])
    assert second.rewards.tolist() == [5.0, 6.0] and second.regret == 1.0  # arm 1 is now the worse one
    assert [e["total_pulls"] for e in world.events()] == [2] and world.truth()["best_arm"] == 0
    assert world.played.tolist() == [1, 0, 1, 0] and instance.dynamic_regret(world.played) == 2.0
    with pytest.raises(ValueError, match="1 pulls asked, 0 left"):
        world.pulls([0])


def test_a_drop_of_the_played_arm_is_caught_relearned_and_scored(redis_server, redis_client, namespace):
    fixed = {"growing_rounds": False}  # every round 50 pulls, so the change falls on a round boundary
    result = simulate_deployed_seed(DROP, 0, redis_server.url, DeployedSetup(4, 50), namespace=namespace,
                                    config_knobs=fixed)
    assert result.policy == "deployed:system" and result.horizon == 6000
    (detection,) = result.detections
    # The change falls on a round boundary (3000 = 15 steps of 200). The agents' rounds test every
    # reward as it is observed, so the first post-change round raises the alarm itself, within its
    # own 50 pulls; the reaction reaches the agents' next rounds (the step is already drawn).
    assert detection["delay"] is not None and 1 <= detection["delay"] <= 50
    assert result.alarms[0]["arm"] in (0, 4) and not result.alarms[0]["false"] and result.alarms[0]["restart"]
    # at least 1,200 of regret are committed by that first step (arm 4 pays 0 where 6 was possible)
    assert result.regret > 1200
    assert result.explored < 500  # no round-robin budget after the reaction: only the policy's own pulls
    assert redis_client.keys(f"{namespace}:*") == []  # the seed's namespace is dropped


def test_growing_rounds_pay_less_than_rounds_drawn_blind(redis_server):
    """The default grows each epoch's rounds 1, 2, 4, ... pulls per agent: the first rounds of the
    experiment and of the restarted epoch are not drawn from an (almost) empty posterior."""
    blind = simulate_deployed_seed(DROP, 0, redis_server.url, DeployedSetup(4, 50),
                                   config_knobs={"growing_rounds": False})
    growing = simulate_deployed_seed(DROP, 0, redis_server.url, DeployedSetup(4, 50))
    assert growing.detections[0]["delay"] is not None and growing.alarms[0]["restart"]
    assert growing.regret < blind.regret - 300, (growing.regret, blind.regret)


def test_seeds_are_independent_and_reproducible(redis_server):
    a = simulate_deployed(DROP, [0, 1], redis_server.url, DeployedSetup(4, 50))
    b = simulate_deployed(DROP, [1], redis_server.url, DeployedSetup(4, 50))
    assert a.results[1].regret == b.results[0].regret  # seed 1 alone equals seed 1 after seed 0
    assert a.results[0].regret != a.results[1].regret
    summary = a.summary()
    assert summary["code_path"] == "deployed loop" and (summary["agents"], summary["pulls_per_round"]) == (4, 50)
    assert simulate(DROP, 1, "ts").summary()["code_path"] == "sequential simulator"


def test_one_agent_one_pull_matches_the_sequential_simulator_within_noise(redis_server):
    """Plain TS through the store's rounds against the sequential simulator's plain TS: the same reward
    tables (common random numbers), different posterior draws. The mean paired difference over 20
    seeds must lie within its 99% interval of zero — an honest margin, not a tuned tolerance."""
    instance = Instance.build([GaussianArm(mean=m) for m in (0.0, 0.5, 1.0)], horizon=400)
    seeds = list(range(20))
    deployed = simulate_deployed(instance, seeds, redis_server.url, DeployedSetup(1, 1, policy="ts"))
    sequential = simulate(instance, seeds, "ts")
    diff = np.array([d.regret - s.regret for d, s in zip(deployed.results, sequential.results, strict=True)])
    half = sps.t.ppf(0.995, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size)
    assert abs(diff.mean()) <= half, (diff.mean(), half)
    assert sequential.summary()["dynamic_regret"]["value"] > 5  # the comparison is not of two zeros


def test_cli_prints_the_simulate_report_for_the_deployed_loop(redis_server, capsys):
    args = ["simulate", "--deployed", "--agents", "2", "--pulls-per-round", "25", "--scenario", "seed",
            "--horizon", "500", "--seeds", "2", "--json", "--redis-url", redis_server.url]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    summary = report["summary"]
    assert summary["code_path"] == "deployed loop" and summary["seeds"] == 2 and summary["horizon"] == 500
    assert summary["dynamic_regret"]["value"] > 0 and len(report["runs"]) == 2


def test_cli_deployed_errors_are_actionable(capsys, monkeypatch):
    monkeypatch.delenv("BANDITOPS_REDIS_URL", raising=False)
    assert main(["simulate", "--deployed", "--horizon", "100"]) == 2
    assert "--redis-url or set BANDITOPS_REDIS_URL" in capsys.readouterr().err
    url = ["--redis-url", "redis://127.0.0.1:1/0"]
    assert main(["simulate", "--deployed", "--policy", "system:adwin", "--horizon", "100", *url]) == 2
    assert "valid policies: system, ts" in capsys.readouterr().err
    assert main(["simulate", "--deployed", "--agents", "0", "--horizon", "100", *url]) == 2
    assert "agents must be an integer >= 1" in capsys.readouterr().err
    assert main(["simulate", "--deployed", "--refresh", "10", "--horizon", "100", *url]) == 2
    assert "--refresh does not apply to --deployed" in capsys.readouterr().err


def test_store_drop_deletes_its_namespace_only(redis_client, namespace):
    from banditops.store.redis_store import BanditStore
    from banditops.store.types import ExperimentConfig

    mine, other = BanditStore(redis_client, namespace), BanditStore(redis_client, f"{namespace}x")
    for store in (mine, other):
        store.reset(ExperimentConfig(n_arms=2))
        store.apply_batch("b/0", store.epoch(), [0, 1], [1.0, 2.0])
    assert mine.drop() >= 5 and redis_client.keys(f"{namespace}:*") == []
    assert other.state().total_pulls == 2 and mine.drop() == 0
    other.drop()
