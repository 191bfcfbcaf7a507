"""The Redis state store: the one source of truth of the loop.

CONTRACT (the signatures below are what every other part codes against; the store issue
implements them — keep names and semantics, add what is missing).

Keys live under ``{namespace}:``; the posterior is kept per epoch; every write that changes
learning state is ONE server-side Lua script, so concurrent agents never lose an update and a
retried Airflow task (same batch id) applies nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import redis

from banditops.stats import ArmStats
from banditops.store.types import (
    ApplyResult,
    BatchSummary,
    Event,
    ExperimentConfig,
    Mode,
    StoreState,
)


class BanditStore:
    """State of one experiment in Redis: config, mode, epoch, posterior, streams, counters."""

    def __init__(self, client: redis.Redis, namespace: str = "bo") -> None:
        self.client = client
        self.namespace = namespace

    @classmethod
    def from_url(cls, url: str, namespace: str = "bo") -> BanditStore:
        raise NotImplementedError

    # -- channels and keys other components may listen to --------------------------------------
    @property
    def changed_channel(self) -> str:
        """Pub/sub channel published after every state change (decision service refresh)."""
        return f"{self.namespace}:changed"

    # -- lifecycle ---------------------------------------------------------------------------
    def reset(self, config: ExperimentConfig) -> None:
        """Wipe this namespace and start: epoch 1, LEARNING, empty posterior, event ``experiment_started``."""
        raise NotImplementedError

    def config(self) -> ExperimentConfig:
        raise NotImplementedError

    def mode(self) -> Mode:
        raise NotImplementedError

    def epoch(self) -> int:
        raise NotImplementedError

    def state(self) -> StoreState:
        """One consistent read (a single round trip) of mode, epoch, stats, counters."""
        raise NotImplementedError

    def stats(self, epoch: int | None = None) -> ArmStats:
        raise NotImplementedError

    def set_mode(
        self, mode: Mode | str, *, reason: str, expected_epoch: int | None = None, **event_fields: Any
    ) -> bool:
        """Switch mode and append event ``mode_changed`` (plus ``reason`` as its own event kind when
        it is one of converged/relearning_done...). Refused (returns False, nothing written) when
        ``expected_epoch`` is given and is not the current epoch. Unknown mode: ``ValueError``."""
        raise NotImplementedError

    def open_epoch(self, *, reason: str, explore_budget: int, **event_fields: Any) -> int:
        """Atomically: epoch + 1, fresh (prior-only) posterior, mode RELEARNING with
        ``explore_remaining = explore_budget``, event ``epoch_opened``. Returns the new epoch."""
        raise NotImplementedError

    # -- learning ----------------------------------------------------------------------------
    def apply_batch(
        self,
        batch_id: str,
        epoch: int,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        *,
        regret: float = 0.0,
    ) -> ApplyResult:
        """Apply one agent round atomically (one Lua script).

        Validates first (``ValueError`` naming what is valid, nothing written): non-finite reward,
        arm out of range, Bernoulli reward not in {0, 1}, mismatched lengths. Then the script:
        a batch id seen before -> ``duplicate``; ``epoch`` != current -> ``stale_epoch``;
        else adds the per-arm n/sum/sumsq to the epoch's posterior, updates counters, regret and
        last-pulled, appends a summary to the summary stream, in RELEARNING decrements
        ``explore_remaining`` and switches to LEARNING (event ``relearning_done``) when spent,
        and publishes on ``changed_channel``.
        """
        raise NotImplementedError

    def add_arm(self) -> int:
        """A new arm (a new banner) starting from the prior; returns its index."""
        raise NotImplementedError

    def retire_arm(self, arm: int) -> None:
        """An arm that is never selected again (its statistics are kept)."""
        raise NotImplementedError

    # -- streams -----------------------------------------------------------------------------
    def append_event(self, kind: str, **fields: Any) -> str:
        """Append a lifecycle event; returns its stream id."""
        raise NotImplementedError

    def events(self, since: str = "0-0", count: int = 1000) -> list[Event]:
        raise NotImplementedError

    def summaries(self, since: str = "0-0", count: int = 1000, block_ms: int | None = None) -> list[BatchSummary]:
        """Batch summaries after stream id ``since`` (exclusive), oldest first."""
        raise NotImplementedError

    def get_cursor(self, name: str) -> str:
        """A named stream position (e.g. the drift sensor's), ``"0-0"`` when unset."""
        raise NotImplementedError

    def set_cursor(self, name: str, stream_id: str) -> None:
        raise NotImplementedError

    # -- small metadata (MLflow run ids, ...) ------------------------------------------------
    def set_meta(self, **fields: str) -> None:
        raise NotImplementedError

    def get_meta(self) -> dict[str, str]:
        raise NotImplementedError

    # -- whole state -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The whole state of the namespace as JSON-able data."""
        raise NotImplementedError

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace the namespace's state with a snapshot (inverse of :meth:`snapshot`)."""
        raise NotImplementedError
