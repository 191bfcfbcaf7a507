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
    service with none, to test that refusal.
    """

    service: ClassVar[str] = "environment"
    env_prefix: ClassVar[str] = "BANDITOPS_ENV_"

    scenario: str = "seed"
    seed: int | None = None
    admin_token: str | None = field(default_factory=lambda: secrets.token_hex(16))
    arms_json: str | None = None
    max_batch: int | None = None

    def settings_env(self) -> dict[str, str]:
        env = {"BANDITOPS_ENV_SCENARIO": self.scenario}
        for name, value in (("SEED", self.seed), ("ADMIN_TOKEN", self.admin_token), ("ARMS", self.arms_json),
                            ("MAX_BATCH", self.max_batch)):
            if value is not None:
                env[f"BANDITOPS_ENV_{name}"] = str(value)
        return env
