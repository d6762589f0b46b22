"""Grafana provisioning: an idle reconcile (nothing to write) vs the bare HTTP round trips it needs.

Setup: the test Grafana API server (tests/grafana_api) holding 200 converted alert rules in
20 groups, 10 dashboards, two contact points and the policy, already provisioned. The idle
reconcile must write nothing; its time is compared with a baseline measured in the same run:
the same GET requests (same paths, same count) sent with plain ``requests``, i.e. the floor
any client needs. A second line reports the first provisioning into an empty Grafana.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import requests

from bench.harness import Line, median_seconds
from tests.grafana_api import GrafanaAPIServer
from watchtower.core.settings import Seconds, SecretRef
from watchtower.provisioning import desired, provision
from watchtower.provisioning.settings import GrafanaSettings

GROUPS, RULES_PER_GROUP, DASHBOARDS = 20, 10, 10


def _write_inputs(root: Path) -> tuple[Path, Path]:
    dashboards, alerts = root / "dashboards", root / "alerts"
    dashboards.mkdir()
    alerts.mkdir()
    for d in range(DASHBOARDS):
        panels = [{"type": "timeseries", "title": f"p{p}", "targets": [{"expr": f"metric_{p}", "refId": "A"}]} for p in range(20)]
        (dashboards / f"d{d}.json").write_text(json.dumps({"uid": f"bench-{d}", "title": f"Bench {d}", "panels": panels}))
    lines = ["groups:"]
    for g in range(GROUPS):
        lines += [f"  - name: group-{g}", "    rules:"]
        for r in range(RULES_PER_GROUP):
            lines += [f"      - alert: Alert{g}x{r}", f"        expr: watchtower_bench_{r} == 0", "        for: 5m",
                      "        labels: {severity: warning}",
                      "        annotations: {summary: '{{ $labels.instance }} is {{ $value }}'}"]
    (alerts / "bench.rules.yaml").write_text("\n".join(lines) + "\n")
    return dashboards, alerts


def run() -> list[Line]:
    with tempfile.TemporaryDirectory() as tmp, GrafanaAPIServer() as grafana:
        root = Path(tmp)
        dashboards, alerts = _write_inputs(root)
        (root / "token").write_text(grafana.token)
        (root / "slack").write_text("https://hooks.slack.test/services/bench")
        settings = GrafanaSettings(
            url=grafana.url, token=SecretRef(file=str(root / "token")), dashboards_dir=str(dashboards),
            alerts_dir=str(alerts), email_addresses=("oncall@example.org",), slack_webhook=SecretRef(file=str(root / "slack")),
            request_timeout=Seconds(10),
        )
        objects = len(desired.load(settings).rules) + DASHBOARDS + 4
        memory: dict[str, str] = {}
        start = time.perf_counter()
        first = provision.run(settings, sent_secrets=memory, budget_seconds=0)
        first_seconds = time.perf_counter() - start
        assert first.success, first.errors()
        grafana.clear_log()
        provision.run(settings, sent_secrets=memory, budget_seconds=0)
        gets = [r.path for r in grafana.requests]
        writes = len(grafana.writes())
        idle = median_seconds(lambda: provision.run(settings, sent_secrets=memory, budget_seconds=0), repeat=5)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {grafana.token}"}
        floor = median_seconds(lambda: [session.get(grafana.url + p, headers=headers, timeout=10) for p in gets], repeat=5)
    return [
        Line(f"grafana_idle_reconcile_{objects}_objects", idle * 1000, "ms", floor * 1000, "ms", target="<= 3"),
        Line("grafana_idle_reconcile_writes", float(writes), "requests", target="<= 0", target_on_value=True),
        Line(f"grafana_first_provisioning_{objects}_objects", first_seconds * 1000, "ms"),
    ]
