"""What stands between a request and the dashboard: its Host, its origin, its size and its login.

The page's controls inject drift, reset the world and trigger DAG runs with the stack's admin
credentials, so the Flask server behind Dash checks, before anything else runs:

1. **Host.** Only the dashboard's own names are served (421 otherwise). A DNS-rebinding page
   reaches ``127.0.0.1`` under the attacker's own name, so its requests carry that name as Host.
2. **Origin.** A state-changing request (every method but GET/HEAD/OPTIONS; Dash callbacks are
   ``POST /_dash-update-component``) from a browser carries ``Origin`` (or at least ``Referer``);
   one naming another site is refused (403). Requests with neither come from no browser page.
3. **Size.** A declared body over the cap is refused (413 naming it) before it is read; Flask's
   ``MAX_CONTENT_LENGTH`` refuses an undeclared one while it is read.
4. **Login.** HTTP basic auth with ``BANDITOPS_DASHBOARD_USERNAME`` / ``_PASSWORD`` when a
   password is set (``make up`` generates one; deployed, it is required).

``/healthz`` is exempt from all four: probes reach it by IP and it reveals and changes nothing.
"""

from __future__ import annotations

import contextlib
import hmac
from urllib.parse import urlsplit

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from .config import Settings

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EXEMPT = frozenset({"/healthz"})


def allowed_hosts(settings: Settings, port: int | None = None) -> frozenset[str] | None:
    """The ``Host`` values served; ``None`` means any (``BANDITOPS_DASHBOARD_ALLOWED_HOSTS=*``).

    Unset: ``127.0.0.1`` and ``localhost`` on the listening port and on the port of
    ``BANDITOPS_DASHBOARD_URL`` (where a browser reaches it, e.g. through a compose port
    mapping), and that URL's own host.

    >>> sorted(allowed_hosts(Settings(dashboard_url="http://127.0.0.1:9050"), port=8050))
    ['127.0.0.1:8050', '127.0.0.1:9050', 'localhost:8050', 'localhost:9050']
    >>> allowed_hosts(Settings(dashboard_allowed_hosts="*")) is None
    True
    """
    configured = [h.strip().lower() for h in settings.dashboard_allowed_hosts.split(",") if h.strip()]
    if "*" in configured:
        return None
    if configured:
        return frozenset(configured)
    public = urlsplit(settings.dashboard_url)
    ports = {p for p in (port, public.port or (443 if public.scheme == "https" else 80)) if p is not None}
    hosts = {f"{name}:{p}" for name in ("127.0.0.1", "localhost") for p in ports}
    if public.netloc:
        hosts.add(public.netloc.lower())
    return frozenset(hosts)


def _origin_host(value: str) -> str | None:
    parts = urlsplit(value)
    return parts.netloc.lower() if parts.scheme in ("http", "https") and parts.netloc else None


def install(server: flask.Flask, settings: Settings, port: int | None = None) -> None:
    """Register the four checks on ``server`` (a ``before_request`` hook and the 413 handler)."""
    hosts = allowed_hosts(settings, port)
    shown = ", ".join(sorted(hosts)) if hosts else "*"
    cap = settings.dashboard_max_body_bytes
    server.config["MAX_CONTENT_LENGTH"] = cap
    too_large = f"request body too large; the limit is {cap} bytes (BANDITOPS_DASHBOARD_MAX_BODY_BYTES)"
    credentials = (
        (settings.dashboard_username.encode(), settings.dashboard_password.encode())
        if settings.dashboard_password else None
    )

    def refuse(status: int, message: str, headers: dict[str, str] | None = None) -> flask.Response:
        if status != 413:
            # Read the (capped) body that is refused: gunicorn drops a keep-alive connection whose
            # request body was left unread, and the client's next request then meets a closed socket.
            with contextlib.suppress(RequestEntityTooLarge):
                flask.request.get_data(cache=False)
        return flask.Response(message + "\n", status, headers or {}, mimetype="text/plain")

    @server.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> flask.Response:
        return refuse(413, too_large)

    @server.before_request
    def _guard() -> flask.Response | None:
        request = flask.request
        if request.path in _EXEMPT:
            return None
        host = request.host.lower()
        if hosts is not None and host not in hosts:
            return refuse(421, f"this dashboard answers only to Host {shown} (BANDITOPS_DASHBOARD_ALLOWED_HOSTS); "
                               f"got {host[:100]!r}")
        if request.method not in _SAFE_METHODS:
            origin = request.headers.get("Origin")
            source = origin if origin is not None else request.headers.get("Referer")
            if source is not None and _origin_host(source) != host:
                return refuse(403, f"cross-site request refused: it comes from {source[:100]!r}, "
                                   f"not from this dashboard ({host})")
            if (request.content_length or 0) > cap:
                return refuse(413, too_large)
        if credentials is not None:
            auth = request.authorization
            user = (auth.username or "").encode() if auth else b""
            password = (auth.password or "").encode() if auth else b""
            # both compared, always: the timing says nothing about which one was wrong
            user_ok = hmac.compare_digest(user, credentials[0])
            password_ok = hmac.compare_digest(password, credentials[1])
            if not (auth and user_ok and password_ok):
                return refuse(401, "authentication required (BANDITOPS_DASHBOARD_USERNAME / _PASSWORD)",
                              {"WWW-Authenticate": 'Basic realm="BanditOps dashboard"'})
        return None
