"""The BanditOps Airflow plugin: links to the Dash dashboard and MLflow in the Airflow 3 UI.

Airflow 3's React UI replaced Flask-AppBuilder menu items with ``external_views``: each entry is
a link (``href``) shown in the navigation (``destination: "nav"``) under a ``category``. URLs come
from ``BANDITOPS_DASHBOARD_URL`` / ``BANDITOPS_MLFLOW_UI_URL`` (defaults: the local stack).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from banditops.settings import Settings


def _links() -> list[dict[str, object]]:
    settings = Settings()
    return [
        {"name": "BanditOps dashboard", "href": settings.dashboard_url, "destination": "nav",
         "category": "BanditOps"},
        {"name": "MLflow experiments", "href": settings.mlflow_ui_url, "destination": "nav",
         "category": "BanditOps"},
    ]


class BanditOpsPlugin(AirflowPlugin):
    """Adds the dashboard and MLflow to the Airflow UI's navigation."""

    name = "banditops"
    external_views = _links()
