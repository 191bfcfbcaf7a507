"""What the environment paid out, per epoch and per batch: the other side of the store's books.

The store counts what it applied; only the environment knows what it served. An agent names the
epoch it sampled under and its batch id with each pull (headers ``X-BanditOps-Epoch`` and
``X-BanditOps-Batch``), and the ledger adds the batch's pulls and reward sum under both. The
end-to-end test then reconciles the two books: every batch the store applied was served once with
exactly those pulls and that reward sum, and every batch served but not applied is one the store
counted as refused (a duplicate or a stale epoch). Nothing lost, nothing counted twice.

Pulls without the headers (the single-pull route, a person with curl) are booked under epoch
``None``. Counters are in memory: they start again at zero when the service restarts.

Examples
--------
>>> ledger = Ledger(max_batches=2)
>>> ledger.book(3, "dag/run/0/0", 4, 2.5)
>>> ledger.book(3, "dag/run/0/0", 4, 1.0)  # a retried round pulls again: booked as a second attempt
>>> ledger.book(None, None, 1, 0.5)
>>> [(e["epoch"], e["pulls"], e["reward_sum"], e["batches"]) for e in ledger.snapshot()["epochs"]]
[(None, 1, 0.5, 1), (3, 8, 3.5, 2)]
>>> ledger.snapshot()["batches"][0]["attempts"]
[[4, 2.5], [4, 1.0]]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class Ledger:
    """Pulls and reward sums per epoch (all kept) and per batch id (the last ``max_batches``)."""

    def __init__(self, max_batches: int = 100_000) -> None:
        if max_batches < 1:
            raise ValueError(f"max_batches must be >= 1; got {max_batches}")
        self.max_batches = max_batches
        self._lock = threading.Lock()
        self._epochs: dict[int | None, list[float]] = {}  # epoch -> [pulls, reward_sum, batches]
        self._batches: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def book(self, epoch: int | None, batch_id: str | None, pulls: int, reward_sum: float) -> None:
        """Add one served batch."""
        with self._lock:
            row = self._epochs.setdefault(epoch, [0, 0.0, 0])
            row[0] += pulls
            row[1] += reward_sum
            row[2] += 1
            if batch_id is None:
                return
            entry = self._batches.get(batch_id)
            if entry is None or entry["epoch"] != epoch:
                entry = {"batch_id": batch_id, "epoch": epoch, "attempts": []}
                self._batches[batch_id] = entry
                while len(self._batches) > self.max_batches:
                    self._batches.popitem(last=False)
            entry["attempts"].append([pulls, reward_sum])

    def snapshot(self, epoch: int | None = None) -> dict[str, Any]:
        """Per-epoch totals, and the remembered batches (of ``epoch`` when given), oldest first."""
        with self._lock:
            epochs = [{"epoch": e, "pulls": int(r[0]), "reward_sum": float(r[1]), "batches": int(r[2])}
                      for e, r in sorted(self._epochs.items(), key=lambda kv: -1 if kv[0] is None else kv[0])]
            batches = [{**b, "attempts": [list(a) for a in b["attempts"]]} for b in self._batches.values()
                       if epoch is None or b["epoch"] == epoch]
        return {"epochs": epochs, "batches": batches, "max_batches": self.max_batches}
