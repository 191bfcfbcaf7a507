"""docker-compose.yaml, checked with the real Compose v2 binary and the compose-spec schema, offline.

`docker compose config` needs no engine: it loads, interpolates and validates the file exactly as
`docker compose up` would. The compose-spec JSON schema is the one the pinned binary embeds
(compose-go ships it via go:embed), so the schema check follows the binary's version.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from stack.localstack import StackConfig
from stack.redis_server import APPENDFSYNC

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
SECRET_VAR = re.compile(r"(PASSWORD|TOKEN|SECRET|FERNET|_KEY$)")
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")
ONE_SHOT = {"airflow-init", "bandit-redis-acl"}
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}

pytestmark = pytest.mark.deploy


def compose_text() -> str:
    """The compose file without its comment lines (which may show ``${VAR:?...}`` as an example)."""
    return "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))


def compose(compose_bin: Path, *args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    """Run the Compose binary with a clean environment (no stray variables, no .env from the checkout)."""
    base = [str(compose_bin), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    base += ["--env-file", str(env_file)] if env_file else ["--env-file", "/dev/null"]
    return subprocess.run(base + list(args), capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".cache")})


@pytest.fixture(scope="module")
def config(compose_bin: Path) -> dict[str, Any]:
    """The fully interpolated model `docker compose config` produces from .env.example."""
    proc = compose(compose_bin, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose_spec_schema(compose_bin: Path) -> dict[str, Any]:
    """compose-spec.json as embedded in the pinned Compose binary."""
    data = compose_bin.read_bytes()
    start = data.find(b'{\n  "$schema": "https://json-schema.org/draft-07/schema",\n  "$id": "compose_spec.json"')
    assert start >= 0, "the compose binary no longer embeds compose_spec.json where expected"
    schema, _ = json.JSONDecoder().raw_decode(data[start:start + 1_000_000].decode("utf-8", "replace"))
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


def test_compose_config_quiet_passes_with_the_example_env(compose_bin: Path) -> None:
    proc = compose(compose_bin, "config", "-q")
    assert proc.returncode == 0, proc.stderr
    assert compose(compose_bin, "version").stdout.startswith("Docker Compose version v2.")


def test_compose_refuses_to_start_without_secrets(compose_bin: Path) -> None:
    proc = compose(compose_bin, "config", "-q", env_file=None)
    assert proc.returncode != 0
    assert "required variable" in proc.stderr and "is missing a value" in proc.stderr
    assert "see .env.example" in proc.stderr


def test_every_required_variable_points_to_the_example_env() -> None:
    """Compose names whichever missing secret it meets first (the order varies): each message must help."""
    lines = (ROOT / "docker-compose.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    required = re.findall(r"\$\{([A-Z_]+):\?([^}]*)\}", text)
    assert required
    assert [name for name, message in required if "see .env.example" not in message] == []


@pytest.mark.parametrize("which", ["raw", "config"])
def test_file_and_model_match_the_compose_spec(which: str, request: pytest.FixtureRequest,
                                               compose_spec_schema: dict[str, Any]) -> None:
    document = request.getfixturevalue(which)
    errors = sorted(jsonschema.Draft7Validator(compose_spec_schema).iter_errors(document), key=str)
    assert errors == []


def test_schema_check_catches_a_typo(raw: dict[str, Any], compose_spec_schema: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(raw))
    broken["services"]["decision"]["healthchek"] = broken["services"]["decision"].pop("healthcheck")
    assert list(jsonschema.Draft7Validator(compose_spec_schema).iter_errors(broken))


def test_the_stack_has_every_service(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {
        "postgres", "bandit-redis-acl", "bandit-redis", "celery-broker", "mlflow", "environment", "dashboard",
        "decision",
    } | AIRFLOW_SERVICES


def test_every_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_dependencies_wait_for_health(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for dependency, spec in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec["condition"] == expected, (name, dependency)
    assert set(config["services"]["airflow-worker"]["depends_on"]) >= {"airflow-init", "celery-broker", "postgres"}


def test_no_secret_has_a_default_value() -> None:
    """Every secret-looking variable is required (``${VAR:?msg}``) wherever it is used."""
    text = compose_text()
    secret_uses = [m for m in INTERPOLATION.finditer(text) if SECRET_VAR.search(m["name"])]
    assert len(secret_uses) > 10
    for match in secret_uses:
        assert match["op"] == ":?", f"{match.group(0)} gives a secret a default or lets it be empty"
        assert match["arg"].strip(), f"{match.group(0)} needs a message saying what to set"


def test_env_example_lists_every_secret_as_a_placeholder() -> None:
    text = compose_text()
    required = {m["name"] for m in INTERPOLATION.finditer(text) if m["op"] == ":?"}
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    assert required <= set(example), required - set(example)
    for name in required:
        if SECRET_VAR.search(name):
            assert example[name].startswith("change-me"), name


def test_ports_are_published_on_loopback_only(config: dict[str, Any]) -> None:
    published = [(n, p) for n, s in config["services"].items() for p in s.get("ports", [])]
    assert {n for n, _ in published} == {"airflow-apiserver", "mlflow", "environment", "dashboard", "decision"}
    for name, port in published:
        assert port["host_ip"] == "127.0.0.1", name


def test_state_lives_in_named_volumes(config: dict[str, Any]) -> None:
    mounts = {n: {v["target"]: v for v in s.get("volumes", [])} for n, s in config["services"].items()}
    assert mounts["postgres"]["/var/lib/postgresql/data"]["type"] == "volume"
    assert mounts["bandit-redis"]["/data"]["type"] == "volume"
    assert mounts["mlflow"]["/mlflow/artifacts"]["type"] == "volume"
    assert {"postgres-data", "bandit-redis-data", "mlflow-artifacts", "airflow-logs"} <= set(config["volumes"])


def test_airflow_runs_celery_against_a_separate_broker(config: dict[str, Any]) -> None:
    env = config["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@celery-broker:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert "@bandit-redis:6379" in env["BANDITOPS_REDIS_URL"]
    assert env["BANDITOPS_DEPLOY_MODE"] == "deployed"
    for name in AIRFLOW_SERVICES:
        assert config["services"][name]["user"] == "50000:0", name
    command = config["services"]["bandit-redis"]["command"][0].replace("$$", "$")  # the model keeps $$ escaped
    assert "--appendonly yes" in command and "--aclfile /data/users.acl" in command and "requirepass" not in command
    assert f"--appendfsync {APPENDFSYNC}" in command  # the policy the crash tests run under


def test_bandit_redis_has_a_maxmemory_below_its_limit_and_never_evicts(config: dict[str, Any]) -> None:
    spec = config["services"]["bandit-redis"]
    command = spec["command"][0].split()
    maxmemory = command[command.index("--maxmemory") + 1]
    assert maxmemory.endswith("mb")
    limit = int(spec["mem_limit"])  # the model gives bytes
    assert int(maxmemory[:-2]) * 2**20 == limit * 75 // 100
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


@pytest.mark.parametrize("service", ["bandit-redis", "bandit-redis-acl", "celery-broker", "postgres", "airflow-init"])
def test_services_refuse_placeholder_secrets(config: dict[str, Any], service: str, tmp_path: Path) -> None:
    """Run the service's own start-up guard (its command up to `exec`) with the example's values."""
    spec = config["services"][service]
    script = spec["command"][0].replace("$$", "$")  # what the container receives
    lines = script.splitlines()
    guard = "\n".join(lines[: lines.index("done") + 1])  # everything up to the end of the guard loop
    assert "for name in ${BANDITOPS_REQUIRED_SECRETS}" in guard
    env = {"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in spec["environment"].items()}}
    refused = subprocess.run(["bash", "-c", guard], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 78, refused.stderr
    assert "placeholder" in refused.stderr
    names = env["BANDITOPS_REQUIRED_SECRETS"].split()
    accepted = subprocess.run(["bash", "-c", guard + "\necho started"], capture_output=True, text=True, check=False,
                              env={**env, **{n: "0123456789abcdef" for n in names}})
    assert accepted.returncode == 0 and accepted.stdout.strip().endswith("started"), accepted.stderr


def test_smoke_script_says_plainly_when_no_engine_answers(tmp_path: Path) -> None:
    """Without an engine `make smoke-compose` must fail with the reason, never pass."""
    import sys

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "smoke_compose.py")], env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no Docker engine answers" in proc.stdout and "nothing was built or started" in proc.stdout


# ---------------------------------------------------------------- least privilege: who gets which secret

#: The secret variables of .env.example each service may receive (anything else is a leak).
SECRETS_OF = {
    "decision": {"BANDIT_REDIS_DECISION_PASSWORD", "BANDITOPS_DECISION_ADMIN_TOKEN"},
    "environment": {"BANDIT_REDIS_ENVIRONMENT_PASSWORD", "BANDITOPS_ENV_ADMIN_TOKEN"},
    "dashboard": {"BANDIT_REDIS_DASHBOARD_PASSWORD", "BANDITOPS_ENV_ADMIN_TOKEN", "AIRFLOW_ADMIN_PASSWORD",
                  "BANDITOPS_DASHBOARD_PASSWORD", "MLFLOW_ADMIN_PASSWORD"},
    "mlflow": {"POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_FLASK_SECRET_KEY"},
    "bandit-redis": {"BANDIT_REDIS_ADMIN_PASSWORD"},
    "bandit-redis-acl": {"BANDIT_REDIS_ADMIN_PASSWORD", "BANDIT_REDIS_AIRFLOW_PASSWORD",
                         "BANDIT_REDIS_DECISION_PASSWORD", "BANDIT_REDIS_DASHBOARD_PASSWORD",
                         "BANDIT_REDIS_ENVIRONMENT_PASSWORD"},
    "airflow-worker": {"BANDIT_REDIS_AIRFLOW_PASSWORD", "BANDITOPS_ENV_ADMIN_TOKEN", "MLFLOW_ADMIN_PASSWORD",
                       "POSTGRES_PASSWORD", "CELERY_BROKER_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY",
                       "AIRFLOW_JWT_SECRET"},
}


def _distinct_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """.env.example with every secret replaced by a value of its own, so a leak can be traced to its name."""
    example = [line for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    values = dict(line.split("=", 1) for line in example)
    secrets = {k: f"{k.lower().replace('_', '')}0123456789" for k in values if SECRET_VAR.search(k)}
    path = tmp_path / "distinct.env"
    path.write_text("".join(f"{k}={secrets.get(k, v)}\n" for k, v in values.items()))
    return path, secrets


@pytest.mark.parametrize("service", sorted(SECRETS_OF))
def test_each_service_gets_only_the_secrets_it_uses(compose_bin: Path, tmp_path: Path, service: str) -> None:
    env_path, secrets = _distinct_env(tmp_path)
    proc = compose(compose_bin, "config", "--format", "json", env_file=env_path)
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(proc.stdout)["services"][service]
    text = json.dumps({"environment": spec.get("environment"), "command": spec.get("command")})
    received = {name for name, value in secrets.items() if value in text}
    assert received == SECRETS_OF[service], f"{service} gets {sorted(received - SECRETS_OF[service])} it does not use"


def test_each_service_is_its_own_redis_user(config: dict[str, Any]) -> None:
    services = config["services"]
    users = {name: re.match(r"redis://(\w*):", services[name]["environment"].get("BANDITOPS_REDIS_URL", "x://:"))
             for name in ("decision", "dashboard", "environment", "airflow-worker", "airflow-scheduler",
                          "airflow-triggerer")}
    assert {n: m[1] if m else None for n, m in users.items()} == {
        "decision": "decision", "dashboard": "dashboard", "environment": "environment", "airflow-worker": "airflow",
        "airflow-scheduler": "airflow", "airflow-triggerer": "airflow"}
    assert services["airflow-worker"]["environment"]["AIRFLOW_CONN_REDIS_DEFAULT"].startswith("redis://airflow:")
    # The environment needs its world record before it answers: it starts after a healthy Redis.
    assert services["environment"]["depends_on"]["bandit-redis"]["condition"] == "service_healthy"
    assert services["environment"]["environment"]["BANDITOPS_REDIS_URL"].endswith("@bandit-redis:6379/0")


def test_the_acl_writer_writes_what_the_store_generates(config: dict[str, Any], tmp_path: Path) -> None:
    """The init step's own command, with its compose environment: the file is acl_file() of the namespace."""
    import os
    import sys

    from banditops.store.acl import USERS, acl_file

    spec = config["services"]["bandit-redis-acl"]
    script = spec["command"][0].replace("$$", "$")
    command = script.splitlines()[-1]
    assert command == "exec banditops redis-acl --out /tmp/users.acl"
    assert {v["target"]: v["source"] for v in spec["volumes"]} == {"/tmp": "bandit-redis-acl"}
    redis_mounts = {v["target"]: v for v in config["services"]["bandit-redis"]["volumes"]}
    assert redis_mounts["/acl"]["source"] == "bandit-redis-acl" and redis_mounts["/acl"]["read_only"]
    passwords = {u: f"{u}-pw-0123456789" for u in USERS}
    env = {**{k: str(v) for k, v in spec["environment"].items()},
           **{f"BANDITOPS_REDIS_{u.upper()}_PASSWORD": p for u, p in passwords.items()},
           "PATH": os.environ["PATH"]}
    out = tmp_path / "users.acl"
    banditops = Path(sys.executable).parent / "banditops"
    proc = subprocess.run([str(banditops), "redis-acl", "--out", str(out)], env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == acl_file(env["BANDITOPS_NAMESPACE"], passwords)
    assert out.stat().st_mode & 0o777 == 0o600


def test_mlflow_runs_its_basic_auth_app_and_clients_sign_in(config: dict[str, Any]) -> None:
    services = config["services"]
    mlflow = services["mlflow"]["environment"]
    assert mlflow["MLFLOW_AUTH_ADMIN_USERNAME"] and mlflow["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("change-me")
    assert mlflow["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    dockerfile = (ROOT / "docker" / "mlflow" / "Dockerfile").read_text()
    assert 'CMD ["/usr/local/bin/banditops-mlflow"]' in dockerfile and "mlflow[auth]==" in dockerfile
    assert "--app-name basic-auth" in (ROOT / "docker" / "mlflow" / "start.sh").read_text()
    for client in ("dashboard", "airflow-worker", "airflow-scheduler"):
        env = services[client]["environment"]
        assert env["MLFLOW_TRACKING_USERNAME"] == mlflow["MLFLOW_AUTH_ADMIN_USERNAME"], client
        assert env["MLFLOW_TRACKING_PASSWORD"] == mlflow["MLFLOW_AUTH_ADMIN_PASSWORD"], client
    assert not any(k.startswith("MLFLOW_TRACKING_") for k in services["decision"]["environment"])


def test_agents_play_for_time_as_in_the_local_stack(config: dict[str, Any]) -> None:
    # issue 13: the drift reaction happens inside a playing agent's round; with the settings' defaults
    # (0 s) a deployed agent plays its rounds and stops, and a drift waits for the next learning run
    local = StackConfig()
    want = {"BANDITOPS_AGENT_TASK_S": local.agent_task_s, "BANDITOPS_AGENT_ROUND_INTERVAL_S":
            local.agent_round_interval_s, "BANDITOPS_DRIFT_POLL_S": local.drift_poll_s}
    for name in ("airflow-worker", "airflow-triggerer", "airflow-scheduler"):
        env = config["services"][name]["environment"]
        assert {k: float(env[k]) for k in want} == want, name
