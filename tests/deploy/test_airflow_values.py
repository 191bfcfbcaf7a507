"""helm/airflow-values.yaml against the official Airflow chart's own defaults and schema (shared data).

The official chart (1.22.0) ships ``values.yaml`` and ``values.schema.json``; ``../shared/airflow-chart``
holds both as data (``BANDITOPS_AIRFLOW_CHART`` overrides the path). Like helm, we deep-merge our
values over the defaults and validate the result. The schema cannot tell whether anyone can log in,
so a second check follows the configured auth manager to where its users come from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from stack.localstack import StackConfig

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm" / "airflow-values.yaml"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


#: The official chart's values and schema (1.22.0, Apache-2.0), shipped for clones without ../shared.
BUNDLED_CHART = Path(__file__).resolve().parent / "data" / "airflow-chart-1.22.0"


def _chart_dir() -> Path:
    beside = ROOT.parent / "shared" / "airflow-chart"
    default = beside if (beside / "values.schema.json").exists() else BUNDLED_CHART
    path = Path(os.environ.get("BANDITOPS_AIRFLOW_CHART") or default)
    missing = [n for n in ("values.yaml", "values.schema.json") if not (path / n).exists()]
    if missing:
        pytest.fail(f"official Airflow chart data missing at {path} ({', '.join(missing)}); "
                    "lay shared/ beside the repository or set BANDITOPS_AIRFLOW_CHART")
    return path


def deep_merge(base: Any, override: Any) -> Any:
    """helm's rule: maps merge key by key, anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: deep_merge(base[k], v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override}
    return override


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    defaults = yaml.safe_load((_chart_dir() / "values.yaml").read_text())
    return deep_merge(defaults, yaml.safe_load(VALUES.read_text()))


def login_problems(values: dict[str, Any]) -> list[str]:
    """Why nobody could log in with these (merged) values; empty when an admin can."""
    core = values.get("config", {}).get("core", {})
    manager = core.get("auth_manager", "")
    if manager == FAB:
        job = values.get("createUserJob", {})
        if not job.get("enabled"):
            return ["FAB auth manager but createUserJob is disabled: no user is ever created"]
        secret_env = {e["name"] for e in job.get("env", []) if e.get("valueFrom", {}).get("secretKeyRef")}
        args = [str(a) for a in job.get("args", [])]
        script = " ".join(args)
        if "defaultUser.password" in script:
            return ["createUserJob takes the admin password from the values file, not from a Secret"]
        if not any(re.search(rf"-p\s+\"?\$[({{]?{re.escape(name)}\b", script) for name in secret_env):
            return ["createUserJob's `-p` does not read an env var set from a Secret (secretKeyRef)"]
        return []
    if manager.endswith("SimpleAuthManager"):
        path = core.get("simple_auth_manager_passwords_file")
        if not path:
            return ["simple auth manager without a passwords file: passwords are random per restart"]
        mounts = values.get("apiServer", {}).get("extraVolumeMounts", [])
        if any(path.startswith(m["mountPath"]) and m.get("readOnly") for m in mounts):
            return [f"simple auth manager opens {path} for writing, but it is on a read-only mount"]
        return []
    return [f"unknown auth manager {manager!r}"]


def test_merged_values_satisfy_the_official_schema(merged: dict[str, Any]) -> None:
    schema = yaml.safe_load((_chart_dir() / "values.schema.json").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(merged), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


def test_deployed_airflow_uses_fab_and_an_admin_can_log_in(merged: dict[str, Any]) -> None:
    assert merged["config"]["core"]["auth_manager"] == FAB
    assert "auth_manager" not in (yaml.safe_load(VALUES.read_text()).get("config", {}).get("core", {}))
    assert login_problems(merged) == []
    password_env = merged["createUserJob"]["env"][0]
    assert password_env["valueFrom"]["secretKeyRef"] == {"name": "airflow-admin", "key": "password"}


def test_login_check_rejects_the_values_before_issue_14(merged: dict[str, Any]) -> None:
    """The shipped values before the fix: FAB (chart default), no createUserJob, a read-only file."""
    old = deep_merge(merged, {"createUserJob": {"enabled": False}})
    assert login_problems(old) == ["FAB auth manager but createUserJob is disabled: no user is ever created"]
    literal = deep_merge(merged, {"createUserJob": {"args": ["bash", "-c", "airflow users create -p admin"]}})
    assert "does not read an env var" in login_problems(literal)[0]
    simple = deep_merge(merged, {
        "config": {"core": {"auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
                                            "SimpleAuthManager",
                            "simple_auth_manager_passwords_file": "/opt/airflow/auth/passwords.json"}},
        "apiServer": {"extraVolumeMounts": [{"name": "p", "mountPath": "/opt/airflow/auth", "readOnly": True}]},
    })
    assert "read-only mount" in login_problems(simple)[0]


def test_no_deprecated_worker_keys() -> None:
    workers = yaml.safe_load(VALUES.read_text())["workers"]
    assert "replicas" not in workers and "persistence" not in workers
    assert workers["celery"]["replicas"] == 3 and workers["celery"]["persistence"]["size"] == "10Gi"


def test_compose_airflow_uses_fab_and_creates_the_admin_from_env() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB
    assert not any(k.startswith("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER") for k in env)
    script = compose["services"]["airflow-init"]["command"][0]
    assert 'airflow users create' in script and '-p "$$AIRFLOW_ADMIN_PASSWORD"' in script


def test_agents_play_for_time_as_in_the_local_stack(merged: dict[str, Any]) -> None:
    # the same pace as `make up` and docker-compose (see tests/deploy/test_compose.py)
    local = StackConfig()
    env = {e["name"]: e["value"] for e in merged["env"]}
    assert float(env["BANDITOPS_AGENT_TASK_S"]) == local.agent_task_s
    assert float(env["BANDITOPS_AGENT_ROUND_INTERVAL_S"]) == local.agent_round_interval_s
    assert float(env["BANDITOPS_DRIFT_POLL_S"]) == local.drift_poll_s
