"""The environment's world survives a crash: real uvicorn servers, a real Redis, SIGKILL.

The service keeps its world record in Redis (``banditops.store.world_journal``). A crash during a
``banners`` experiment must bring back ``banners`` — with its drifts and added arms — not the
``seed`` world the restarted service's settings name; the agents' next round must then succeed. A
reset that would switch the experiment's world is refused (409), and a change the record cannot
take is refused (503) with the world unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import redis

from banditops.bandit.arms import PROBLEM1_MEANS, PROBLEM1_PERIOD, scenario
from banditops.clients.env_client import EnvClient, EnvError
from banditops.loop import rounds, transitions
from banditops.store import BanditStore
from banditops.store.world_journal import WorldJournal
from services.environment.app.world import World
from stack.env_server import EnvServer
from stack.redis_server import RedisServer

GROUND_TRUTH = ("arms", "means", "best_arm", "scenario")


def test_a_crashed_environment_comes_back_with_the_experiments_world(redis_server: RedisServer, namespace: str,
                                                                     tmp_path: Path) -> None:
    store = BanditStore(redis_server.client(), namespace)
    server = EnvServer(scenario="seed", seed=3, redis_url=redis_server.url, namespace=namespace,
                       log_path=tmp_path / "env.log").start(120)
    try:
        with EnvClient(server.url, token=server.admin_token) as env:
            config, _ = transitions.experiment_config(scenario_name="banners", pulls_per_round=50,
                                                      growing_rounds=False)  # rounds of exactly 50
            transitions.start_experiment(store, env, config, seed=3)  # the experiment DAG's start
            # The dashboard's Reset to another world is refused while the experiment runs: nothing changes.
            with pytest.raises(EnvError) as refused:
                env.reset("seed")
            assert refused.value.status == 409 and "start a new experiment" in refused.value.message
            assert env.truth()["scenario"] == "banners"
            env.reset("banners", seed=3)  # its own world: allowed (undoes drifts)
            env.update_arm(2, p=0.9)  # a drift ...
            env.update_arm(0, mean=0.05)  # ... another ...
            index = env.add_arm({"kind": "bernoulli", "p": 0.42})  # ... and a new banner, as the dashboard adds it
            assert store.add_arm() == index
            with pytest.raises(EnvError) as refused:  # banners has 10 arms; the experiment now 11
                env.reset("banners")
            assert refused.value.status == 409
            assert rounds.run_agent_round(store, env, None, "d/r/0/0", np.random.default_rng(0)).status == "applied"
            truth, events = env.truth(), env.events()
        server.kill()  # SIGKILL
        # Restarted with its default settings (``seed``): the record wins.
        server = EnvServer(port=server.port, scenario="seed", seed=3, redis_url=redis_server.url, namespace=namespace,
                           admin_token=server.admin_token, log_path=tmp_path / "env.log").start(120)
        with EnvClient(server.url, token=server.admin_token) as env:
            after = env.truth()
            assert {k: after[k] for k in GROUND_TRUTH} == {k: truth[k] for k in GROUND_TRUTH}
            assert after["scenario"] == "banners" and after["means"][2] == 0.9
            assert len(after["arms"]) == len(scenario("banners")) + 1
            assert env.events() == events  # drifts, the added arm and the resets, in order
            assert (after["total_pulls"], after["pulls"]) == (0, [0] * len(after["arms"]))  # the process's counters
            result = rounds.run_agent_round(store, env, None, "d/r/1/0", np.random.default_rng(1))
            assert result.status == "applied" and result.pulls == 50
            # The restarted service books what it serves again: exactly what the store applied.
            ledger = env.ledger()
            applied = next(s for s in store.summaries() if s.batch_id == "d/r/1/0")
            assert [(e["epoch"], e["pulls"], e["batches"]) for e in ledger["epochs"]] == [(store.epoch(), 50, 1)]
            assert ledger["batches"][0]["attempts"] == [[50, pytest.approx(float(applied.stats.sum.sum()), rel=1e-12)]]
    finally:
        server.stop()


def test_a_change_the_record_cannot_take_is_refused_and_redis_crash_keeps_the_world(tmp_path: Path,
                                                                                 namespace: str) -> None:
    valkey = RedisServer(data_dir=tmp_path / "redis", appendonly=True).start()
    server = EnvServer(scenario="problem1", seed=1, redis_url=valkey.url, namespace=namespace).start(120)
    try:
        with EnvClient(server.url, token=server.admin_token) as env:
            env.update_arm(1, p=0.75)
            truth = env.truth()
            valkey.kill()  # SIGKILL: the AOF holds what Redis acknowledged
            with pytest.raises(EnvError) as refused:
                env.update_arm(1, p=0.1)
            assert refused.value.status == 503 and "not applied" in refused.value.message
            with pytest.raises(EnvError) as refused:
                env.add_arm({"kind": "bernoulli", "p": 0.5})
            assert refused.value.status == 503
            with pytest.raises(EnvError) as refused:  # nor can it tell which experiment runs
                env.reset("problem1")
            assert refused.value.status == 503 and "nothing was changed" in refused.value.message
            assert env.truth() == truth  # nothing changed; pulls still served from memory
            assert len(env.pulls([0, 1]).rewards) == 2
        server.kill()  # SIGKILL
        with pytest.raises(RuntimeError, match="exited"):  # no record to read: it refuses to start a world
            EnvServer(port=server.port, scenario="seed", redis_url=valkey.url, namespace=namespace).start(60)
        valkey.start()
        server = EnvServer(port=server.port, scenario="seed", redis_url=valkey.url, namespace=namespace,
                           admin_token=server.admin_token).start(120)
        with EnvClient(server.url, token=server.admin_token) as env:
            after = env.truth()
            assert {k: after[k] for k in GROUND_TRUTH} == {k: truth[k] for k in GROUND_TRUTH}
            assert after["scenario"] == "problem1" and after["means"][1] == 0.75
    finally:
        server.stop()
        valkey.stop()


def test_a_problem1_schedule_resumes_from_its_last_switch(redis_client: redis.Redis, namespace: str) -> None:
    journal = WorldJournal(redis_client, namespace)
    world = World.open(journal, "problem1", seed=0)
    world.pulls(np.zeros(PROBLEM1_PERIOD + 10, dtype=np.int64))  # past the first switch
    assert world.truth()["means"] == list(PROBLEM1_MEANS[1])
    again = World.open(journal, "seed", seed=0)  # a restart: the record, not "seed"
    assert again.truth()["means"] == list(PROBLEM1_MEANS[1]) and again.truth()["scenario"] == "problem1"
    assert again.events() == world.events()
    again.pulls(np.zeros(PROBLEM1_PERIOD - 1, dtype=np.int64))  # one period after the switch, not before
    assert again.truth()["means"] == list(PROBLEM1_MEANS[1])
    again.pulls(np.zeros(1, dtype=np.int64))
    assert again.truth()["means"] == list(PROBLEM1_MEANS[2])
    assert [a.model_dump() for a in scenario("problem1")] != again.truth()["arms"]
