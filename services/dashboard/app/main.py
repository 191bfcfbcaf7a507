"""The dashboard application: ``create_app()`` returns the Dash app; ``server`` is its Flask app.

Run it::

    python -m services.dashboard.app.main --host 127.0.0.1 --port 8050

(gunicorn with threads; ``gunicorn services.dashboard.app.main:server`` works too). ``/healthz``
answers without touching any source, so a probe never fails because Airflow is down: the page
itself reports unreachable sources. Every other route checks Host, Origin, body size and (when
``BANDITOPS_DASHBOARD_PASSWORD`` is set) HTTP basic auth first — see ``guard``: the controls
inject drift and trigger DAG runs. Without a password the page shows but its controls are off.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dash
import flask

from . import guard
from .callbacks import register_callbacks
from .config import Settings, get_settings

if TYPE_CHECKING:
    from .sources import DataCollector
from .layout import serve_layout

ASSETS = Path(__file__).resolve().parent.parent / "assets"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, collector: DataCollector | None = None,
               port: int | None = None) -> dash.Dash:
    """A ready Dash app reading the sources named by ``settings`` (default: the environment's).

    ``port`` is the one it listens on, for the default allowed ``Host`` names (see ``guard``).
    """
    settings = settings or get_settings()
    if collector is None:
        from .sources import DataCollector

        collector = DataCollector(settings)
    server = flask.Flask(__name__)
    app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash accepts a Flask app; its stub says bool
        title="BanditOps",
        assets_folder=str(ASSETS),
        update_title=None,  # type: ignore[arg-type]  # no "Updating..." flicker in the tab title on every refresh
        serve_locally=True,  # no CDN: the page works offline and behind a strict proxy
    )
    app.layout = serve_layout(int(settings.dashboard_refresh_s * 1000))
    register_callbacks(app, collector, settings)
    app.collector = collector  # type: ignore[attr-defined]

    @server.get("/healthz")
    def healthz() -> flask.Response:
        return flask.jsonify(status="ok")

    guard.install(server, settings, port)
    return app


def serve(app: dash.Dash, host: str, port: int, threads: int = 8) -> None:
    """Serve with gunicorn (one worker: the history cache lives in-process; threads for tabs)."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("accesslog", None)
            # gunicorn >= 26 opens a control socket (shutdown, reload, kill workers) shared by every
            # gunicorn of the user at ~/.gunicorn/gunicorn.ctl: nothing here uses it, so it stays closed
            self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return app.server

    _Gunicorn().run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="BanditOps dashboard (Dash)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dev", action="store_true", help="Flask's development server instead of gunicorn")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(port=args.port)
    if args.dev:
        app.run(host=args.host, port=args.port, debug=False)
    else:
        serve(app, args.host, args.port, args.threads)


def __getattr__(name: str) -> Any:
    """``server`` and ``app`` are built on first access, so importing this module is cheap."""
    if name in ("app", "server"):
        app = globals().get("_app") or create_app()
        globals()["_app"] = app
        return app if name == "app" else app.server
    raise AttributeError(name)


if __name__ == "__main__":
    main()
