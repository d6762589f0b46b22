"""GrafanaObjectEditedOutsideCode from a real watchtower, evaluated by a real Prometheus.

``watchtower run`` provisions the test Grafana every second (only the ``grafana`` job, default
``on_drift: backup`` with a ``backup_dir``); someone edits a dashboard in the UI as another user;
Prometheus scrapes watchtower and evaluates a copy of alerts/grafana.rules.yaml with ``for: 0s``
(the 5m ``for:`` is promtool's job). The alert fires with the dashboard's uid and title, code's
version is back in Grafana, and once the edit is discarded (backup file and copy dashboard
deleted) the alert resolves.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.grafana_api import GrafanaAPIServer
from tests.grafana_api.ui import find_panel
from tests.integration.grafana.conftest import write_fixtures
from tests.support.processes import WatchtowerDaemon
from tests.support.promstack import ALERTS, Prometheus, rules_without_for
from watchtower.app.registry import REGISTRY

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
UID = "wt-test-certs"


def test_edit_outside_code_fires_and_resolves(tmp_path: Path) -> None:
    dashboards, alerts = write_fixtures(tmp_path)
    backups = tmp_path / "backups"
    with GrafanaAPIServer() as grafana:
        (tmp_path / "token").write_text(grafana.token + "\n")
        config = {"collectors": {
            **{name: {"enabled": False} for name in REGISTRY if name != "grafana"},
            "grafana": {"enabled": True, "interval": "1s", "timeout": "900ms", "request_timeout": "800ms",
                        "retry_max_delay": "1s", "url": grafana.url, "token_file": str(tmp_path / "token"),
                        "dashboards_dir": str(dashboards), "alerts_dir": str(alerts), "datasource_uid": "prom-test",
                        "backup_dir": str(backups), "state_file": str(tmp_path / "grafana-state.json")},
        }}
        rules = rules_without_for(tmp_path / "rules", [ALERTS / "grafana.rules.yaml"])
        with WatchtowerDaemon(tmp_path, config) as daemon:
            prometheus = Prometheus(tmp_path / "prometheus", {"watchtower": [daemon.url.removeprefix("http://")]},
                                    rule_files=rules, target_labels={"cluster": "e2e-drift"})
            prometheus.start_and_wait()
            try:
                prometheus.wait_for_up("watchtower")
                prometheus.wait_until(lambda: prometheus.query(f'watchtower_grafana_drift{{uid="{UID}"}} == 0'), 20,
                                      "dashboard provisioned and tracked, no drift")

                def edit(model: dict) -> None:
                    find_panel(model, "up")["title"] = "up (fixed at 3 a.m.)"

                grafana.ui_edit_dashboard(UID, edit, login="oncall")
                edited = time.monotonic()

                def firing() -> list[dict]:
                    return [a for a in prometheus.alerts()
                            if a["labels"]["alertname"] == "GrafanaObjectEditedOutsideCode" and a["state"] == "firing"]

                (alert,) = prometheus.wait_until(firing, 30, "GrafanaObjectEditedOutsideCode firing")
                fired_after = time.monotonic() - edited
                assert alert["labels"]["uid"] == UID and alert["labels"]["kind"] == "dashboard"
                assert alert["labels"]["title"] == "Certificates" and alert["labels"]["cluster"] == "e2e-drift"
                assert 'dashboard "Certificates" was edited outside code' in alert["annotations"]["summary"]
                since = prometheus.query(f'watchtower_grafana_drift_since_timestamp_seconds{{uid="{UID}"}}')
                assert since and float(since[0]["value"][1]) > 0

                status, body = daemon._get("/api/status")
                (row,) = json.loads(body)["details"]["grafana"]["drift"]
                assert status == 200 and (row["uid"], row["by"]) == (UID, "oncall")
                status, page = daemon._get("/")
                assert status == 200 and "oncall" in page and "edited outside code" in page
                # code's version is back; the edit is kept in a backup file and a copy dashboard
                assert find_panel(grafana.state.dashboards[UID]["dashboard"], "up")
                (backup,) = backups.glob(f"dashboard/{UID}/*.json")
                saved = json.loads(backup.read_text())
                assert saved["updated_by"] == "oncall" and find_panel(saved["model"], "up (fixed at 3 a.m.)")
                (copy_uid,) = [u for u in grafana.state.dashboards if u not in (UID, "wt-test-overview")]

                # discarded: the file and the copy go; the drift and the alert resolve
                backup.unlink()
                discarded = time.monotonic()
                grafana.ui_request("DELETE", f"/api/dashboards/uid/{copy_uid}", login="oncall")
                prometheus.wait_until(lambda: prometheus.query(f'watchtower_grafana_drift{{uid="{UID}"}} == 0'), 20,
                                      "drift resolved")
                prometheus.wait_until(lambda: not firing(), 20, "GrafanaObjectEditedOutsideCode resolved")
                print(f"\nfiring {fired_after:.1f}s after the UI edit (1s interval, for: 0s); "
                      f"resolved {time.monotonic() - discarded:.1f}s after the backup was discarded")
            finally:
                prometheus.stop()
