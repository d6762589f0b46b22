"""HAProxy and etcd alerts end to end: real HAProxy and etcd → ``watchtower run`` → real Prometheus.

Prometheus loads alerts/haproxy-etcd.rules.yaml with every ``for:`` set to 0s (the long
``for:`` durations are tested by promtool) and scrapes watchtower every 250ms. A backend is
killed, then all of them; etcd is stopped; a second etcd member never gets a leader. Each
alert must fire for the right subject with the right reason, and stay quiet before.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.etcd import EtcdMember
from tests.support.haproxy import HAProxyLab
from tests.support.processes import WatchtowerDaemon
from tests.support.promstack import ALERTS, Prometheus, rules_without_for, wait_for_value

pytestmark = [pytest.mark.haproxy, pytest.mark.etcd, pytest.mark.prometheus, pytest.mark.slow]

OUR_ALERTS = {"HAProxyBackendServerDown", "HAProxyBackendNoServersUp", "HAProxyStatsUnavailable", "EtcdDown",
              "EtcdNoLeader", "EtcdDatabaseNearQuota", "EtcdFrequentLeaderChanges"}


def firing(prometheus: Prometheus, name: str) -> list[dict[str, str]]:
    return [a["labels"] for a in prometheus.alerts() if a["labels"]["alertname"] == name and a["state"] == "firing"]


def wait_firing(prometheus: Prometheus, name: str, since: float, timeout: float = 15, **labels: str) -> dict[str, str]:
    def match() -> dict[str, str] | None:
        return next((a for a in firing(prometheus, name) if all(a.get(k) == v for k, v in labels.items())), None)

    alert = prometheus.wait_until(match, timeout, f"{name} {labels} firing")
    print(f"\n{name} firing in Prometheus {time.monotonic() - since:.2f}s after the event ({labels})")
    return alert


def test_haproxy_and_etcd_alerts_fire_from_real_services(tmp_path: Path) -> None:
    for name in ("haproxy", "etcd", "etcd-noleader"):
        (tmp_path / name).mkdir()
    with HAProxyLab(tmp_path / "haproxy") as lab, EtcdMember(tmp_path / "etcd") as member, \
            EtcdMember(tmp_path / "etcd-noleader", peers=3) as lonely:
        config = {"collectors": {
            "haproxy": {"enabled": True, "interval": "1s", "stats_socket": str(lab.socket_path)},
            "etcd": {"enabled": True, "interval": "1s", "request_timeout": "500ms",
                     "endpoints": [member.client_url, lonely.metrics_url],
                     "ca_file": member.certs.ca_file, "cert_file": member.certs.client_cert,
                     "key_file": member.certs.client_key},
        }}
        with WatchtowerDaemon(tmp_path, config) as daemon:
            rules = rules_without_for(tmp_path / "rules", [ALERTS / "haproxy-etcd.rules.yaml"])
            prometheus = Prometheus(tmp_path / "prometheus", {"watchtower": [f"127.0.0.1:{daemon.port}"]}, rules)
            prometheus.start_and_wait()
            try:
                prometheus.wait_for_up("watchtower")
                wait_for_value(prometheus, "count(watchtower_haproxy_server_up == 1) == 3", 15)
                wait_for_value(prometheus, f'watchtower_etcd_has_leader{{endpoint="{member.client_url}"}} == 1', 15)
                # quiet while healthy; the lonely member has no leader from the start
                wait_firing(prometheus, "EtcdNoLeader", time.monotonic(), endpoint=lonely.metrics_url)
                active = {a["labels"]["alertname"] for a in prometheus.alerts()} & OUR_ALERTS
                assert active == {"EtcdNoLeader"}, prometheus.alerts()
                assert [a["endpoint"] for a in firing(prometheus, "EtcdNoLeader")] == [lonely.metrics_url]

                lab.kill_backend(1)
                alert = wait_firing(prometheus, "HAProxyBackendServerDown", time.monotonic(), server="apiserver2")
                assert (alert["check_status"], alert["proxy"], alert["severity"]) == ("L4CON", "apiservers", "warning")
                assert not firing(prometheus, "HAProxyBackendNoServersUp")

                killed = time.monotonic()
                lab.kill_backend(0)
                lab.kill_backend(2)
                wait_firing(prometheus, "HAProxyBackendNoServersUp", killed, proxy="apiservers")
                assert {a["server"] for a in firing(prometheus, "HAProxyBackendServerDown")} >= {"apiserver2"}

                member.stop()
                alert = wait_firing(prometheus, "EtcdDown", time.monotonic(), endpoint=member.client_url)
                assert (alert["reason"], alert["severity"]) == ("connection_refused", "critical")
                assert not firing(prometheus, "HAProxyStatsUnavailable")
            finally:
                prometheus.stop()
