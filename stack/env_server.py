"""Start and stop a real environment service (uvicorn subprocess) on loopback.

Tests, the Airflow DAG tests, the dashboard tests and the benchmark talk HTTP to the real thing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import ClassVar

from stack.service_process import ServiceProcess


@dataclass(kw_only=True)
class EnvServer(ServiceProcess):
    """The environment service on a free loopback port.

    ``workers > 1`` starts several processes, hence several independent worlds: only for
    benchmarking the HTTP layer, never for a loop that injects drift. The admin token is
    generated unless given (the service refuses admin calls without one); ``None`` starts the
    service with none, to test that refusal. With ``redis_url`` the world is durable (its record
    under ``<namespace>.world``): a restart brings it back.
    """

    service: ClassVar[str] = "environment"
    env_prefix: ClassVar[str] = "BANDITOPS_ENV_"

    scenario: str = "seed"
    seed: int | None = None
    admin_token: str | None = field(default_factory=lambda: secrets.token_hex(16))
    arms_json: str | None = None
    max_batch: int | None = None
    redis_url: str | None = None
    namespace: str = "bo"

    def environ(self) -> dict[str, str]:
        env = super().environ()
        env.pop("BANDITOPS_REDIS_URL", None)  # durable only when asked: redis_url names the server
        env["BANDITOPS_NAMESPACE"] = self.namespace
        return env

    def settings_env(self) -> dict[str, str]:
        env = {"BANDITOPS_ENV_SCENARIO": self.scenario}
        for name, value in (("SEED", self.seed), ("ADMIN_TOKEN", self.admin_token), ("ARMS", self.arms_json),
                            ("MAX_BATCH", self.max_batch), ("REDIS_URL", self.redis_url)):
            if value is not None:
                env[f"BANDITOPS_ENV_{name}"] = str(value)
        return env
