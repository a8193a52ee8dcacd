"""The observability profile: Prometheus scrapes every service, Grafana is provisioned,
and every metric the dashboard and the alerts query is one Herald really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import herald.kit.metrics  # noqa: F401 - registers every Herald metric
from tests.compose.test_compose_files import ROOT, resolved

METRIC = re.compile(r"\bherald_[a-z_]+")


def exported() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


@pytest.fixture(scope="module")
def observed(env_file: Path) -> dict[str, Any]:
    return resolved("compose.yaml", env=env_file, profiles=("observability",))


class TestObservabilityProfile:
    def test_prometheus_and_grafana_only_with_the_profile(
        self, observed: dict[str, Any], env_file: Path
    ) -> None:
        assert {"prometheus", "grafana"} <= set(observed["services"])
        plain = resolved("compose.yaml", env=env_file)
        assert not {"prometheus", "grafana"} & set(plain["services"])
        assert observed["services"]["prometheus"]["networks"].keys() == {"backend"}

    def test_prometheus_scrapes_every_service(self) -> None:
        config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
        targets = {
            (d["names"][0], d["port"])
            for job in config["scrape_configs"]
            for d in job["dns_sd_configs"]
        }
        assert targets == {
            ("gateway", 8000),
            ("users", 8001),
            ("templates", 8002),
            ("email-worker", 8003),
            ("push-worker", 8004),
            ("webhook-worker", 8005),
            ("chat-worker", 8007),
            ("in-app-worker", 8008),
        }

    def test_dashboard_and_alerts_query_metrics_herald_exports(self) -> None:
        dashboard = json.loads((ROOT / "deploy/grafana/dashboards/herald.json").read_text())
        queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
        queries += [r["expr"] for g in alerts["groups"] for r in g["rules"]]
        used = {name for q in queries for name in METRIC.findall(q)}
        assert used, "no Herald metric queried"
        assert used <= exported(), used - exported()
        wanted = {
            "herald_queue_depth",
            "herald_queue_wait_seconds_bucket",
            "herald_outbox_backlog",
            "herald_circuit_breaker_open",
            "herald_rate_limited_total",
            "herald_delivery_attempts_total",
            "herald_webhook_attempts_total",
            "herald_webhook_duration_seconds_bucket",
        }
        assert wanted <= used
