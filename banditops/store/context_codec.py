"""Compact text for context vectors in decision records: base64 of little-endian float32.

A decision made with a context must carry that context to its feedback (the fold learns from
it) and to the decision log (off-policy evaluation re-scores it), yet a record per decision is
the store's biggest memory cost. The encoded vector — what the model saw, after hashing — is
stored instead of the raw request: ``d`` float32 values are ``4·d`` bytes, 108 characters of
base64 for d = 20 (the JSON text of the same floats is about 200). float32 keeps 7 significant
digits: far below any feature's noise, and the fold learns from exactly the stored numbers.

Examples
--------
>>> text = encode_vector([1.0, 0.5, -2.25])
>>> text, decode_vector(text).tolist()
('AACAPwAAAD8AABDA', [1.0, 0.5, -2.25])
>>> decode_vector("not base64!")
Traceback (most recent call last):
...
ValueError: a stored context must be base64 of float32 values; got 'not base64!'
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import numpy as np


def encode_vector(values: Sequence[float] | np.ndarray) -> str:
    """``values`` as base64 of ``<f4`` (the compact form kept in decision records)."""
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    """The float64 vector of :func:`encode_vector`'s text; ``ValueError`` for anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a stored context must be base64 of float32 values; got {text[:40]!r}") from None
    if len(raw) % 4:
        raise ValueError(f"a stored context must be base64 of float32 values; got {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)
