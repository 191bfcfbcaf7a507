"""Start and stop a real decision service (uvicorn subprocess) on loopback.

Chaos tests stop its Redis under it; benchmarks load it from another process.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from stack.service_process import ServiceProcess


@dataclass
class DecisionServer(ServiceProcess):
    """The decision service on a free loopback port.

    ``settings`` are ``BANDITOPS_DECISION_*`` variables without the prefix, e.g.
    ``{"static_ranking": "2,0,1", "max_staleness_s": 1.5}``. The admin token is generated unless
    given; ``None`` starts the service without one (admin calls refused).
    """

    service: ClassVar[str] = "decision"
    env_prefix: ClassVar[str] = "BANDITOPS_DECISION_"

    redis_url: str
    namespace: str = "bo"
    settings: dict[str, object] = field(default_factory=dict)
    admin_token: str | None = field(default_factory=lambda: secrets.token_hex(16))

    def settings_env(self) -> dict[str, str]:
        env = {"BANDITOPS_DECISION_REDIS_URL": self.redis_url, "BANDITOPS_DECISION_NAMESPACE": self.namespace}
        if self.admin_token is not None:
            env["BANDITOPS_DECISION_ADMIN_TOKEN"] = self.admin_token
        env.update({f"BANDITOPS_DECISION_{name.upper()}": str(value) for name, value in self.settings.items()})
        return env

    def wait_live(self, timeout_s: float = 10.0) -> dict[str, object]:
        """Block until answers come from the posterior (not fallbacks); returns the health body."""
        deadline = time.monotonic() + timeout_s
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/healthz", timeout=1.0).json()
            if body.get("posterior") == "live":
                return body
            time.sleep(0.05)
        raise RuntimeError(f"decision service did not go live within {timeout_s} s: {body}")
