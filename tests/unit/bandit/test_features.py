"""FeatureHasher: fixed dimension, stable across processes, strict about what it is given."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from banditops.bandit.features import FeatureHasher


def test_layout_intercept_numeric_then_hashed_buckets() -> None:
    hasher = FeatureHasher(numeric=("age", "income"), categorical=("country", "device"), n_buckets=8)
    assert hasher.dim == 1 + 2 + 8
    out = hasher.transform([{"age": 0.25, "income": -2.0, "country": "fr", "device": "ios"}, {"age": 1, "income": 0}])
    assert out[:, :3].tolist() == [[1.0, 0.25, -2.0], [1.0, 1.0, 0.0]]
    # each present categorical adds its signed unit in its own bucket (collisions add up)
    expected = np.zeros(8)
    for name, value in (("country", "fr"), ("device", "ios")):
        column, sign = hasher.bucket(name, value)
        assert sign in (-1.0, 1.0) and 0 <= column < 8
        expected[column] += sign
    assert out[0, 3:].tolist() == expected.tolist()
    assert out[1, 3:].tolist() == [0.0] * 8  # absent categoricals contribute nothing


def test_hash_is_stable_across_processes_with_different_hash_seeds() -> None:
    code = (
        "from banditops.bandit.features import FeatureHasher;"
        "print(FeatureHasher(categorical=('c',), n_buckets=64).transform([{'c': v} for v in 'abcdefgh']).tolist())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    here = FeatureHasher(categorical=("c",), n_buckets=64).transform([{"c": v} for v in "abcdefgh"]).tolist()
    assert outputs.pop().strip() == str(here)


def test_distinct_values_spread_over_buckets() -> None:
    hasher = FeatureHasher(categorical=("item",), n_buckets=16, intercept=False)
    columns = [hasher.bucket("item", f"v{i}")[0] for i in range(1600)]
    counts = np.bincount(columns, minlength=16)
    # 100 expected per bucket; a fair hash stays within ±45 (4.7 sd of a Binomial(1600, 1/16)) in every one
    assert counts.min() >= 55 and counts.max() <= 145


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"age": 1.0, "colour": "red"}, r"unknown features \['colour'\]; valid features are numeric \['age'\]"),
        ({"country": "fr"}, r"numeric features \['age'\] are missing"),
        ({"age": float("nan")}, "numeric feature 'age' must be a finite number; got nan"),
        ({"age": "old"}, "numeric feature 'age' must be a finite number"),
        ({"age": "1.5"}, "numeric feature 'age' must be a finite number; got '1.5'"),  # numpy would take it
        ({"age": True}, "numeric feature 'age' must be a finite number; got True"),
        ({"age": float("-inf")}, "numeric feature 'age' must be a finite number; got -inf"),
        ({"age": 1.0, "country": 33}, "categorical feature 'country' must be a string; got int 33"),
    ],
)
def test_bad_contexts_name_what_is_valid(context: dict[str, object], message: str) -> None:
    hasher = FeatureHasher(numeric=("age",), categorical=("country",), n_buckets=4)
    with pytest.raises(ValueError, match=message):
        hasher.transform([context])  # type: ignore[list-item]


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unique; \['a'\]"):
        FeatureHasher(numeric=("a",), categorical=("a",))
    with pytest.raises(ValueError, match="n_buckets must be an integer >= 1"):
        FeatureHasher(categorical=("a",), n_buckets=0)
    with pytest.raises(ValueError, match="at least one column"):
        FeatureHasher(intercept=False)
