"""BanditOps' Airflow provider: hooks, operators, sensors and triggers for the bandit loop.

It is a package of its own (installed with ``banditops``, and also found in ``plugins/``) so the
triggerer, the workers and the DAG processor import the same classes by the same path; a trigger
must be importable by the triggerer, which never reads the DAGs folder. Airflow registers it as a
provider through the ``apache_airflow_provider`` entry point, which names :func:`get_provider_info`.
"""

from __future__ import annotations

from banditops_provider.get_provider_info import get_provider_info

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]

