"""Batch ids and the generators seeded from them: a retried round decides the same.

The idempotency key of one agent round is ``<dag_id>/<run_id>/<map_index>/<round>``; randomness
is derived from it (and the settings' seed), so a run is reproducible from its ids.

Examples
--------
>>> make_batch_id("bandit_learning", "manual__2026-01-01", 3, 2)
'bandit_learning/manual__2026-01-01/3/2'
>>> round_rng("bandit_learning/r/0/0", seed=7).integers(0, 100, 3).tolist()
[9, 51, 54]
>>> stream_id_key("1700000000000-3") < stream_id_key("1700000000001-0")
True
"""

from __future__ import annotations

import hashlib

import numpy as np


def make_batch_id(dag_id: str, run_id: str, map_index: int, round_index: int) -> str:
    """The idempotency key of one agent round: ``<dag_id>/<run_id>/<map_index>/<round>``."""
    return f"{run_key(dag_id, run_id)}/{map_index}/{round_index}"


def run_key(dag_id: str, run_id: str) -> str:
    """One Airflow run's key, ``<dag_id>/<run_id>``: the prefix of its agents' batch ids."""
    return f"{dag_id}/{run_id}"


def round_rng(batch_id: str, seed: int | None = None) -> np.random.Generator:
    """A generator seeded from the batch id (and the global seed), so a retry decides the same."""
    digest = hashlib.sha256(batch_id.encode()).digest()
    entropy = [int.from_bytes(digest[:8], "little")]
    if seed is not None:
        entropy.append(int(seed))
    return np.random.default_rng(np.random.SeedSequence(entropy))


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Order of a Redis stream id ``<ms>-<seq>``."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
