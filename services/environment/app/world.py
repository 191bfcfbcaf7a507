"""The simulated world: arms with hidden reward models, one seeded generator, counters, an event log.

One ``World`` per process, shared by every request. Every read and write holds one lock, so
concurrent agents never lose a pull count and a drift lands between two batches, never inside
one. Rewards are drawn by the reward models of :mod:`banditops.bandit.arms` (``arm.draw``), one call per
distinct arm of a batch, so the service and the offline simulator share one definition.

``problem1`` is the piecewise-stationary benchmark: the world itself switches the means every
``PROBLEM1_PERIOD`` pulls (splitting a batch that straddles a breakpoint) and logs each switch
as a drift event, until someone changes the arms by hand (which ends the schedule).

With a :class:`Journal` (the service passes :class:`banditops.store.world_journal.WorldJournal`
when it has a Redis URL) the world is durable: every change is written to the journal *before* it
is applied (a change the journal refuses raises :class:`WorldNotSavedError` and leaves the world
as it was), and :meth:`World.open` rebuilds the journal's world on start. Pull counters and the
reward generator are not journaled (a write per batch would put Redis on the agents' hot path):
after a restart they count from zero and the generator starts again from its seed; a
``problem1`` schedule resumes from its last switch.

Examples
--------
>>> world = World.create("seed", seed=0)
>>> outcome = world.pulls(np.array([1, 1, 0]))
>>> outcome.rewards.round(3).tolist(), outcome.regret, outcome.total_pulls
([3.868, 4.64, 2.126], 2.0, 3)
>>> world.update_arm(1, mean=0.0)["after"]
{'kind': 'gaussian', 'mean': 0.0, 'sd': 1.0}
>>> world.truth()["best_arm"]
3
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from banditops.bandit.arms import (
    PROBLEM1_MEANS,
    PROBLEM1_PERIOD,
    SCENARIOS,
    BernoulliArm,
    GaussianArm,
    parse_arms,
    reward_kind,
    scenario,
)
from banditops.bandit.validators import DRIFT_VALUES, check_arm_index, check_drift_value, unknown_arm_message

log = logging.getLogger(__name__)

ArmModel = BernoulliArm | GaussianArm
EVENT_KINDS: tuple[str, ...] = ("drift", "arm_added", "scenario_reset")
#: Most arms a world holds (bounds what ``add_arm`` and a posted scenario can grow).
MAX_ARMS = 10_000
#: Parameters ``update_arm`` accepts, per kind (``mean`` is an alias of ``p`` for Bernoulli arms).
ARM_PARAMS: dict[str, tuple[str, ...]] = {kind: tuple(fields) for kind, fields in DRIFT_VALUES.items()}


class UnknownArmError(LookupError):
    """An arm index outside ``0..K-1`` (the HTTP layer answers 404)."""


class WorldNotSavedError(RuntimeError):
    """The journal did not take a change, so the change was not applied (the HTTP layer answers 503)."""


class Journal(Protocol):
    """Where a durable world writes itself (:class:`banditops.store.world_journal.WorldJournal`)."""

    def load(self) -> Any: ...

    def save(self, state: dict[str, Any], *events: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class PullOutcome:
    """What one batch produced, plus what the metrics need (counts and reward sums per arm)."""

    rewards: np.ndarray
    regret: float
    total_pulls: int
    pulls_per_arm: np.ndarray
    reward_per_arm: np.ndarray
    events: list[dict[str, Any]] = field(default_factory=list)


def _arm_dict(arm: ArmModel) -> dict[str, Any]:
    return arm.model_dump()


class World:
    """K arms, a seeded generator and the counters, behind one lock.

    Parameters
    ----------
    arms
        The arms, all of one reward kind.
    scenario_name
        Label reported by ``truth()``.
    seed
        Seed of the reward generator; ``None`` draws fresh entropy.
    max_batch
        Largest batch ``pulls`` accepts.
    max_events
        Length of the event log (oldest dropped first).
    schedule
        Scheduled changes ``(at_total_pulls, means)``, used by ``problem1``.
    """

    def __init__(
        self,
        arms: list[ArmModel],
        *,
        scenario_name: str = "custom",
        seed: int | None = None,
        max_batch: int = 100_000,
        max_events: int = 10_000,
        schedule: list[tuple[int, tuple[float, ...]]] | None = None,
        journal: Journal | None = None,
    ) -> None:
        if max_batch <= 0:
            raise ValueError(f"max_batch must be > 0, got {max_batch}")
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self._journal = journal
        self._install(arms, scenario_name, seed, schedule or [])

    @classmethod
    def create(
        cls,
        name: str,
        *,
        seed: int | None = None,
        arms: list[ArmModel] | list[dict[str, Any]] | None = None,
        max_batch: int = 100_000,
        max_events: int = 10_000,
    ) -> World:
        """A world in scenario ``name`` (or with ``arms``, labelled ``name``)."""
        resolved, schedule = resolve(name, arms)
        return cls(resolved, scenario_name=name, seed=seed, max_batch=max_batch, max_events=max_events,
                   schedule=schedule)

    @classmethod
    def open(
        cls,
        journal: Journal,
        name: str,
        *,
        seed: int | None = None,
        arms: list[ArmModel] | list[dict[str, Any]] | None = None,
        max_batch: int = 100_000,
        max_events: int = 10_000,
    ) -> World:
        """The journal's world; on a first start (empty journal) the world of ``name``/``arms``, journaled.

        The journal is the one source of truth: a restart during an experiment on ``banners``
        brings back ``banners`` with its drifts and added arms, whatever ``name`` says.
        """
        record = journal.load()
        if record is None:
            resolved, schedule = resolve(name, arms)
            world = cls(resolved, scenario_name=name, seed=seed, max_batch=max_batch, max_events=max_events,
                        schedule=schedule, journal=journal)
            with world._lock:
                event = world._event("scenario_reset", None, None,
                                     {"scenario": name, "arms": [_arm_dict(a) for a in resolved], "seed": seed})
                journal.save(world._state(), event)
                world._events.append(event)
            return world
        state = record.state
        saved_at = int(state.get("total_pulls", 0))
        world = cls(parse_arms(state["arms"]), scenario_name=str(state["scenario"]), seed=state.get("seed"),
                    max_batch=max_batch, max_events=max_events, journal=journal,
                    schedule=[(int(at) - saved_at, tuple(means)) for at, means in state.get("schedule", [])])
        world._events.extend(record.events)
        return world

    # -- state (callers hold the lock) ---------------------------------------------------------

    def _install(
        self, arms: list[ArmModel], name: str, seed: int | None, schedule: list[tuple[int, tuple[float, ...]]]
    ) -> None:
        reward_kind(arms)
        self._arms = list(arms)
        self._scenario = name
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._schedule = list(schedule)
        self._total_pulls = 0
        self._pulls = np.zeros(len(arms), dtype=np.int64)
        self._refresh_means()

    def _refresh_means(self) -> None:
        self._means = np.array([a.mean for a in self._arms], dtype=np.float64)
        self._best_mean = float(self._means.max())

    def _event(self, kind: str, arm: int | None, before: dict[str, Any] | None,
               after: dict[str, Any] | None) -> dict[str, Any]:
        return {"kind": kind, "t": time.time(), "total_pulls": self._total_pulls, "arm": arm,
                "before": before, "after": after}

    def _log(self, kind: str, arm: int | None, before: dict[str, Any] | None,
             after: dict[str, Any] | None) -> dict[str, Any]:
        event = self._event(kind, arm, before, after)
        self._events.append(event)
        return event

    def _state(self, arms: list[ArmModel] | None = None, schedule: list[tuple[int, tuple[float, ...]]] | None = None,
               scenario_name: str | None = None, seed: int | None = None, fresh: bool = False) -> dict[str, Any]:
        """What the journal keeps: the world as it is (or as it is about to be, when given)."""
        return {
            "scenario": scenario_name if scenario_name is not None else self._scenario,
            "seed": seed if fresh else self._seed,
            "arms": [_arm_dict(a) for a in (arms if arms is not None else self._arms)],
            "schedule": [[at, list(means)] for at, means in (schedule if schedule is not None else self._schedule)],
            "total_pulls": 0 if fresh else self._total_pulls,
        }

    def _write_ahead(self, event: dict[str, Any], *, fresh: bool = False, **after: Any) -> None:
        """Journal the world as it will be after ``event``, before it is applied; raise if refused."""
        if self._journal is None:
            return
        try:
            self._journal.save(self._state(fresh=fresh, **after), event)
        except Exception as exc:  # the journal's own error type lives in banditops.store
            raise WorldNotSavedError(f"{exc}; the change was not applied") from exc

    def _check_arm(self, arm: int) -> None:
        """A drift's arm: the rule (and the words) every drift entry point shares; 404 via UnknownArmError."""
        try:
            check_arm_index(arm, len(self._arms))
        except ValueError as exc:
            raise UnknownArmError(str(exc)) from None

    def _draw(self, indices: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rewards of ``indices`` into ``out``; one ``arm.draw`` per distinct arm, in arm order."""
        counts = np.bincount(indices, minlength=len(self._arms))
        present = np.flatnonzero(counts).tolist()
        if len(present) == 1:  # one arm only: no sort needed
            out[:] = self._arms[present[0]].draw(self._rng, len(indices))
        else:  # group the batch by arm with one stable sort, draw each arm's block, scatter back once
            order = np.argsort(indices, kind="stable")
            out[order] = np.concatenate([self._arms[arm].draw(self._rng, int(counts[arm])) for arm in present])
        sums = np.bincount(indices, weights=out, minlength=len(self._arms))
        return counts, sums

    def _apply_schedule(self) -> list[dict[str, Any]]:
        """Switch the means whose breakpoint has been reached; one drift event per changed arm."""
        events = []
        while self._schedule and self._schedule[0][0] <= self._total_pulls:
            _, target = self._schedule.pop(0)
            for arm, value in enumerate(target):
                if self._arms[arm].mean != value:
                    before = _arm_dict(self._arms[arm])
                    self._arms[arm] = self._arms[arm].with_mean(value)
                    events.append(self._log("drift", arm, before, _arm_dict(self._arms[arm])))
            self._refresh_means()
        if events and self._journal is not None:
            try:  # the switch is the world's own and already drawn from: record it, never fail the batch
                self._journal.save(self._state(), *events)
            except Exception:
                log.warning("problem1 switch at %d pulls not journaled; a restart resumes from the previous one",
                            self._total_pulls, exc_info=True)
        return events

    # -- the API ------------------------------------------------------------------------------

    def pulls(self, indices: np.ndarray) -> PullOutcome:
        """Pull a batch of arm indices (int array); rewards, expected pseudo-regret, total pulls."""
        n = len(indices)
        if n == 0 or n > self.max_batch:
            raise ValueError(f"a batch holds 1..{self.max_batch} arm indices, got {n}")
        with self._lock:
            k = len(self._arms)
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high >= k:
                bad = sorted({int(i) for i in indices[(indices < 0) | (indices >= k)][:5]})
                raise UnknownArmError(unknown_arm_message(bad, k))
            rewards = np.empty(n, dtype=np.float64)
            pulls_per_arm = np.zeros(k, dtype=np.int64)
            reward_per_arm = np.zeros(k, dtype=np.float64)
            regret = 0.0
            events: list[dict[str, Any]] = []
            start = 0
            while start < n:
                stop = n
                if self._schedule:  # a breakpoint inside the batch splits it
                    stop = min(n, start + self._schedule[0][0] - self._total_pulls)
                segment = indices[start:stop]
                counts, sums = self._draw(segment, rewards[start:stop])
                regret += float(self._best_mean * len(segment) - counts @ self._means)
                pulls_per_arm += counts
                reward_per_arm += sums
                self._total_pulls += len(segment)
                events.extend(self._apply_schedule())
                start = stop
            self._pulls += pulls_per_arm
            return PullOutcome(rewards, regret, self._total_pulls, pulls_per_arm, reward_per_arm, events)

    def pull(self, arm: int) -> PullOutcome:
        """One pull of ``arm``."""
        if not 0 <= arm < 2**31:  # beyond int64 numpy would overflow; no world has that many arms
            raise UnknownArmError(unknown_arm_message(arm, len(self._arms)))
        return self.pulls(np.array([arm], dtype=np.int64))

    def truth(self) -> dict[str, Any]:
        """Ground truth: the arms, their means, the best arm, the pull counters, the scenario."""
        with self._lock:
            return {
                "arms": [_arm_dict(a) for a in self._arms],
                "means": self._means.tolist(),
                "best_arm": int(np.argmax(self._means)),
                "total_pulls": self._total_pulls,
                "pulls": self._pulls.tolist(),
                "scenario": self._scenario,
            }

    def events(self) -> list[dict[str, Any]]:
        """Every logged event, oldest first."""
        with self._lock:
            return list(self._events)

    def update_arm(self, arm: int, **params: float) -> dict[str, Any]:
        """Change parameters of one arm (a drift); ends a ``problem1`` schedule. Returns the event."""
        with self._lock:
            self._check_arm(arm)
            current = self._arms[arm]
            allowed = ARM_PARAMS[current.kind]
            if not params:
                raise ValueError(f"give at least one parameter of this {current.kind} arm: {', '.join(allowed)}")
            # the one value rule (and words) every drift entry point shares; nothing changes on a refusal
            values = {name: check_drift_value(current.kind, name, value) for name, value in params.items()}
            if current.kind == "bernoulli" and "mean" in values:
                mean = values.pop("mean")
                if "p" in values and values["p"] != mean:
                    raise ValueError("for a bernoulli arm mean and p are the same number; give one of them")
                values["p"] = mean
            before = _arm_dict(current)
            updated = parse_arms([{**before, **values}])[0]
            event = self._event("drift", arm, before, _arm_dict(updated))
            self._write_ahead(event, arms=[*self._arms[:arm], updated, *self._arms[arm + 1:]], schedule=[])
            self._arms[arm] = updated
            self._schedule.clear()
            self._refresh_means()
            self._events.append(event)
            return event

    def add_arm(self, arm: ArmModel | dict[str, Any]) -> dict[str, Any]:
        """Append an arm of the world's reward kind (a new banner); ends a schedule. Returns the event."""
        new = parse_arms([arm if isinstance(arm, dict) else _arm_dict(arm)])[0]
        with self._lock:
            kind = self._arms[0].kind
            if len(self._arms) >= MAX_ARMS:
                raise ValueError(f"this world already holds the maximum of {MAX_ARMS} arms")
            if new.kind != kind:
                raise ValueError(f"this world's arms are {kind}; a new arm must be {kind} too, got {new.kind}")
            event = self._event("arm_added", len(self._arms), None, _arm_dict(new))
            self._write_ahead(event, arms=[*self._arms, new], schedule=[])
            self._arms.append(new)
            self._pulls = np.append(self._pulls, 0)
            self._schedule.clear()
            self._refresh_means()
            self._events.append(event)
            return event

    def reset(self, name: str, *, seed: int | None = None,
              arms: list[ArmModel] | list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Start over in scenario ``name`` (or with ``arms``): counters to zero, generator reseeded."""
        resolved, schedule = resolve(name, arms)
        with self._lock:
            before = {"scenario": self._scenario, "arms": [_arm_dict(a) for a in self._arms],
                      "total_pulls": self._total_pulls}
            event = self._event("scenario_reset", None, before,
                                {"scenario": name, "arms": [_arm_dict(a) for a in resolved], "seed": seed})
            self._write_ahead(event, fresh=True, arms=resolved, schedule=schedule, scenario_name=name, seed=seed)
            self._install(resolved, name, seed, schedule)
            self._events.append(event)
        return self.truth()


def resolve(
    name: str, arms: list[ArmModel] | list[dict[str, Any]] | None
) -> tuple[list[ArmModel], list[tuple[int, tuple[float, ...]]]]:
    """The arms and the schedule of a reset; ``ValueError`` naming what is valid."""
    if arms is None:
        resolved = scenario(name)  # raises with the valid scenario names
        schedule = []
        if name == "problem1":
            schedule = [(PROBLEM1_PERIOD * i, means) for i, means in enumerate(PROBLEM1_MEANS) if i > 0]
        return resolved, schedule
    if name in SCENARIOS:
        raise ValueError(
            f"{name!r} is a named scenario with its own arms; to post arms use another label, e.g. 'custom'"
        )
    if not name or len(name) > 64:
        raise ValueError("the scenario label must be 1..64 characters")
    if not 1 <= len(arms) <= MAX_ARMS:
        raise ValueError(f"a world holds 1..{MAX_ARMS} arms, got {len(arms)}")
    dicts = [a if isinstance(a, dict) else _arm_dict(a) for a in arms]
    resolved = parse_arms(dicts)
    reward_kind(resolved)
    return resolved, []
