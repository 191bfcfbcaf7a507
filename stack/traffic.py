"""A load generator that plays users of the decision API, rewarded by the simulated world.

Each simulated user asks ``POST /recommend``, looks at the arm in the first slot, gets a reward
drawn from that arm's *true* reward model — read from the environment service's ground truth
(``GET /arms``, refreshed every ``truth_ttl_s`` so injected drift reaches the users) — and sends
it back with ``POST /feedback``. With it the production path (decision API → feedback stream →
fold into the posterior) runs the same lifecycle as the simulated agents: converge, drift,
relearn.

Examples
--------
>>> TrafficReport(users=4, rewards=[1.0, 0.0, 1.0, 1.0]).mean_reward
0.75
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import numpy as np

from banditops.bandit.arms import BernoulliArm, GaussianArm, parse_arms


class TruthSource(Protocol):
    """Anything with the environment client's ``truth()`` (the ``GET /arms`` JSON)."""

    def truth(self) -> dict[str, Any]: ...


@dataclass
class TrafficReport:
    """What the users saw and sent back."""

    users: int = 0
    fallbacks: int = 0
    feedback_accepted: int = 0
    feedback_refused: int = 0
    rewards: list[float] = field(default_factory=list)
    #: Expected pseudo-regret of the arms shown first, from the true means at the time.
    regret: float = 0.0
    #: Users who saw each arm first, by the arm's name (the API's; ``"0"``, ``"1"``... for integer arms).
    top_arms: Counter[str] = field(default_factory=Counter)

    @property
    def mean_reward(self) -> float:
        return float(np.mean(self.rewards)) if self.rewards else float("nan")

    def share(self, arm: str | int) -> float:
        """Share of users who saw ``arm`` (a name; an integer means its default name) first."""
        return self.top_arms[str(arm)] / self.users if self.users else 0.0


class TrafficSimulator:
    """Plays ``users`` one after another against a decision API.

    Parameters
    ----------
    decision
        An ``httpx.Client`` whose base URL is the decision API (a FastAPI ``TestClient`` works too).
    truth
        The environment client (:class:`~banditops.clients.env_client.EnvClient`) or anything with ``truth()``.
    rng
        Draws the users' rewards; seed it for a reproducible run.
    k
        Arms asked per user; only the first slot is rewarded (the banner the user looked at).
    truth_ttl_s
        How long a ground-truth read is reused.
    """

    def __init__(
        self,
        decision: httpx.Client,
        truth: TruthSource,
        rng: np.random.Generator,
        *,
        k: int = 1,
        truth_ttl_s: float = 0.25,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        self.decision = decision
        self.truth = truth
        self.rng = rng
        self.k = k
        self.truth_ttl_s = truth_ttl_s
        self._arms: list[BernoulliArm | GaussianArm] = []
        self._read_at = -float("inf")
        self._served = 0
        self._index: dict[str, int] = {}

    def index_of(self, name: str) -> int:
        """The world's index of the arm the API calls ``name`` (the API lists its arms in index
        order); a default name ``"3"`` is arm 3 while the list is unavailable (a cold start)."""
        if name not in self._index:
            listed = self.decision.get("/arms")
            if listed.status_code == 200:
                self._index = {a["arm"]: i for i, a in enumerate(listed.json()["arms"])}
        if name in self._index:
            return self._index[name]
        if name.isdigit():
            return int(name)
        raise KeyError(f"arm {name!r} is not listed by the decision API")

    def arms(self) -> list[BernoulliArm | GaussianArm]:
        """The true reward models, re-read from the environment when older than ``truth_ttl_s``."""
        now = time.monotonic()
        if now - self._read_at > self.truth_ttl_s:
            self._arms = parse_arms(self.truth.truth()["arms"])
            self._read_at = now
        return self._arms

    def play(self, users: int) -> TrafficReport:
        """Serve ``users`` users; HTTP errors other than a refused feedback propagate."""
        report = TrafficReport()
        for _ in range(users):
            self._served += 1
            answer = self.decision.post("/recommend", json={"user_id": f"user-{self._served}", "k": self.k})
            answer.raise_for_status()
            body = answer.json()
            name = body["arms"][0]
            arm = self.index_of(name)
            arms = self.arms()
            reward = float(arms[arm].draw(self.rng, 1)[0])
            means = [a.mean for a in arms]
            report.users += 1
            report.fallbacks += bool(body["fallback"])
            report.top_arms[name] += 1
            report.rewards.append(reward)
            report.regret += max(means) - means[arm]
            # The user saw the slate and the simulated reward is the top arm's: name its position.
            feedback = self.decision.post(
                "/feedback", json={"decision_id": body["decision_id"], "reward": reward, "position": 0}
            )
            if feedback.status_code == 200:
                report.feedback_accepted += 1
            else:
                report.feedback_refused += 1
        return report
