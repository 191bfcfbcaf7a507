"""Which arms a policy may still choose: every arm except the retired ones.

Retiring an arm (a banner taken down) must never shrink the posterior — its totals stay in
the store for the record — so policies take ``retired`` as a set of indices and mask it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from banditops.bandit.validators import is_integer


def active_mask(n_arms: int, retired: Iterable[int] = ()) -> np.ndarray:
    """Boolean mask of the arms that are not retired, shape ``(n_arms,)``.

    Raises ``ValueError`` if a retired index is not an arm or if every arm is retired.

    Examples
    --------
    >>> active_mask(4, retired=[1, 3]).tolist()
    [True, False, True, False]
    """
    if not is_integer(n_arms) or n_arms < 1:
        raise ValueError(f"n_arms must be an integer >= 1; got {n_arms!r}")
    mask = np.ones(int(n_arms), dtype=bool)
    for arm in retired:
        if not is_integer(arm) or not 0 <= arm < n_arms:
            raise ValueError(f"retired arm {arm!r} is not an arm; valid arms are 0..{n_arms - 1}")
        mask[int(arm)] = False
    if not mask.any():
        raise ValueError(f"all {n_arms} arms are retired; at least one arm must stay active")
    return mask
