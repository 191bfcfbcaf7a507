"""The dashboard's guard: basic auth on every route but /healthz, and no open controls when deployed.

Driven through the real Flask app that gunicorn serves (its WSGI test client), no browser needed.
"""

from __future__ import annotations

import base64

import pytest

from services.dashboard.app.config import Settings
from services.dashboard.app.main import create_app


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_password_protects_every_route_but_healthz() -> None:
    settings = Settings(deploy_mode="deployed", dashboard_username="ops", dashboard_password="s3cret-pass")
    client = create_app(settings).server.test_client()

    assert client.get("/healthz").status_code == 200  # probes never need the password
    refused = client.get("/")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="BanditOps dashboard"'
    assert client.post("/_dash-update-component", json={}).status_code == 401  # the controls too
    assert client.get("/", headers=_basic("ops", "wrong")).status_code == 401
    assert client.get("/", headers=_basic("admin", "s3cret-pass")).status_code == 401
    assert client.get("/", headers=_basic("ops", "s3cret-pass")).status_code == 200


def test_local_mode_without_password_serves_the_page() -> None:
    client = create_app(Settings(deploy_mode="local", dashboard_password=None)).server.test_client()
    assert client.get("/").status_code == 200


def test_deployed_without_password_is_refused() -> None:
    expected = "BANDITOPS_DASHBOARD_PASSWORD must be set when BANDITOPS_DEPLOY_MODE=deployed"
    with pytest.raises(ValueError, match=expected):
        Settings(deploy_mode="deployed", dashboard_password=None)


@pytest.mark.parametrize("field", ["dashboard_password", "airflow_password"])
def test_deployed_with_a_placeholder_secret_is_refused(field: str) -> None:
    values = {"dashboard_password": "a-real-one", field: "change-me-dashboard-password"}
    with pytest.raises(ValueError, match=rf"BANDITOPS_{field.upper()} still holds the placeholder"):
        Settings(deploy_mode="deployed", **values)
