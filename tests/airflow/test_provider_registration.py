"""The provider is registered: Airflow finds it through the ``apache_airflow_provider`` entry point
of the installed ``banditops`` distribution, and its hooks' connection types reach the Connections
UI metadata and the task runtime's hook table."""

from __future__ import annotations

import json
import uuid
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.airflow


def _hook_classes() -> list[Any]:
    from banditops_provider.hooks.bandit_env import BanditEnvHook
    from banditops_provider.hooks.bandit_state import BanditStateHook

    return [BanditStateHook, BanditEnvHook]


def test_the_installed_distribution_declares_the_entry_point() -> None:
    points = [ep for ep in distribution("banditops").entry_points if ep.group == "apache_airflow_provider"]
    assert [ep.value for ep in points] == ["banditops_provider:get_provider_info"]
    from banditops_provider import get_provider_info

    assert points[0].load() is get_provider_info


def test_provider_info_validates_against_airflows_runtime_schema() -> None:
    import airflow
    import jsonschema
    from banditops_provider import __version__, get_provider_info

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == distribution("banditops").metadata["Name"]
    assert info["versions"] == [__version__] == [distribution("banditops").version]


def test_providers_manager_lists_the_provider_and_its_connection_types() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers["banditops"].version == distribution("banditops").version
    ui = {meta.connection_type: meta for meta in manager.iter_connection_type_hook_ui_metadata()}
    for hook in _hook_classes():
        meta = ui[hook.conn_type]
        assert meta.hook_class_name == f"{hook.__module__}.{hook.__qualname__}"
        assert meta.hook_name == hook.hook_name
    assert ui["banditops_env"].field_behaviour["relabeling"]["password"] == "Admin token"
    # the Redis provider keeps ``redis``: our hook did not displace it
    assert ui["redis"].hook_class_name == "airflow.providers.redis.hooks.redis.RedisHook"


def test_task_runtime_imports_our_hooks_by_connection_type() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks
    for hook in _hook_classes():
        info = hooks[hook.conn_type]
        assert info is not None, f"{hook.conn_type} did not import"
        assert info.package_name == "banditops"
        assert info.hook_class_name == f"{hook.__module__}.{hook.__qualname__}"
        assert info.connection_id_attribute_name == hook.conn_name_attr
        assert info.hook_name == hook.hook_name


def test_a_connection_of_the_registered_type_opens_the_store(redis_server: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``banditops_state`` Connection (as the UI now creates) reaches the real Redis with its namespace."""
    from banditops_provider.hooks.bandit_state import BanditStateHook

    namespace = f"pr{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_STATE_TYPED", json.dumps(
        {"conn_type": "banditops_state", "host": "127.0.0.1", "port": redis_server.port,
         "extra": {"db": 0, "namespace": namespace}}))
    hook = BanditStateHook("state_typed")
    assert hook.get_connection("state_typed").conn_type == "banditops_state"
    assert hook.namespace == namespace
    assert hook.get_conn().ping() is True
