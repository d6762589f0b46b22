"""The real daemon keeps a test Grafana provisioned: down at start, restarts empty, stays idempotent.

`watchtower run` in a subprocess, configured with only the `grafana` job (2s interval), against
the test Grafana API server: while Grafana is down the job reports it on /metrics and nothing
crashes; when Grafana comes up everything is provisioned; after an empty restart everything
comes back by itself; runs in between write nothing; no secret reaches the logs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.grafana_api import GrafanaAPIServer
from tests.integration.grafana.conftest import SLACK_SECRET, write_fixtures
from tests.support.services import free_port, wait_for
from watchtower.app.registry import REGISTRY

pytestmark = pytest.mark.slow


def samples(base: str) -> dict[str, float]:
    text = requests.get(f"{base}/metrics", timeout=2).text
    return {s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else ""): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, GrafanaAPIServer, subprocess.Popen[str]]]:
    grafana = GrafanaAPIServer()  # not started: Grafana is down when watchtower starts
    dashboards, alerts = write_fixtures(tmp_path)
    (tmp_path / "token").write_text(grafana.token + "\n")
    (tmp_path / "slack").write_text(SLACK_SECRET + "\n")
    collectors = {name: {"enabled": False} for name in REGISTRY if name != "grafana"}
    collectors["grafana"] = {
        "enabled": True, "interval": "2s", "timeout": "1900ms", "retry_max_delay": "1s", "request_timeout": "1500ms",
        "url": grafana.url, "token_file": str(tmp_path / "token"), "dashboards_dir": str(dashboards),
        "alerts_dir": str(alerts), "email_addresses": ["oncall@example.org"], "slack_webhook_file": str(tmp_path / "slack"),
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"collectors": collectors}))
    port = free_port()
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--config", str(config),
                             "--listen", f"127.0.0.1:{port}", "--log-level", "debug"],
                            cwd=tmp_path, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 15, what="daemon up")
        yield base, grafana, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            grafana.stop()
            log.close()
        text = (tmp_path / "daemon.log").read_text()
        assert SLACK_SECRET not in text and grafana.token not in text, "a secret reached the daemon's log"


def test_daemon_provisions_restores_and_stays_idempotent(daemon: tuple[str, GrafanaAPIServer, subprocess.Popen[str]]) -> None:
    base, grafana, proc = daemon
    down = wait_for(lambda: (m := samples(base)).get("watchtower_grafana_up") == 0 and m, 15, what="grafana down reported")
    assert down["watchtower_grafana_provision_success"] == 0
    assert down["watchtower_collector_errors_total{collector=grafana,reason=unreachable}"] >= 1
    assert proc.poll() is None, "the daemon must survive an unreachable Grafana"

    started = time.monotonic()
    grafana.up()
    wait_for(lambda: samples(base).get("watchtower_grafana_provision_success") == 1, 15, what="first provisioning")
    first_seconds = time.monotonic() - started
    assert len(grafana.state.rules) == 3 and len(grafana.state.dashboards) == 2
    assert "wt-slack" in grafana.state.contact_points

    grafana.restart_empty()
    restarted = time.monotonic()
    wait_for(lambda: len(grafana.state.rules) == 3 and len(grafana.state.dashboards) == 2
             and grafana.state.policy["receiver"] == "watchtower", 15, what="restore after an empty restart")
    restore_seconds = time.monotonic() - restarted

    before = samples(base)["watchtower_grafana_last_provision_timestamp_seconds"]
    wait_for(lambda: samples(base)["watchtower_grafana_last_provision_timestamp_seconds"] > before, 15, what="next run")
    grafana.clear_log()
    stamp = samples(base)["watchtower_grafana_last_provision_timestamp_seconds"]
    wait_for(lambda: samples(base)["watchtower_grafana_last_provision_timestamp_seconds"] > stamp, 15, what="idle run")
    assert grafana.writes() == [], "an idle run must not write"
    assert samples(base)["watchtower_grafana_provision_objects{kind=alert-rule,state=unchanged}"] == 3
    print(f"\nfirst provisioning {first_seconds:.1f}s after Grafana came up; restored {restore_seconds:.1f}s after an empty restart")
