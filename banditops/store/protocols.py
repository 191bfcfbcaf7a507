"""What the loop needs from the state store, as Protocols (the seam between ``loop/`` and ``store/``).

Why Protocols and not :class:`~banditops.store.redis_store.BanditStore` itself: the loop is
written against the store's *behaviour* (read a consistent state, apply a batch atomically, append
an event), and more than one object plays that part. The deployed simulator hands each agent a view
of the store whose first reads are the step's shared read (``banditops.sim.deployed``); a test can
hand a store it wrapped to count calls. Each Protocol names only the methods its callers use, with
the store's own signatures, so mypy checks both sides and ``BanditStore`` satisfies all of them
without inheriting from any.

* :class:`RoundStore`: what one agent round reads and writes (``banditops.loop.rounds``).
* :class:`EventStore`: the lifecycle event stream (drift records, MLflow failures).
* :class:`StoreLike`: everything the loop's transitions, drift watch and tracker call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from banditops.store.types import (
    ApplyResult,
    BatchSummary,
    Event,
    ExperimentConfig,
    Mode,
    RoundState,
    RoundWrite,
    StoreState,
)


class RoundStore(Protocol):
    """One agent round: a consistent read, then one atomic write fenced by batch id and epoch."""

    def round_state(self) -> RoundState: ...

    def apply_round(
        self,
        batch_id: str,
        epoch: int,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        write: RoundWrite,
        *,
        regret: float = 0.0,
    ) -> ApplyResult: ...

    def apply_batch(
        self,
        batch_id: str,
        epoch: int,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        *,
        regret: float = 0.0,
    ) -> ApplyResult: ...


class EventStore(Protocol):
    """The store's lifecycle event stream."""

    def append_event(self, kind: str, **fields: object) -> str: ...

    def events(self, since: str = "0-0", count: int = 1000) -> list[Event]: ...


class StoreLike(RoundStore, EventStore, Protocol):
    """The experiment's state as the learning loop reads and changes it (``BanditStore`` is one)."""

    @property
    def namespace(self) -> str: ...

    def state(self, epoch: int | None = None, *, with_linear: bool = False) -> StoreState: ...

    def config(self) -> ExperimentConfig: ...

    def mode(self) -> Mode: ...

    def epoch(self) -> int: ...

    def reset(self, config: ExperimentConfig) -> int: ...

    def set_mode(self, mode: Mode | str, *, reason: str, expected_epoch: int | None = None,
                 **event_fields: object) -> bool: ...  # fmt: skip

    def open_epoch(self, *, reason: str, explore_budget: int, expected_epoch: int | None = None,
                   **event_fields: object) -> int: ...  # fmt: skip

    def summaries(self, since: str = "0-0", count: int = 1000, block_ms: int | None = None) -> list[BatchSummary]: ...

    def get_cursor(self, name: str) -> str: ...

    def set_cursor(self, name: str, stream_id: str) -> None: ...

    def get_meta(self) -> dict[str, str]: ...

    def set_meta(self, **fields: str) -> None: ...

    def claim_phase_run(self, epoch: int, holder: str, ttl_s: int = 120, generation: int = 0) -> bool: ...

    def release_phase_run(self, epoch: int, generation: int = 0) -> None: ...

    def record_phase_run(self, epoch: int, run_id: str, generation: int = 0) -> None: ...

    def phase_run(self, epoch: int, generation: int = 0) -> str: ...
