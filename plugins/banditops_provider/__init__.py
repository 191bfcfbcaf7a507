"""BanditOps' Airflow provider: hooks, operators, sensors and triggers for the bandit loop.

It is a package of its own (installed with ``banditops``, and also found in ``plugins/``) so the
triggerer, the workers and the DAG processor import the same classes by the same path; a trigger
must be importable by the triggerer, which never reads the DAGs folder.
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict[str, object]:
    """Provider metadata in the shape Airflow's providers manager reads."""
    return {
        "package-name": "banditops",
        "name": "BanditOps",
        "description": "Thompson Sampling agents, drift sensing and relearning for Airflow 3.",
        "versions": [__version__],
        "connection-types": [],
        "hooks": [
            {"integration-name": "BanditOps",
             "python-modules": ["banditops_provider.hooks.bandit_state", "banditops_provider.hooks.bandit_env"]},
        ],
        "triggers": [
            {"integration-name": "BanditOps", "python-modules": ["banditops_provider.triggers.drift"]},
        ],
    }
