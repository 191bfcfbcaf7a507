"""Context dicts to fixed-length vectors: numeric features in place, categorical ones hashed.

A linear model needs a vector of a fixed dimension ``d``, but a user's context arrives as a dict
like ``{"age": 0.3, "country": "fr", "device": "ios"}`` whose categorical values are open-ended
(new countries, new devices). Feature hashing (Weinberger et al. 2009, the scheme of
scikit-learn's ``FeatureHasher`` and of Vowpal Wabbit) maps each ``"name=value"`` token to one
of ``n_buckets`` columns with a sign drawn from the same hash, so the dimension never grows, a
value never seen before needs no vocabulary update, and collisions cancel out in expectation.

Why blake2b and not Python's ``hash``: ``hash(str)`` is salted per process, so two decision
replicas (or an agent and the decision service) would hash the same value to different
columns. A keyed-free cryptographic digest is stable across processes, machines and versions.

Why strict: a numeric feature missing, a name nobody declared, a NaN or a categorical value
that is not a string is refused with a ``ValueError`` naming what is valid — a silently zeroed
feature would bias the posterior for every later user.

References
----------
.. [1] K. Weinberger, A. Dasgupta, J. Langford, A. Smola and J. Attenberg, "Feature hashing for
   large scale multitask learning", ICML 2009.

Examples
--------
>>> hasher = FeatureHasher(numeric=("age",), categorical=("country",), n_buckets=4)
>>> hasher.dim
6
>>> hasher.transform([{"age": 0.5, "country": "fr"}, {"age": -1.0}]).tolist()
[[1.0, 0.5, -1.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.0, 0.0, 0.0, 0.0]]
>>> hasher.transform([{"age": float("nan")}])
Traceback (most recent call last):
...
ValueError: context 0: numeric feature 'age' must be a finite number; got nan
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from banditops.bandit.validators import is_integer

ContextValue = float | int | str


class FeatureHasher:
    """Encode context dicts as ``[1 (intercept)] + numeric + n_buckets hashed categorical columns``.

    Parameters
    ----------
    numeric : sequence of str
        Names of the required numeric features, in column order.
    categorical : sequence of str
        Names of the optional categorical features; their string values are hashed.
    n_buckets : int
        Columns shared by all hashed ``"name=value"`` tokens (0 when there are no categoricals).
    intercept : bool
        Prepend a constant 1 column, so each arm learns its own base rate.
    """

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        n_buckets: int = 16,
        *,
        intercept: bool = True,
    ) -> None:
        names = [*numeric, *categorical]
        if any(not isinstance(n, str) or not n for n in names):
            raise ValueError(f"feature names must be non-empty strings; got {names!r}")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"feature names must be unique; {duplicated} appear more than once")
        if not is_integer(n_buckets) or n_buckets < (1 if categorical else 0):
            raise ValueError(f"n_buckets must be an integer >= {1 if categorical else 0}; got {n_buckets!r}")
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.n_buckets = n_buckets if categorical else 0
        self.intercept = bool(intercept)
        self._valid = frozenset(names)
        self._numeric_set = frozenset(self.numeric)
        if self.dim < 1:
            raise ValueError("a context encoding needs at least one column: an intercept, a numeric or a categorical")

    @property
    def dim(self) -> int:
        """Length of every encoded vector."""
        return int(self.intercept) + len(self.numeric) + self.n_buckets

    def bucket(self, name: str, value: str) -> tuple[int, float]:
        """The column (counted from the first hashed column) and sign of one categorical token."""
        digest = int.from_bytes(hashlib.blake2b(f"{name}={value}".encode(), digest_size=8).digest(), "little")
        return digest % self.n_buckets, (-1.0 if digest >> 63 else 1.0)

    def transform(self, contexts: Sequence[Mapping[str, ContextValue]]) -> np.ndarray:
        """Encode ``contexts`` as an (n, dim) float64 array; ``ValueError`` names what is valid."""
        out = np.zeros((len(contexts), self.dim))
        valid = self._valid
        offset = int(self.intercept)
        hashed = offset + len(self.numeric)
        for i, context in enumerate(contexts):
            if not isinstance(context, Mapping):
                raise ValueError(f"context {i} must be a dict of feature name -> value; got {type(context).__name__}")
            keys = context.keys()
            if not valid.issuperset(keys):  # set checks first: the error lists are built only on refusal
                raise ValueError(f"context {i}: unknown features {sorted(set(keys) - valid)}; valid features are "
                                 f"numeric {list(self.numeric)} and categorical {list(self.categorical)}")
            if not self._numeric_set <= keys:
                missing = [n for n in self.numeric if n not in context]
                raise ValueError(f"context {i}: numeric features {missing} are missing; every context needs "
                                 f"{list(self.numeric)}")
            row = out[i]
            if self.intercept:
                row[0] = 1.0
            values = [context[name] for name in self.numeric]
            if all(isinstance(v, float) and math.isfinite(v) for v in values):
                row[offset:hashed] = values  # the common case: one slice assignment, no per-value ABC checks
            else:
                for j, (name, value) in enumerate(zip(self.numeric, values, strict=True)):
                    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                        raise ValueError(f"context {i}: numeric feature {name!r} must be a finite number; "
                                         f"got {value!r}")
                    row[offset + j] = float(value)
            for name in self.categorical:
                if name not in context:
                    continue
                value = context[name]
                if not isinstance(value, str):
                    raise ValueError(f"context {i}: categorical feature {name!r} must be a string; "
                                     f"got {type(value).__name__} {value!r}")
                column, sign = self.bucket(name, value)
                row[hashed + column] += sign
        return out
