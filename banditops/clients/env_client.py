"""Client of the environment service, used by the Airflow agents, the dashboard and the traffic simulator.

Plain httpx, no FastAPI: the core package stays importable anywhere. Every failure — a refusal
(4xx), a server error, or no answer at all — raises one exception type, :class:`EnvError`,
carrying the HTTP status (``None`` when the service could not be reached) and the service's own
message, so a caller can show it to a person as is.

Pulls are not idempotent (each one draws a fresh reward), so the client never retries them:
retrying is the orchestrator's job, with its batch ids.

Examples
--------
>>> EnvError(404, "unknown arm 9; valid arms: 0..4")
EnvError(status=404, message='unknown arm 9; valid arms: 0..4')
>>> str(EnvError(None, "connection refused"))
'environment service: connection refused'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import httpx
import numpy as np

from banditops.bandit.arms import BernoulliArm, GaussianArm, parse_arms


class EnvError(Exception):
    """The environment service refused a call or could not be reached (``status`` is then ``None``)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        prefix = f"environment service answered {self.status}" if self.status else "environment service"
        return f"{prefix}: {self.message}"

    def __repr__(self) -> str:
        return f"EnvError(status={self.status!r}, message={self.message!r})"


@dataclass(frozen=True)
class PullResult:
    """Rewards of one batch (request order), its expected pseudo-regret, and the world's pull count."""

    rewards: np.ndarray
    regret: float
    total_pulls: int


class EnvironmentLog(Protocol):
    """What the loop reads of the world to measure a detection delay (the client, or the simulator's table).

    ``events()`` lists the world's changes (``kind``, ``t``, ``total_pulls``); ``truth()`` holds
    ``total_pulls`` now. The deployed simulator's seeded world answers both without a service.
    """

    def events(self) -> list[dict[str, Any]]: ...

    def truth(self) -> dict[str, Any]: ...


class EnvironmentReset(Protocol):
    """What starting an experiment asks of the environment: put the world in the scenario."""

    def reset(self, scenario: str, seed: int | None = None,
              arms: Sequence[BernoulliArm | GaussianArm | dict[str, Any]] | None = None, *,
              new_experiment: bool = False) -> dict[str, Any]: ...  # fmt: skip


def _message(response: httpx.Response) -> str:
    """The service's ``detail`` (a string, or pydantic's list of field errors), else the raw text."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(detail, list):  # FastAPI's validation errors: say where and what, one per field
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', e)}" for e in detail)
    return str(detail)


class EnvClient:
    """Synchronous client; one connection pool per instance (use it as a context manager or ``close()``).

    Parameters
    ----------
    base_url
        Where the service listens, e.g. ``http://127.0.0.1:8000``.
    token
        ``BANDITOPS_ENV_ADMIN_TOKEN``, sent as a bearer token (needed for drift, add arm, reset
        when the service sets one).
    timeout
        Seconds per call.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise EnvError(None, f"{method} {self.base_url}{path} failed: {exc!r}") from exc
        if response.status_code >= 400:
            raise EnvError(response.status_code, _message(response))
        return response.json()

    # -- agents -------------------------------------------------------------------------------

    def pulls(self, arms: Sequence[int] | np.ndarray, *, epoch: int | None = None,
              batch_id: str | None = None) -> PullResult:
        """Pull a batch of arms in one HTTP call.

        An agent names the ``epoch`` it sampled under and its ``batch_id``: the service books the
        batch under both in its ledger (``GET /ledger``), the other side of the store's books.
        """
        indices = np.asarray(arms).tolist()
        headers = {}
        if epoch is not None:
            headers["X-BanditOps-Epoch"] = str(int(epoch))
        if batch_id is not None:
            headers["X-BanditOps-Batch"] = batch_id
        body = self._call("POST", "/pulls", {"arms": indices}, headers=headers)
        return PullResult(np.asarray(body["rewards"], dtype=np.float64), float(body["regret"]),
                          int(body["total_pulls"]))

    def pull(self, arm: int) -> float:
        """The reward of one pull of ``arm``."""
        return float(self._call("POST", f"/pull/{int(arm)}")["reward"])

    # -- ground truth and events ----------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """``GET /arms``: arms, means, best_arm, total_pulls, pulls per arm, scenario."""
        truth: dict[str, Any] = self._call("GET", "/arms")
        return truth

    def arms(self) -> list[BernoulliArm | GaussianArm]:
        """The true arms as reward models."""
        return parse_arms(self.truth()["arms"])

    def events(self) -> list[dict[str, Any]]:
        """Every drift, added arm and reset, oldest first, each with ``total_pulls`` at that moment."""
        events: list[dict[str, Any]] = self._call("GET", "/events")["events"]
        return events

    def ledger(self, epoch: int | None = None) -> dict[str, Any]:
        """``GET /ledger``: pulls and reward sums served per epoch, and per batch (of ``epoch`` when given)."""
        ledger: dict[str, Any] = self._call("GET", "/ledger" if epoch is None else f"/ledger?epoch={int(epoch)}")
        return ledger

    def health(self) -> bool:
        """True when the service answers ``/healthz`` with 200; never raises."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    # -- admin (bearer token when the service sets one) ----------------------------------------------

    def update_arm(self, arm: int, **params: float) -> dict[str, Any]:
        """Change parameters of one arm (``mean``, ``sd``, ``p``): a drift. Returns the drift event."""
        event: dict[str, Any] = self._call("PATCH", f"/arms/{int(arm)}", params)
        return event

    def add_arm(self, arm: BernoulliArm | GaussianArm | dict[str, Any]) -> int:
        """Append an arm; returns its index."""
        body = arm if isinstance(arm, dict) else arm.model_dump()
        return int(self._call("POST", "/arms", body)["arm"])

    def reset(self, scenario: str, seed: int | None = None,
              arms: Sequence[BernoulliArm | GaussianArm | dict[str, Any]] | None = None, *,
              new_experiment: bool = False) -> dict[str, Any]:
        """Start over in a named scenario, or with ``arms`` labelled ``scenario``; returns the new truth.

        While an experiment runs, the service refuses (409) a reset to another world unless
        ``new_experiment`` says the caller starts a new experiment (and resets the store next).
        """
        body: dict[str, Any] = {"name": scenario, "new_experiment": new_experiment}
        if seed is not None:
            body["seed"] = seed
        if arms is not None:
            body["arms"] = [a if isinstance(a, dict) else a.model_dump() for a in arms]
        truth: dict[str, Any] = self._call("POST", "/scenario", body)
        return truth
