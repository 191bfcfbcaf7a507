"""The names of the detectors and policies, importable without numpy or scipy.

Why a module of its own: an :class:`~banditops.store.types.ExperimentConfig` checks its policy name
wherever it is built (the decision service, the dashboard, a CLI), and that check must not import
the maths. :mod:`banditops.bandit.drift` and :mod:`banditops.bandit.policies.registry` take their
names from here, so there is one list.

>>> check_policy("system:adwin")
'system:adwin'
"""

from __future__ import annotations

DETECTORS: tuple[str, ...] = ("glr", "page_hinkley", "adwin", "river_page_hinkley")
POLICY_BASES: tuple[str, ...] = ("system", "ts")
POLICIES: tuple[str, ...] = ("system", "ts", *(f"{b}:{d}" for b in POLICY_BASES for d in DETECTORS))


def check_policy(spec: str) -> str:
    """``spec`` if it names a policy, else ``ValueError`` naming the valid ones."""
    base, _, detector = str(spec).partition(":")
    if base not in POLICY_BASES or (detector and detector not in DETECTORS):
        raise ValueError(f"unknown policy {spec!r}; valid policies: {', '.join(POLICIES)}")
    return str(spec)
