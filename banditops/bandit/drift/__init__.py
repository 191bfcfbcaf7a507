"""Drift detectors: one interface, one detector per module, and a factory by name.

``glr`` picks the GLR test of the reward kind (Bernoulli or Gaussian, Besson et al. 2022) and
is the default everywhere; ``page_hinkley`` is the scale-aware Page–Hinkley test; ``adwin`` and
``river_page_hinkley`` are River's own detectors through a thin adapter (needs ``river``).

Examples
--------
>>> make_detector("glr", "bernoulli").name
'glr_bernoulli'
>>> make_detector("cusum", "gaussian")
Traceback (most recent call last):
...
ValueError: unknown detector 'cusum'; valid detectors: glr, page_hinkley, adwin, river_page_hinkley
"""

from __future__ import annotations

from typing import Any

from banditops.bandit.arms import REWARD_KINDS
from banditops.bandit.drift.adwin import ADWINDetector, RiverDetector
from banditops.bandit.drift.base import DriftDetector, DriftSignal
from banditops.bandit.drift.glr_bernoulli import BernoulliGLR
from banditops.bandit.drift.glr_gaussian import GaussianGLR
from banditops.bandit.drift.page_hinkley import PageHinkley
from banditops.bandit.names import DETECTORS

__all__ = [
    "DETECTORS",
    "ADWINDetector",
    "BernoulliGLR",
    "DriftDetector",
    "DriftSignal",
    "GaussianGLR",
    "PageHinkley",
    "RiverDetector",
    "detector_from_dict",
    "make_detector",
]


def make_detector(name: str, reward_kind: str, *, delta: float = 0.01, **params: Any) -> DriftDetector:
    """A fresh detector by name for arms of ``reward_kind`` (``bernoulli`` or ``gaussian``).

    ``delta`` is the false-alarm level of the GLR tests; the other detectors keep their own
    defaults unless ``params`` override them.
    """
    if reward_kind not in REWARD_KINDS:
        raise ValueError(f"unknown reward kind {reward_kind!r}; valid kinds: {', '.join(REWARD_KINDS)}")
    if name == "glr":
        return BernoulliGLR(delta, **params) if reward_kind == "bernoulli" else GaussianGLR(delta, **params)
    if name == "page_hinkley":
        return PageHinkley(**params)
    if name == "adwin":
        return ADWINDetector(**params)
    if name == "river_page_hinkley":
        return RiverDetector("PageHinkley", **params)
    raise ValueError(f"unknown detector {name!r}; valid detectors: {', '.join(DETECTORS)}")


def detector_from_dict(payload: dict[str, Any]) -> DriftDetector:
    """Rebuild a detector from :meth:`DriftDetector.to_dict` (hyperparameters and state)."""
    name = payload.get("detector")
    params = dict(payload.get("params", {}))
    detector: DriftDetector
    if name == "glr_bernoulli":
        detector = BernoulliGLR(**params)
    elif name == "glr_gaussian":
        detector = GaussianGLR(**params)
    elif name == "page_hinkley":
        detector = PageHinkley(**params)
    elif name == "adwin":
        detector = ADWINDetector(**params)
    elif isinstance(name, str) and name.startswith("river_"):
        detector = RiverDetector(**params)
    else:
        valid = "glr_bernoulli, glr_gaussian, page_hinkley, adwin, river_<class>"
        raise ValueError(f"unknown serialised detector {name!r}; valid: {valid}")
    detector.load_state(payload.get("state", {}))
    return detector
