"""A test Grafana API server and provisioner settings pointing at it, with small fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.grafana_api import GrafanaAPIServer
from watchtower.core.settings import Seconds, SecretRef
from watchtower.provisioning.settings import GrafanaSettings

SLACK_SECRET = "https://hooks.slack.test/services/T0WT/B0WT/wt-super-secret-7f3a9c"
TOKEN_ENV = "WT_TEST_GRAFANA_TOKEN"

RULES = """
groups:
  - name: pipeline
    rules:
      - alert: CollectorFailing
        expr: watchtower_collector_success == 0
        for: 15m
        labels: {severity: warning}
        annotations:
          summary: "collector {{ $labels.collector }} failing"
      - alert: CollectorStale
        expr: time() - watchtower_collector_last_success_timestamp_seconds > 3600
        labels: {severity: warning}
        annotations:
          summary: "data is {{ $value | humanizeDuration }} old"
  - name: heartbeat
    rules:
      - alert: Watchdog
        expr: vector(1)
        labels: {severity: info}
"""


def write_fixtures(root: Path) -> tuple[Path, Path]:
    dashboards, alerts = root / "dashboards", root / "alerts"
    dashboards.mkdir()
    alerts.mkdir()
    for uid, title in (("wt-test-overview", "Overview"), ("wt-test-certs", "Certificates")):
        (dashboards / f"{uid}.json").write_text(json.dumps({
            "uid": uid, "title": title, "schemaVersion": 39,
            "panels": [{"type": "stat", "title": "up", "targets": [{"expr": "up", "refId": "A"}]}],
        }))
    (alerts / "pipeline.rules.yaml").write_text(RULES)
    return dashboards, alerts


@pytest.fixture
def grafana() -> Iterator[GrafanaAPIServer]:
    with GrafanaAPIServer() as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
def settings(grafana: GrafanaAPIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GrafanaSettings:
    dashboards, alerts = write_fixtures(tmp_path)
    slack = tmp_path / "slack-webhook"
    slack.write_text(SLACK_SECRET + "\n")
    monkeypatch.setenv(TOKEN_ENV, grafana.token)
    return GrafanaSettings(
        enabled=True, url=grafana.url, token=SecretRef(env=TOKEN_ENV), timeout=Seconds(20),
        request_timeout=Seconds(3), retry_max_delay=Seconds(4),
        dashboards_dir=str(dashboards), alerts_dir=str(alerts), datasource_uid="prom-test",
        email_addresses=("oncall@example.org",), slack_webhook=SecretRef(file=str(slack)),
    )
