"""BanditOps' Airflow provider: hooks, operators, sensors and triggers for the bandit loop.

It is a package of its own (installed with ``banditops``, and also found in ``plugins/``) so the
triggerer, the workers and the DAG processor import the same classes by the same path; a trigger
must be importable by the triggerer, which never reads the DAGs folder.
"""

from __future__ import annotations

__version__ = "0.1.0"

