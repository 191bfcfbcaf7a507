"""What a contextual experiment's linear model is: its user features, arm features and prior.

One spec, stored in the experiment's config, is read by every party that touches a context — the
decision service hashes a request's context with it, the agents fold the logged vectors with its
dimensions, and the posterior is built with its ridge and scale — so a context can never be encoded
one way at decision time and another way when it is learned.

The user part is :class:`~banditops.bandit.features.FeatureHasher`'s encoding (an intercept, the
numeric features in order, ``n_buckets`` signed hashed columns for the categorical ones): the
*disjoint* weights ``θ_a``. ``arm_features`` names the numeric features each candidate arm may
carry (the action-dependent features of Vowpal Wabbit's ADF); with any, the model gains weights
``β`` shared by all arms over those features (the *shared* part of
:class:`~banditops.bandit.posteriors.linear_gaussian.LinearGaussianStats`).

Why the exploration width has a fixed default (0.15) and is not the posterior's own noise
estimate: see :data:`~banditops.bandit.posteriors.linear_gaussian.DEFAULT_SCALE` (Agrawal &
Goyal's width is proportional to the noise with a worst-case constant; the constant was chosen
on held-out seeds of the contextual world, never per benchmark seed). An experiment may
override ``ridge`` and ``scale``; the simulator's LinTS uses the same defaults.

Examples
--------
>>> spec = ContextModelSpec.from_dict({"numeric": ["age"], "categorical": ["country"], "n_buckets": 4})
>>> spec.dim, spec.shared_dim
(6, 0)
>>> spec.encode([{"age": 0.5, "country": "fr"}]).tolist()
[[1.0, 0.5, -1.0, 0.0, 0.0, 0.0]]
>>> ContextModelSpec.from_dict({"numeric": ["age"], "colour": 1})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown context-model keys ['colour']; valid keys: numeric, categorical, n_buckets, ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from banditops.bandit.features import ContextValue, FeatureHasher
from banditops.bandit.posteriors.linear_gaussian import DEFAULT_RIDGE, DEFAULT_SCALE

_KEYS = ("numeric", "categorical", "n_buckets", "arm_features", "ridge", "scale")


@dataclass(frozen=True)
class ContextModelSpec:
    """User features (numeric + hashed categorical), arm features, and the prior of LinTS."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    n_buckets: int = 16
    arm_features: tuple[str, ...] = ()
    #: ``λ`` of the prior precision ``λI`` (ridge penalty).
    ridge: float = DEFAULT_RIDGE
    #: ``v``, the width of Thompson draws (posterior covariance ``v² P⁻¹``); see the module docstring.
    scale: float = DEFAULT_SCALE
    hasher: FeatureHasher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("ridge", "scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"context model {name} must be a finite number > 0; got {value!r}")
        names = list(self.arm_features)
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"arm_features must be distinct non-empty names; got {names!r}")
        object.__setattr__(self, "hasher", FeatureHasher(self.numeric, self.categorical, self.n_buckets))

    @property
    def dim(self) -> int:
        """``d``: columns of an encoded user context (intercept included)."""
        return self.hasher.dim

    @property
    def shared_dim(self) -> int:
        """``k``: arm features (0: the disjoint model only)."""
        return len(self.arm_features)

    def encode(self, contexts: Sequence[Mapping[str, ContextValue]]) -> np.ndarray:
        """Encode context dicts as ``(n, dim)``; ``ValueError`` naming what is valid."""
        return self.hasher.transform(contexts)

    def check_vector(self, vector: Sequence[float]) -> np.ndarray:
        """A client-encoded context vector, checked: length ``dim``, finite numbers."""
        values = list(vector)
        if len(values) != self.dim:
            raise ValueError(f"a context vector must have d={self.dim} numbers ({self.describe()}); got {len(values)}")
        array = np.asarray(values, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ValueError(f"context vector entry {int(np.flatnonzero(~np.isfinite(array))[0])} is not a finite "
                             "number (NaN/inf is not a feature)")
        return array

    def encode_arm(self, features: Mapping[str, float], arm: int | str) -> np.ndarray:
        """One candidate arm's features as a ``(shared_dim,)`` vector, every named feature required
        (``arm``, its index or name, only names it in the error messages)."""
        unknown = sorted(set(features) - set(self.arm_features))
        missing = [n for n in self.arm_features if n not in features]
        if unknown or missing:
            raise ValueError(f"candidate arm {arm!r}: arm features must be exactly {list(self.arm_features)}; "
                             + (f"unknown {unknown}" if unknown else f"missing {missing}"))
        out = np.empty(self.shared_dim)
        for j, name in enumerate(self.arm_features):
            value = features[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"candidate arm {arm!r}: arm feature {name!r} must be a finite number; got {value!r}")
            out[j] = float(value)
        return out

    def describe(self) -> str:
        """The encoding in words, for error messages."""
        parts = ["1 intercept"]
        if self.numeric:
            parts.append(f"numeric {list(self.numeric)}")
        if self.categorical:
            parts.append(f"{self.n_buckets} hashed columns for categorical {list(self.categorical)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical), "n_buckets": self.n_buckets,
                "arm_features": list(self.arm_features), "ridge": self.ridge, "scale": self.scale}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ContextModelSpec:
        if not isinstance(payload, Mapping):
            raise ValueError(f"a context model is a dict with keys {', '.join(_KEYS)}; got {type(payload).__name__}")
        unknown = sorted(set(payload) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown context-model keys {unknown}; valid keys: {', '.join(_KEYS)}")
        kwargs: dict[str, Any] = {}
        for name in ("numeric", "categorical", "arm_features"):
            value = payload.get(name, ())
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise ValueError(f"context model {name} must be a list of feature names; got {value!r}")
            kwargs[name] = tuple(value)
        for name in ("n_buckets", "ridge", "scale"):
            if name in payload:
                kwargs[name] = payload[name]
        return cls(**kwargs)
