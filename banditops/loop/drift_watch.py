"""Drift watching for the record: what the agents' rounds did, or, in production, the summary stream.

With simulated pulls the agents' rounds test every arm's rewards pull by pull and react in the
store themselves (``banditops.loop.rounds``); the watch only reports each restart they made and
nobody has recorded yet, so Airflow can document the phase (MLflow, ``bandit_relearning``). In
production the agents only fold the decision API's feedback, so the watch still tests the current
epoch's summary stream: the summaries since convergence are replayed into fresh detectors and the
stream position is kept in Redis, so a restarted triggerer continues where it stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

from banditops.bandit.drift.monitor import ArmDriftMonitor
from banditops.loop.ids import stream_id_key
from banditops.store.protocols import StoreLike
from banditops.store.types import BatchSummary, ExperimentConfig, Mode, StoreState

#: Name of the drift sensor's stream cursor in the store.
DRIFT_CURSOR = "drift_sensor"


@dataclass(frozen=True)
class DriftFinding:
    """A drift sensed in MONITORING: the signal, the epoch and where in the stream it was seen."""

    epoch: int
    arm: int
    change_point: int
    magnitude: float
    statistic: float
    detector: str
    stream_id: str
    pulls_before: int
    epoch_pulls: int
    #: True when the agents already reacted in the store (a restart opened ``opened_epoch``).
    reacted: bool = False
    opened_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _monitor_for(config: ExperimentConfig) -> ArmDriftMonitor:
    return ArmDriftMonitor(n_arms=config.n_arms, reward_kind=config.reward_kind, delta=config.drift_delta)


class DriftWatch:
    """Feeds the current epoch's summary stream to per-arm drift tests; reports only in MONITORING.

    The detectors see the whole epoch, the learning phase included: that phase sampled the same
    world, and without it a drift injected right after convergence would have no "before" to be
    compared with (the tests need samples on both sides of the change). A drift that happened
    during learning is therefore reported as soon as the loop is MONITORING — which is what it
    should do, since the converged posterior mixes two worlds.

    It keeps its stream position in Redis (``store.set_cursor``) after every poll, and on a fresh
    start (a restarted triggerer) it rebuilds the detectors by replaying the epoch's summaries up
    to that cursor, then continues from it. Detectors are deterministic, so the rebuilt state
    equals the lost one.

    Parameters
    ----------
    store : BanditStore
    cursor_name : str
        The cursor's name in the store (one per sensor).
    chunk : int
        Summaries read per round trip.
    summaries : bool or None
        ``None`` (default): test the summary stream in production, report the agents' own
        reactions otherwise; ``True`` / ``False`` force one of the two.
    """

    def __init__(
        self, store: StoreLike, cursor_name: str = DRIFT_CURSOR, chunk: int = 1000, *, summaries: bool | None = None
    ) -> None:
        self.store = store
        #: Test the summary stream (True), report the agents' reactions (False), or by the source (None).
        self.summaries = summaries
        self.cursor_name = cursor_name
        self.chunk = chunk
        self._epoch: int | None = None
        self._monitor: ArmDriftMonitor | None = None
        self._cursor = "0-0"
        self._reported_epoch: int | None = None
        self.replayed = 0

    def _feed(self, summaries: list[BatchSummary], epoch: int, state: StoreState) -> DriftFinding | None:
        monitor = self._monitor
        if monitor is None:  # only _rebuild creates it, and every caller rebuilds first
            raise RuntimeError("the drift watch was fed summaries before it rebuilt its detectors")
        for summary in summaries:
            self._cursor = summary.id
            if summary.epoch != epoch:
                continue
            signal = monitor.update(summary.stats.padded(state.config.n_arms), summary.pulls_before)
            if signal is not None:
                return DriftFinding(
                    epoch=epoch, arm=int(cast(int, signal.arm)), change_point=int(signal.change_point),
                    magnitude=float(signal.magnitude), statistic=float(signal.statistic),
                    detector=str(getattr(signal, "detector", "")), stream_id=summary.id,
                    pulls_before=int(summary.pulls_before), epoch_pulls=int(state.epoch_pulls),
                )
        return None

    def _epoch_start(self) -> str:
        """Stream id of the current epoch's opening event (summary ids are later, same server clock)."""
        start = "0-0"
        for event in self.store.events(count=100_000):
            if event.kind in ("epoch_opened", "experiment_started"):
                start = event.id
        return start

    def _rebuild(self, epoch: int, state: StoreState) -> DriftFinding | None:
        self._epoch = epoch
        self._monitor = _monitor_for(state.config)
        start = self._epoch_start()
        persisted = self.store.get_cursor(self.cursor_name)
        self._cursor = start
        self.replayed = 0
        # Replay up to the persisted cursor, so the detectors hold exactly the state they had.
        while stream_id_key(self._cursor) < stream_id_key(persisted):
            batch = self.store.summaries(since=self._cursor, count=self.chunk)
            batch = [s for s in batch if stream_id_key(s.id) <= stream_id_key(persisted)]
            if not batch:
                break
            self.replayed += len(batch)
            finding = self._feed(batch, epoch, state)
            if finding is not None:
                return finding
        return None

    def poll(self) -> DriftFinding | None:
        """Read what is new; a finding when a drift is sensed, else ``None`` (also outside MONITORING).

        A drift is reported once per watcher. A fresh sensor run reports a recorded drift again while
        the store is still MONITORING in its epoch: the relearning it triggers is a no-op once the
        next epoch opened, and the one that had failed to start otherwise.
        """
        state: StoreState = self.store.state()
        if not (state.config.source == "production" if self.summaries is None else self.summaries):
            return self._reacted()
        if state.mode != Mode.MONITORING:
            self._epoch, self._monitor = None, None
            return None
        if self._reported_epoch == state.epoch:
            return None
        finding = self._scan(state)
        if finding is not None:
            # reported once per watcher; a fresh sensor run reports it again while the store is still
            # in this epoch, so a relearning that failed to start is retried (it is idempotent per epoch)
            self._reported_epoch = finding.epoch
        return finding

    def _reacted(self) -> DriftFinding | None:
        """The oldest restart the agents made in the store that no ``drift_recorded`` event covers."""
        restarts, recorded = [], set()
        for event in self.store.events(count=100_000):
            if event.kind == "drift_detected" and event.fields.get("reaction") == "restart":
                restarts.append(event)
            elif event.kind == "drift_recorded":
                recorded.add(int(event.fields.get("epoch", -1)))
        for event in restarts:
            f = event.fields
            epoch = int(f.get("epoch", -1))
            if epoch in recorded or epoch == self._reported_epoch:
                continue
            self._reported_epoch = epoch
            return DriftFinding(
                epoch=epoch, arm=int(f.get("arm", -1)), change_point=int(f.get("change_point", 0)),
                magnitude=float(f.get("magnitude", 0.0)), statistic=float(f.get("statistic", 0.0)),
                detector=str(f.get("detector", "")), stream_id=event.id, pulls_before=int(f.get("pulls_before", 0)),
                epoch_pulls=int(f.get("pulls_before", 0)), reacted=True, opened_epoch=epoch + 1,
            )
        return None

    def _scan(self, state: StoreState) -> DriftFinding | None:
        if self._epoch != state.epoch or self._monitor is None:
            finding = self._rebuild(state.epoch, state)
            if finding is not None:
                self.store.set_cursor(self.cursor_name, self._cursor)
                return finding
        while True:
            batch = self.store.summaries(since=self._cursor, count=self.chunk)
            if not batch:
                break
            finding = self._feed(batch, state.epoch, state)
            self.store.set_cursor(self.cursor_name, self._cursor)
            if finding is not None:
                return finding
            if len(batch) < self.chunk:
                break
        return None

    @property
    def cursor(self) -> str:
        return self._cursor
