"""The Redis state store of the loop and the value types it reads and writes."""

from __future__ import annotations

from banditops.store.redis_store import (
    LIFECYCLE_REASONS,
    SNAPSHOT_FORMAT,
    BanditStore,
    StoreNotInitializedError,
)
from banditops.store.types import (
    ApplyResult,
    ApplyStatus,
    ArmTable,
    BatchSummary,
    Event,
    ExperimentConfig,
    Mode,
    StoreState,
)

__all__ = [
    "LIFECYCLE_REASONS",
    "SNAPSHOT_FORMAT",
    "ApplyResult",
    "ApplyStatus",
    "ArmTable",
    "BanditStore",
    "BatchSummary",
    "Event",
    "ExperimentConfig",
    "Mode",
    "StoreNotInitializedError",
    "StoreState",
]
