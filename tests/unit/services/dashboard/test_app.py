"""The dashboard's guard: Host, Origin, body size and basic auth on every route but /healthz, and
no open controls without a password.

Driven through the real Flask app that gunicorn serves (its WSGI test client, which sends
``Host: localhost``), no browser needed.
"""

from __future__ import annotations

import base64

import pytest

from services.dashboard.app.callbacks import _run_action
from services.dashboard.app.config import Settings
from services.dashboard.app.main import create_app

#: The test client's Host is ``localhost`` (no port): allowed explicitly.
HOST = {"dashboard_allowed_hosts": "localhost"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_password_protects_every_route_but_healthz() -> None:
    settings = Settings(deploy_mode="deployed", dashboard_username="ops", dashboard_password="s3cret-pass", **HOST)
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
    client = create_app(Settings(deploy_mode="local", dashboard_password=None, **HOST)).server.test_client()
    assert client.get("/").status_code == 200


def test_without_a_password_the_controls_are_off() -> None:
    """Fail closed: no login configured means no drift, reset or DAG run from the page."""

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"a control reached its source ({name}) without a password")

    settings = Settings(deploy_mode="local", dashboard_password=None)
    for trigger in ("drift-button", "add-button", "reset-button", "start-button", "relearn-button"):
        result = _run_action(trigger, Untouchable(), settings, {}, {})
        assert not result.ok and "BANDITOPS_DASHBOARD_PASSWORD" in result.message


def test_other_hosts_are_refused_before_the_login() -> None:
    settings = Settings(dashboard_password="pw", dashboard_url="http://127.0.0.1:8050")
    client = create_app(settings, port=8050).server.test_client()
    login = _basic("admin", "pw")
    for host in ("evil.example", "evil.example:8050", "127.0.0.1:8051", "localhost"):
        refused = client.get("/", headers={"Host": host, **login})
        assert refused.status_code == 421, host
        assert "127.0.0.1:8050, localhost:8050" in refused.text
    assert client.get("/healthz", headers={"Host": "10.1.2.3:8050"}).status_code == 200  # probes by pod IP
    for host in ("127.0.0.1:8050", "localhost:8050", "LOCALHOST:8050"):
        assert client.get("/", headers={"Host": host, **login}).status_code == 200, host


def test_cross_site_state_changes_are_refused() -> None:
    client = create_app(Settings(dashboard_password="pw", **HOST)).server.test_client()
    login = _basic("admin", "pw")
    for header in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Referer": "http://evil.example/page"}, {"Origin": "http://localhost.evil.example"}):
        refused = client.post("/_dash-update-component", json={}, headers={**login, **header})
        assert refused.status_code == 403, header
        assert "cross-site request refused" in refused.text
    # the page's own origin, and clients that are no browser page (no Origin, no Referer), get through
    for header in ({"Origin": "http://localhost"}, {"Referer": "http://localhost/"}, {}):
        passed = client.post("/_dash-update-component", json={}, headers={**login, **header})
        assert passed.status_code not in (401, 403, 421), header


def test_oversized_bodies_are_refused_with_the_cap() -> None:
    settings = Settings(dashboard_password="pw", dashboard_max_body_bytes=4096, **HOST)
    client = create_app(settings).server.test_client()
    refused = client.post("/_dash-update-component", data=b"x" * 5000, headers=_basic("admin", "pw"),
                          content_type="application/json")
    assert refused.status_code == 413
    assert "the limit is 4096 bytes (BANDITOPS_DASHBOARD_MAX_BODY_BYTES)" in refused.text


def test_deployed_without_password_is_refused() -> None:
    expected = "BANDITOPS_DASHBOARD_PASSWORD must be set when BANDITOPS_DEPLOY_MODE=deployed"
    with pytest.raises(ValueError, match=expected):
        Settings(deploy_mode="deployed", dashboard_password=None)


@pytest.mark.parametrize("field", ["dashboard_password", "airflow_password"])
def test_deployed_with_a_placeholder_secret_is_refused(field: str) -> None:
    values = {"dashboard_password": "a-real-one", field: "change-me-dashboard-password"}
    with pytest.raises(ValueError, match=rf"BANDITOPS_{field.upper()} still holds the placeholder"):
        Settings(deploy_mode="deployed", **values)
