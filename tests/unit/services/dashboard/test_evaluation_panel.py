"""The dashboard's evaluation panel renders the summary the gate task keeps (no browser: see tests/browser)."""

from __future__ import annotations

import json
import time
from typing import Any

from services.dashboard.app.callbacks import evaluation_children
from services.dashboard.app.sources import DashboardData


def _text(node: Any) -> str:
    if isinstance(node, str | int | float):
        return str(node)
    children = getattr(node, "children", None)
    if children is None:
        return ""
    return " ".join(_text(c) for c in (children if isinstance(children, list) else [children]))


def test_the_panel_shows_each_policy_and_the_gate_decision() -> None:
    summary = {"ts": time.time(), "n_rows": 1500, "gate_estimator": "dros", "margin": 0.05, "promoted": True,
               "policies": {"live": {"estimate": 0.24, "lo": 0.21, "hi": 0.27},
                            "always_7": {"estimate": 0.69, "lo": 0.66, "hi": 0.72}},
               "decision": {"candidate": "always_7", "candidate_lo": 0.66, "live_estimate": 0.24, "margin": 0.05,
                            "promote": True}}  # fmt: skip
    text = " ".join(_text(c) for c in evaluation_children(DashboardData(0.0, meta={"last_evaluation":
                                                                                  json.dumps(summary)})))
    assert "0.690 [0.660, 0.720]" in text and "0.240 [0.210, 0.270]" in text
    assert "Gate: promoted always_7" in text and "1500 logged decisions" in text


def test_without_an_evaluation_the_panel_says_how_to_get_one() -> None:
    text = " ".join(_text(c) for c in evaluation_children(DashboardData(0.0)))
    assert "trigger bandit_policy_evaluation" in text
