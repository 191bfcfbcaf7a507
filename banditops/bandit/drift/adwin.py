"""River's drift detectors (ADWIN, Page–Hinkley, ...) behind the BanditOps detector interface.

River already implements ADWIN well; this module only adapts it: one reward per ``update``, a
batch summary fed as ``n`` rewards at the batch mean, and a :class:`DriftSignal` built from
what River exposes (ADWIN's window after the cut marks the change point). River drops its
alarm on the next update; the adapter latches it like every BanditOps detector. Serialised
state is the fed history, replayed on load (River objects are not JSON).

References
----------
Bifet, A., Gavaldà, R. (2007). Learning from time-changing data with adaptive windowing.
SIAM International Conference on Data Mining, 443-448.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> stream = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(3.0, 1.0, 200)])
>>> detector = ADWINDetector()
>>> for t, x in enumerate(stream):
...     if detector.update(x).drift_detected:
...         break
>>> t, detector.signal.change_point
(1023, 984)
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from typing import Any, Self

from banditops.bandit.drift.base import DriftDetector, DriftSignal


def river_available() -> bool:
    """Whether River (the ``dev`` extra) is installed."""
    return importlib.util.find_spec("river") is not None


class RiverDetector(DriftDetector):
    """Any ``river.drift`` detector (by class name) adapted to :class:`DriftDetector`.

    Parameters
    ----------
    river_class : str, default "ADWIN"
        Name of a class in ``river.drift`` (``ADWIN``, ``PageHinkley``, ``KSWIN`` ...).
    **river_params
        Passed to that class unchanged (River's own defaults otherwise).
    """

    name = "river"

    def __init__(self, river_class: str = "ADWIN", **river_params: Any) -> None:
        if not river_available():
            raise ValueError("River detectors need the `river` package (pip install 'banditops[dev]')")
        drift = importlib.import_module("river.drift")
        if not hasattr(drift, river_class):
            valid = sorted(n for n in dir(drift) if n[:1].isupper())
            raise ValueError(f"unknown river.drift class {river_class!r}; valid: {', '.join(valid)}")
        self.river_class = river_class
        self.river_params = dict(river_params)
        self._factory = getattr(drift, river_class)
        self.name = f"river_{river_class.lower()}"
        super().__init__()

    def _reset(self) -> None:
        self._river = self._factory(**self.river_params)
        self._n_seen = 0
        self._sum = 0.0
        self._history: list[tuple[int, float]] = []
        self._signal: DriftSignal | None = None

    def update(self, x: float) -> Self:
        value = self._check_reward(x)
        self._feed(1, value)
        return self

    def update_batch(self, n: int, sum: float, sumsq: float) -> Self:
        """A batch is fed as ``n`` rewards at its mean (River detectors take single values)."""
        count, total, _ = self._check_batch(n, sum, sumsq)
        self._feed(count, total / count)
        return self

    def _feed(self, n: int, value: float) -> None:
        self._history.append((n, value))
        for _ in range(n):
            self._n_seen += 1
            self._sum += value
            self._river.update(value)
            if self._signal is None and self._river.drift_detected:
                self._signal = self._make_signal()

    def _make_signal(self) -> DriftSignal:
        width = int(getattr(self._river, "width", 0) or 0)
        change_point = self._n_seen - width if 0 < width < self._n_seen else self._n_seen - 1
        after_n = self._n_seen - change_point
        estimation = getattr(self._river, "estimation", None)
        after = float(estimation) if estimation is not None and width else math.nan
        after_sum = after * after_n if math.isfinite(after) else math.nan
        before = (self._sum - after_sum) / change_point if change_point > 0 and math.isfinite(after_sum) else math.nan
        magnitude = after - before if math.isfinite(after) and math.isfinite(before) else 0.0
        return DriftSignal(
            arm=None,
            change_point=change_point,
            magnitude=magnitude,
            statistic=math.nan,
            threshold=math.nan,
            detector=self.name,
            detected_at=self._n_seen,
        )

    def params(self) -> dict[str, Any]:
        return {"river_class": self.river_class, **self.river_params}

    def state_dict(self) -> dict[str, Any]:
        return {"history": [list(h) for h in self._history]}

    def load_state(self, state: dict[str, Any]) -> None:
        self._reset()
        for n, value in state["history"]:
            self._feed(int(n), float(value))


class ADWINDetector(RiverDetector):
    """River's ADWIN (adaptive windowing) with River's defaults unless given.

    Parameters
    ----------
    delta : float, default 0.002
        ADWIN's confidence value (River's default).
    clock : int, default 32
        How often (in rewards) ADWIN checks for a cut (River's default); 1 checks every reward.
    """

    name = "adwin"

    def __init__(self, delta: float = 0.002, clock: int = 32, **river_params: Any) -> None:
        if not (0.0 < delta < 1.0):
            raise ValueError(f"delta must be in (0, 1); got {delta!r}")
        if clock < 1:
            raise ValueError(f"clock must be >= 1; got {clock!r}")
        super().__init__("ADWIN", delta=delta, clock=clock, **river_params)
        self.name = "adwin"

    def params(self) -> dict[str, Any]:
        return dict(self.river_params)
