"""The provider metadata Airflow's ``ProvidersManager`` reads through the ``apache_airflow_provider`` entry point.

Airflow discovers a provider only through that entry point (``pyproject.toml``): the function
returns a dict in the runtime schema ``airflow/provider_info.schema.json``. Its
``connection-types`` register the hooks' ``conn_type`` and ``hook_name`` in the Connections UI
and in ``ProvidersManager().hooks``, lazily: Airflow imports a hook class only when it is used.
A connection type must be new to Airflow to register (the first provider to claim one keeps it),
so the hooks use ``banditops_state`` and ``banditops_env``, not ``redis`` / ``http``; a
Connection of type ``redis`` or ``http`` (the local stack's and compose's) still works with them.
"""

from __future__ import annotations

from typing import Any

_INTEGRATION = "BanditOps"
_PACKAGE = "banditops_provider"


def get_provider_info() -> dict[str, Any]:
    """The provider's metadata, validated by Airflow against its provider-info schema.

    >>> info = get_provider_info()
    >>> info["package-name"], sorted(c["connection-type"] for c in info["connection-types"])
    ('banditops', ['banditops_env', 'banditops_state'])
    """
    from banditops_provider import __version__

    return {
        "package-name": "banditops",
        "name": "BanditOps",
        "description": "Hooks, operators, sensors and triggers for the BanditOps Bayesian bandit loop.",
        "versions": [__version__],
        "integrations": [{"integration-name": _INTEGRATION, "tags": ["software"]}],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.hooks.bandit_state", f"{_PACKAGE}.hooks.bandit_env"],
            }
        ],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.operators.agent_batch"]}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.drift"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.triggers.drift"]}],
        "connection-types": [
            {
                "hook-class-name": f"{_PACKAGE}.hooks.bandit_state.BanditStateHook",
                "hook-name": "BanditOps state (Redis)",
                "connection-type": "banditops_state",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login"],
                    "relabeling": {},
                    "placeholders": {"host": "127.0.0.1", "port": "6379", "extra": '{"db": 0, "namespace": "bo"}'},
                },
            },
            {
                "hook-class-name": f"{_PACKAGE}.hooks.bandit_env.BanditEnvHook",
                "hook-name": "BanditOps environment",
                "connection-type": "banditops_env",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "extra"],
                    "relabeling": {"schema": "Scheme", "password": "Admin token"},  # nosec B105 - a UI label, not a secret
                    "placeholders": {"schema": "http", "host": "127.0.0.1", "port": "8000"},
                },
            },
        ],
    }
