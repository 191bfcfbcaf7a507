"""The local stack's Redis through the stack's own code path: ``localstack.up`` / ``stop(crash=True)``.

The end-to-end test does this with the whole stack (minutes); here only Redis runs, with the
stack's ACL file, AOF folder, server choice and port, so the restart path is checked in seconds.
"""

from __future__ import annotations

from pathlib import Path

from banditops.store import BanditStore, ExperimentConfig
from banditops.store.world_journal import WorldJournal
from stack import localstack


def test_a_sigkilled_stack_redis_comes_back_with_the_experiment(tmp_path: Path) -> None:
    """What the e2e Redis-crash test saw empty: after SIGKILL and ``up``, every write is back."""
    cfg = localstack.StackConfig(root=tmp_path / "var", components=("redis",))
    cfg.ports["redis"] = localstack.free_port()
    localstack.up(cfg, log=lambda _m: None)
    try:
        store = BanditStore.from_url(localstack.redis_url(cfg, "airflow"), localstack.namespace())
        epoch = store.reset(ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=3))
        assert store.apply_batch("b1", epoch, [0, 1, 2, 1], [1, 0, 1, 1]).status == "applied"
        journal = WorldJournal.from_url(localstack.redis_url(cfg, "environment"), localstack.namespace())
        journal.save({"scenario": "banners"}, {"kind": "drift", "arm": 2})
        before = store.snapshot()

        localstack.stop(cfg, "redis", crash=True)  # SIGKILL: only what the AOF holds comes back
        localstack.up(cfg, log=lambda _m: None)  # the same server, port, ACL file and AOF folder

        assert store.exists(), "the experiment is gone after the restart"
        assert store.snapshot()["keys"] == before["keys"]
        assert (store.state().epoch, store.state().total_pulls) == (epoch, 4)
        record = journal.load()
        assert record is not None and record.events == [{"kind": "drift", "arm": 2}]
        assert store.apply_batch("b1", epoch, [0, 1, 2, 1], [1, 0, 1, 1]).status == "duplicate"
        store.client.close()
        journal.client.close()
    finally:
        localstack.down(cfg, log=lambda _m: None)
    assert not localstack.status(cfg)["redis"]["alive"]
