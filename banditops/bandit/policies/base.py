"""The one policy interface: what the simulator, the agents' rounds and the benchmarks all call.

A policy decides pull by pull and learns reward by reward, in three calls:

- ``draw(size)``: the Thompson choices of the next ``size`` pulls, from ONE snapshot of the
  posterior (``size`` 1 is sequential play; a round of distributed agents draws its whole
  round from the posterior it read);
- ``choose(ts_choice, t)``: the arm actually played at pull ``t`` — the Thompson choice, or a
  forced pull the policy needs (the staleness floor, confirmation pulls, a top-up to a minimum
  of pulls per arm, a forced round-robin budget); it says which;
- ``observe(arm, x, t, forced=...)``: the reward, through the conjugate update
  (:class:`~banditops.bandit.posteriors.arrays.PosteriorArrays`) and the arm's change-point test;
  on an alarm the policy reacts at once (restart or reset of the arm) and returns the
  :class:`Alarm`.

:func:`play` drives those calls over a whole reward table (the in-process simulator). The
Airflow agents' round (``banditops.loop.rounds``) drives the same calls on the same objects, with
the state a stateless agent needs read from and written back to the store
(:meth:`~banditops.bandit.policies.drift_aware.DriftAwarePolicy.load`): there is no second
implementation of Thompson Sampling, the update, the floor or the reaction.

Examples
--------
>>> import numpy as np
>>> from banditops.bandit.policies.registry import make_policy
>>> policy = make_policy("ts", 2, "bernoulli", np.random.default_rng(0))
>>> table = np.column_stack([np.zeros(500), np.ones(500)])
>>> played = play(policy, table)
>>> isinstance(policy, Policy), int((played[-100:] == 1).mean() > 0.9)
(True, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from banditops.bandit.posteriors.arrays import PosteriorArrays
    from banditops.bandit.stats import ArmStats


@dataclass(frozen=True)
class Alarm:
    """One alarm of a policy, in the pull count of whoever drives it."""

    t: int
    arm: int
    change_point: int
    magnitude: float
    #: True for a new phase: a restart (the leader dropped) or a rise past the leader (every arm's
    #: evidence kept); False for a reset of the arm alone.
    restart: bool
    #: First pull of the evidence the test looked at (for telling true from false alarms).
    since: int
    detector: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Policy(Protocol):
    """A bandit policy played pull by pull (see the module docstring); :func:`make_policy` returns it."""

    @property
    def name(self) -> str:
        """The policy's name in :data:`banditops.bandit.policies.registry.POLICIES`."""
        ...

    @property
    def posterior(self) -> PosteriorArrays:
        """The per-arm posterior the policy samples from."""
        ...

    @property
    def alarms(self) -> Sequence[Alarm]:
        """The change points raised so far (empty for a policy without drift tests)."""
        ...

    @property
    def explored(self) -> int:
        """Pulls not chosen by Thompson Sampling (forced pulls of any kind)."""
        ...

    def draw(self, size: int) -> np.ndarray:
        """Thompson choices (``int64``) of the next ``size`` pulls, from one posterior snapshot."""
        ...

    def choose(self, ts_choice: int, t: int) -> tuple[int, bool]:
        """The arm played at pull ``t``, and whether it was forced (not the Thompson choice)."""
        ...

    def observe(self, arm: int, x: float, t: int, *, forced: bool = False) -> Alarm | None:
        """Learn reward ``x`` of ``arm`` at pull ``t``; the alarm it raised (already acted on), if any."""
        ...

    def run(self, rewards: np.ndarray, blocks: Iterable[int] | None = None) -> np.ndarray:
        """:func:`play` on this policy."""
        ...

    # -- what a stateless agent keeps in the store between rounds ----------------------------
    retired: frozenset[int]
    #: Since the last :meth:`load`: whether the policy restarted, and the arms it reset alone.
    restarted: bool
    reset_arms: set[int]

    @property
    def floor_forced(self) -> int:
        """Forced pulls on the staleness floor's clock (its budget counts them)."""
        ...

    @property
    def wants_feedback(self) -> bool:
        """Whether the pull :meth:`choose` just chose is a watch pull whose reward the next choice needs.

        A probe of a stale arm, or the last of its confirmation pulls: what the policy does next
        depends on that reward (confirm, alarm, or nothing). The sequential simulator observes every
        pull before the next choice anyway; an agent's round, chosen from one read, ends there instead
        and plays the rest of its pulls from a fresh read (:func:`banditops.loop.rounds.run_agent_round`).
        """
        ...

    def load(
        self,
        *,
        stats: ArmStats,
        streams: Sequence[tuple[np.ndarray, np.ndarray]],
        t: int,
        last_pulled: np.ndarray | None = None,
        floor_forced: int = 0,
        control: Mapping[str, Any] | None = None,
        retired: Iterable[int] = (),
    ) -> list[Alarm]:
        """Become the policy the stored state describes at pull ``t``; the alarms that raises."""
        ...

    def stream(self, arm: int) -> tuple[np.ndarray, np.ndarray]:
        """``arm``'s rewards and pull positions since its last reset."""
        ...

    def control_state(self) -> dict[str, Any]:
        """Small JSON-able state :meth:`load` takes back as ``control``."""
        ...

    def set_round_robin(self, pulls: int, start: int = 0) -> None:
        """Force the next ``pulls`` pulls round-robin (a relearning budget a person asked for)."""
        ...


def play(policy: Policy, rewards: np.ndarray, blocks: Iterable[int] | None = None) -> np.ndarray:
    """Play a ``(T, K)`` reward table: the arm played at each row (``int64``).

    ``blocks`` are the posterior refresh intervals (default: every pull). Within a block the
    Thompson choices come from one posterior snapshot, as agents sharing a posterior see it; the
    forced pulls and the tests still act on every pull, and an alarm ends the block at once (the
    agent that saw it refreshes its posterior).
    """
    horizon = rewards.shape[0]
    played = np.empty(horizon, np.int64)
    schedule = iter(blocks) if blocks is not None else None
    t = 0
    while t < horizon:
        size = min(next(schedule, 1) if schedule is not None else 1, horizon - t)
        for choice in policy.draw(size).tolist():
            arm, forced = policy.choose(int(choice), t)
            played[t] = arm
            alarm = policy.observe(arm, float(rewards[t, arm]), t, forced=forced)
            t += 1
            if alarm is not None:
                break
    return played
