"""``banditops ope obd --json`` end to end on the real obp wheel (downloaded from PyPI into the cache if absent)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from banditops.cli import main

CACHE = Path(__file__).resolve().parents[2] / "benchmarks" / ".cache" / "obd"
NAMES = ("dm", "ipw", "snipw", "dr", "sndr", "switch_dr", "dros")


def test_ope_obd_json_has_every_estimator_with_finite_estimates(capsys):
    assert main(["ope", "obd", "--json", "--runs", "3", "--cache", str(CACHE)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["ground_truth"] < 1
    assert tuple(report["estimators"]) == NAMES
    for name, r in report["estimators"].items():
        for key in ("estimate", "lo", "hi", "ess"):
            assert math.isfinite(r[key]), (name, key)
        assert 0 <= r["lo"] <= r["estimate"] <= r["hi"] <= 1, name
        assert 0 < r["ess"] <= 10_000
        assert set(r["relative_error"]) == {"mean", "std"}
        assert r["relative_error"]["mean"] >= 0


def test_ope_unknown_dataset_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ope", "yahoo"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
