"""The ACL rules as text: derived from the store's key builders, one user per role, no password inside."""

from __future__ import annotations

import fnmatch

import pytest
import redis

from banditops.store.acl import DEFAULT_USER, USERS, acl_file, acl_rules, password_env, passwords_from_env, roles
from banditops.store.feedback import (
    dead_letter_stream,
    decision_bucket_prefix,
    decision_key,
    decisions_stream,
    feedback_stream,
    fold_marker,
)
from banditops.store.redis_store import changed_channel
from banditops.store.world_journal import WorldJournal, world_prefix


def _patterns(rules: str, prefix: str) -> list[str]:
    return [word[len(prefix):] for word in rules.split() if word.startswith(prefix)]


def test_write_patterns_come_from_the_key_builders() -> None:
    rules = acl_rules("prod")
    writes = _patterns(rules["decision"], "~")
    assert writes == [decision_bucket_prefix("prod") + "*", decision_key("prod", "*"), decisions_stream("prod"),
                      feedback_stream("prod")]
    assert _patterns(rules["decision"], "%R~") == ["prod:*"]
    assert _patterns(rules["dashboard"], "~") == [] and _patterns(rules["dashboard"], "%R~") == ["prod:*"]
    assert _patterns(rules["airflow"], "~") == ["prod:*"]
    for user in ("airflow", "decision", "dashboard"):
        assert _patterns(rules[user], "&") == [changed_channel("prod")]


def test_the_decision_user_writes_none_of_the_state_keys() -> None:
    writes = _patterns(acl_rules("bo")["decision"], "~")
    state_keys = ["bo:state", "bo:config", "bo:posterior:3", "bo:counters", "bo:retired", "bo:summaries", "bo:events",
                  dead_letter_stream("bo"), fold_marker("bo", "x"), "bo:seen:3", "bo:decisions_archive"]
    assert [k for k in state_keys if any(fnmatch.fnmatchcase(k, p) for p in writes)] == []
    assert all(any(fnmatch.fnmatchcase(k, p) for p in writes)
               for k in (decision_key("bo", "ab" * 16), decisions_stream("bo"), feedback_stream("bo")))


def test_a_new_key_under_the_namespace_is_readable_without_a_new_rule() -> None:
    for user in ("decision", "dashboard"):
        reads = _patterns(acl_rules("bo")[user], "%R~")
        assert fnmatch.fnmatchcase("bo:some_future_key:7", reads[0])
        assert not fnmatch.fnmatchcase("other:state", reads[0])


def test_readers_have_no_administration_and_no_arbitrary_scripts() -> None:
    for user in ("airflow", "decision", "dashboard"):
        words = acl_rules("bo")[user].split()
        assert words.index("-@all") < words.index("+evalsha")
        assert not {"+eval", "+@scripting", "+@all", "+keys", "+flushall", "+config"} & set(words)
        assert "-@dangerous" in words and "-@admin" in words
    assert roles("bo")["admin"].rules() == "resetkeys ~* resetchannels &* +@all"


def test_passwords_come_from_one_variable_per_user() -> None:
    env = {password_env(u): f"{u}-secret" for u in USERS}
    assert passwords_from_env(env) == {u: f"{u}-secret" for u in USERS}
    with pytest.raises(ValueError, match="set BANDITOPS_REDIS_DECISION_PASSWORD"):
        passwords_from_env({k: v for k, v in env.items() if "DECISION" not in k})
    with pytest.raises(ValueError, match="placeholder"):
        passwords_from_env({**env, password_env("admin"): "change-me-x"})
    text = acl_file("bo", passwords_from_env(env))
    assert text.splitlines()[0] == DEFAULT_USER == "user default off resetpass resetkeys ~* resetchannels &* +@all"
    assert not any(p in text for p in env.values())
    with pytest.raises(ValueError, match="whitespace"):
        acl_file("bo", {"admin": "two words"})


def test_the_environment_writes_only_its_world_record_and_reads_the_namespace() -> None:
    rules = acl_rules("bo")["environment"]
    journal = WorldJournal(redis.Redis(), "bo")  # names its keys offline
    writes = _patterns(rules, "~")
    assert writes == [world_prefix("bo") + "*"] and _patterns(rules, "%R~") == ["bo:*"]
    assert all(fnmatch.fnmatchcase(k, writes[0]) for k in (journal.state_key, journal.events_key))
    assert not any(fnmatch.fnmatchcase(k, writes[0]) for k in ("bo:state", "bo:config", "bo2.world:state",
                                                                 "other.world:state", "bo.worlds:state"))
    assert _patterns(rules, "&") == []  # no pub/sub
    words = rules.split()
    granted = {w for w in words if w.startswith("+")} - {"+@connection"}
    assert granted == {"+get", "+set", "+rpush", "+ltrim", "+lrange", "+del", "+exists", "+hget", "+hgetall",
                       "+multi", "+exec", "+discard"}
    assert words.index("-@all") < words.index("+get") and "-@dangerous" in words and "-@admin" in words
