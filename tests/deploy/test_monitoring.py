"""Offline checks of the monitoring config: every metric the alerts and the dashboard use is exposed.

Alert rules that name a metric nobody exports never fire — silently. So the metric names in
``monitoring/alerts.yml`` and ``monitoring/grafana/dashboard.json`` are checked against what the
decision and environment services actually expose (their real Prometheus registries).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from services.decision.app.core.config import Settings
from services.decision.app.main import create_app
from services.environment.app.metrics import EnvMetrics

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
METRIC = re.compile(r"\bbanditops_[a-z_]+")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def base_name(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Base names of every metric family the two services register."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))  # never started: no connection is made
    registries = (app.state.runtime.metrics.registry, EnvMetrics().registry)
    text = "".join(generate_latest(r).decode() for r in registries)
    return {base_name(m) for m in re.findall(r"^# TYPE (\S+) ", text, re.M)}


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alerts_cover_fallbacks_staleness_latency_and_drift(rules: list[dict[str, Any]]) -> None:
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert {"DecisionFallbackRateHigh", "PosteriorStale", "DecisionLatencyP99High", "DriftDetected"} <= alerts
    for rule in rules:
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("page", "warning", "info"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_an_alert_fires_at_80_percent_of_redis_maxmemory(rules: list[dict[str, Any]]) -> None:
    rule = next(r for r in rules if r.get("alert") == "RedisMemoryHigh")
    expr = " ".join(rule["expr"].split())
    assert expr == "max(banditops_redis_used_memory_bytes) / max(banditops_redis_maxmemory_bytes > 0) > 0.8"
    assert rule["labels"]["severity"] == "page"


def test_every_metric_in_alerts_and_dashboard_is_exposed(rules: list[dict[str, Any]], exposed: set[str]) -> None:
    dashboard = (MONITORING / "grafana" / "dashboard.json").read_text()
    used = {base_name(m) for r in rules for m in METRIC.findall(r["expr"])} | {
        base_name(m) for m in METRIC.findall(dashboard)
    }
    assert used, "no metric found: the pattern or the files changed"
    assert used <= exposed, f"not exported by any service: {sorted(used - exposed)}"


def test_recording_rules_used_by_the_dashboard_exist(rules: list[dict[str, Any]]) -> None:
    recorded = {r["record"] for r in rules if "record" in r}
    dashboard = (MONITORING / "grafana" / "dashboard.json").read_text()
    assert set(re.findall(r"banditops:[a-z0-9_:]+", dashboard)) <= recorded


def test_prometheus_scrapes_the_compose_services_and_loads_the_rules() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {"decision": ["decision:8000"], "environment": ["environment:8000"]}
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]
    mounts = compose["prometheus"]["volumes"]
    assert "./monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert compose["prometheus"]["profiles"] == compose["grafana"]["profiles"] == ["monitoring"]


def test_grafana_dashboard_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads((MONITORING / "grafana" / "dashboard.json").read_text())
    provisioning = MONITORING / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert dashboard["uid"] == "banditops-decision" and len(dashboard["panels"]) >= 8
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    provider = yaml.safe_load((provisioning / "dashboards" / "banditops.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
