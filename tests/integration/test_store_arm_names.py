"""Named arms in the store, on a real Redis: the name table, add/retire by name, the migration."""

from __future__ import annotations

import json

import pytest
import redis

from banditops.store import BanditStore, ExperimentConfig
from banditops.store.types import ArmTable

NAMED = ExperimentConfig(
    name="banners", reward_kind="bernoulli", n_arms=3, arm_names=("summer-sale", "winter", "spring"),
    arm_metadata={"summer-sale": {"title": "Summer sale", "weight": 0.1234567890123456789}},
    prior={"alpha": 2.0, "beta": 3.0},
)
LEGACY = ExperimentConfig(name="seed", reward_kind="gaussian", n_arms=3)
STORE_CONFIG = NAMED  # the shared ``store`` fixture resets with it


def _write_legacy_state(client: redis.Redis, namespace: str) -> BanditStore:
    """A state exactly as the store wrote it before names: no name table, no names in the config."""
    store = BanditStore(client, namespace)
    store.reset(LEGACY)
    client.delete(f"{namespace}:arms", f"{namespace}:arm_meta")
    raw = json.loads(client.get(f"{namespace}:config"))
    for field in ("arm_names", "arm_metadata"):
        raw.pop(field)
    client.set(f"{namespace}:config", json.dumps(raw))
    store.apply_batch("old", 1, [0, 1, 1, 2], [1.0, 2.0, 3.0, 0.5])
    assert not client.exists(f"{namespace}:arms")
    return BanditStore(client, namespace)  # a fresh process reads it


def test_reset_writes_the_name_table_and_metadata(store: BanditStore, redis_client: redis.Redis) -> None:
    assert store.config() == NAMED  # names and metadata read back exactly (the float keeps every digit)
    table = store.arms()
    assert table.names == ("summer-sale", "winter", "spring")
    assert table.metadata == {"summer-sale": {"title": "Summer sale", "weight": 0.1234567890123456789}}
    assert redis_client.hgetall(f"{store.namespace}:arms") == {b"summer-sale": b"0", b"winter": b"1", b"spring": b"2"}
    assert store.state().to_dict()["arm_names"] == ["summer-sale", "winter", "spring"]


def test_add_by_name_starts_from_the_prior_and_is_learned_by_index(store: BanditStore) -> None:
    store.apply_batch("a", 1, [0, 1, 2], [1.0, 0.0, 1.0])
    assert store.add_arm("autumn", {"title": "Autumn"}) == 3
    st = store.state()
    assert st.arms.index("autumn") == 3 and st.arms.metadata["autumn"] == {"title": "Autumn"}
    assert st.config.names[-1] == "autumn" and st.config.n_arms == 4
    assert st.stats.n.tolist() == [1, 1, 1, 0]  # cold start: no statistics, so the posterior is the prior
    from banditops.loop.arm_choice import posterior_of

    assert posterior_of(st).mean()[3] == pytest.approx(2.0 / 5.0)  # Beta(2, 3) prior mean
    assert store.apply_batch("b", 1, [3], [1.0]).applied
    added = [e for e in store.events() if e.kind == "arm_added"]
    assert added[0].fields == {"arm": 3, "name": "autumn", "n_arms": 4, "epoch": 1}


def test_a_retired_name_never_comes_back(store: BanditStore) -> None:
    assert store.retire_arm("winter") == 1
    assert store.retire_arm("winter") == 1  # idempotent
    before = store.snapshot()["keys"]
    with pytest.raises(ValueError, match=r"arm 'winter' is retired \(index 1\) and cannot come back"):
        store.add_arm("winter")
    with pytest.raises(ValueError, match=r"arm 'spring' already exists \(index 2\)"):
        store.add_arm("spring")
    assert store.snapshot()["keys"] == before  # nothing written on a refusal
    st = store.state()
    assert st.retired == frozenset({1}) and st.arms.active_names == ("summer-sale", "spring")
    retired = [e for e in store.events() if e.kind == "arm_retired"]
    assert retired[0].fields == {"arm": 1, "name": "winter", "epoch": 1}


def test_unknown_and_invalid_names_are_refused_naming_the_valid_ones(store: BanditStore) -> None:
    store.retire_arm("spring")
    before = store.snapshot()["keys"]
    with pytest.raises(ValueError, match=r"unknown arm 'autumn'; valid arms: summer-sale, winter$"):
        store.retire_arm("autumn")
    with pytest.raises(ValueError, match="invalid arm name 'a b'"):
        store.add_arm("a b")
    with pytest.raises(ValueError, match="metadata of arm 'x' must be a JSON object"):
        store.add_arm("x", ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit is 4096"):
        store.add_arm("x", {"blob": "y" * 5000})
    assert store.snapshot()["keys"] == before  # nothing written on a refusal
    store.retire_arm("winter")
    with pytest.raises(ValueError, match="last active arm"):
        store.retire_arm("summer-sale")
    assert store.state().arms.active_names == ("summer-sale",)


def test_config_refuses_bad_names() -> None:
    with pytest.raises(ValueError, match="2 names for n_arms=3"):
        ExperimentConfig(n_arms=3, arm_names=("a", "b"))
    with pytest.raises(ValueError, match="distinct; repeated: a"):
        ExperimentConfig(n_arms=2, arm_names=("a", "a"))
    with pytest.raises(ValueError, match="arm_metadata names unknown arms c; valid arms: a, b"):
        ExperimentConfig(n_arms=2, arm_names=("a", "b"), arm_metadata={"c": {}})


def test_a_state_written_before_names_reads_as_arms_0_1_2(redis_client: redis.Redis, namespace: str) -> None:
    store = _write_legacy_state(redis_client, namespace)
    assert store.config() == LEGACY and store.config().names == ("0", "1", "2")
    st = store.state()
    assert st.arms == ArmTable(("0", "1", "2")) and st.stats.n.tolist() == [1, 2, 1]
    # retire by the default name, before anything wrote a table
    assert store.retire_arm("2") == 2
    with pytest.raises(ValueError, match="unknown arm '02'; valid arms: 0, 1"):
        store.retire_arm("02")
    # the first named arm materialises the table: the old arms keep their default names
    assert store.add_arm("promo") == 3
    assert redis_client.hgetall(f"{namespace}:arms") == {b"0": b"0", b"1": b"1", b"2": b"2", b"promo": b"3"}
    with pytest.raises(ValueError, match="arm '2' is retired"):
        store.add_arm("2")
    assert store.add_arm() == 4 and store.arms().names == ("0", "1", "2", "promo", "4")
    assert store.apply_batch("new", 1, [0, 3, 4], [1.0, 1.0, 1.0]).applied


def test_an_unnamed_add_on_a_legacy_state_names_the_arm_by_its_index(redis_client: redis.Redis,
                                                                       namespace: str) -> None:
    store = _write_legacy_state(redis_client, namespace)
    assert store.add_arm() == 3
    assert store.config().arm_names == () and store.arms().names == ("0", "1", "2", "3")


def test_snapshot_restore_keeps_the_name_table(store: BanditStore, redis_client: redis.Redis) -> None:
    store.add_arm("autumn")
    store.retire_arm("winter")
    copy = BanditStore(redis_client, store.namespace + "-copy")
    copy.restore(store.snapshot())
    assert copy.arms() == store.arms()
    with pytest.raises(ValueError, match="retired"):
        copy.add_arm("winter")
