"""The etcd collector against a real etcd 3.4 member with client-certificate auth.

Two real ``watchtower run`` daemons watch the member: one with the right client certificate
(like kubeadm's healthcheck-client), one with a certificate from another CA. Both also probe
the plain-HTTP metrics port (kubeadm's 127.0.0.1:2381 equivalent), which needs no certificate.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.etcd import QUOTA_BYTES, EtcdMember
from tests.support.processes import Samples, WatchtowerDaemon, wait_until
from tests.support.services import require_binary
from watchtower.app import config as config_mod
from watchtower.app.daemon import make_context
from watchtower.collectors.etcd import EtcdCollector

pytestmark = pytest.mark.etcd

INTERVAL = 1.0


def _get(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def _etcd_version() -> str:
    out = subprocess.run([require_binary("etcd"), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split("etcd Version:")[1].split()[0]


def _etcd_config(member: EtcdMember, cert: str, key: str) -> dict:
    return {"collectors": {"etcd": {
        "enabled": True, "interval": f"{INTERVAL}s", "timeout": "950ms", "request_timeout": "800ms",
        "endpoints": [member.client_url, member.metrics_url],
        "ca_file": member.certs.ca_file, "cert_file": cert, "key_file": key,
    }}}


@pytest.mark.slow
def test_healthy_wrong_certificate_and_stopped(tmp_path: Path) -> None:
    with EtcdMember(tmp_path) as member:
        certs = member.certs
        good_cfg = _etcd_config(member, certs.client_cert, certs.client_key)
        wrong_cfg = _etcd_config(member, certs.wrong_cert, certs.wrong_key)
        with WatchtowerDaemon(tmp_path, good_cfg, "wt-good") as good, \
                WatchtowerDaemon(tmp_path, wrong_cfg, "wt-wrong-cert") as wrong:
            # healthy, over mTLS and over the plain metrics port
            samples = good.metrics()
            for endpoint in (member.client_url, member.metrics_url):
                assert _get(samples, "watchtower_etcd_up", endpoint=endpoint) == 1, endpoint
                assert _get(samples, "watchtower_etcd_healthy", endpoint=endpoint) == 1
                assert _get(samples, "watchtower_etcd_has_leader", endpoint=endpoint) == 1
                assert _get(samples, "watchtower_etcd_is_leader", endpoint=endpoint) == 1
                assert _get(samples, "watchtower_etcd_leader_changes_total", endpoint=endpoint) >= 1
                assert _get(samples, "watchtower_etcd_db_quota_bytes", endpoint=endpoint) == QUOTA_BYTES
                assert 0 < _get(samples, "watchtower_etcd_db_size_bytes", endpoint=endpoint) < QUOTA_BYTES
                assert _get(samples, "watchtower_etcd_server_info", endpoint=endpoint, version=_etcd_version()) == 1
            assert _get(samples, "watchtower_collector_errors_total", collector="etcd", reason="tls_bad_certificate") is None

            # a client certificate from another CA: a clear error metric, the daemon carries on
            samples = wrong.metrics()
            assert _get(samples, "watchtower_etcd_up", endpoint=member.client_url) == 0
            assert _get(samples, "watchtower_etcd_probe_error", endpoint=member.client_url,
                        reason="tls_bad_certificate") == 1
            assert _get(samples, "watchtower_collector_success", collector="etcd") == 1
            assert _get(samples, "watchtower_collector_errors_total", collector="etcd", reason="tls_bad_certificate") >= 1
            assert _get(samples, "watchtower_etcd_up", endpoint=member.metrics_url) == 1  # nothing else lost
            assert _get(samples, "watchtower_etcd_has_leader", endpoint=member.metrics_url) == 1
            assert wrong.process.poll() is None

            # etcd stopped: reported down with its reason by both
            member.stop()
            stopped_at = time.monotonic()
            for label, daemon in (("good certificate", good), ("wrong certificate", wrong)):
                def both_down(d: WatchtowerDaemon = daemon) -> bool:  # etcd closes its two listeners one by one
                    samples = d.metrics()
                    return all(_get(samples, "watchtower_etcd_up", endpoint=e) == 0
                               for e in (member.client_url, member.metrics_url))

                seen = wait_until(both_down, INTERVAL + 5, f"etcd down via {label}")
                print(f"\netcd stop visible in /metrics via the {label} daemon: {seen - stopped_at:.2f}s "
                      f"(interval {INTERVAL:g}s)")
                assert seen - stopped_at <= INTERVAL + 1
            samples = good.metrics()
            for endpoint in (member.client_url, member.metrics_url):
                assert _get(samples, "watchtower_etcd_up", endpoint=endpoint) == 0
                assert _get(samples, "watchtower_etcd_probe_error", endpoint=endpoint, reason="connection_refused") == 1
                assert _get(samples, "watchtower_etcd_has_leader", endpoint=endpoint) is None
            assert _get(samples, "watchtower_collector_success", collector="etcd") == 1


def test_member_without_quorum_has_no_leader(tmp_path: Path) -> None:
    """A member of a declared three-member cluster whose peers never come: no leader, unhealthy."""
    with EtcdMember(tmp_path, peers=3) as member:
        config = config_mod.from_mapping(_etcd_config(member, member.certs.client_cert, member.certs.client_key))
        start = time.monotonic()
        result = EtcdCollector(config.collectors["etcd"], make_context(config)).collect()
        took = time.monotonic() - start
    rows = {r["endpoint"]: r for r in result.details.to_json()["endpoints"]}
    metrics_port = rows[member.metrics_url]
    assert (metrics_port["up"], metrics_port["healthy"], metrics_port["has_leader"]) == (True, False, 0.0)
    # the client port is not served before the member joins a quorum: refused, or accepted and
    # never answered -- either way a bounded, reported failure (request_timeout 1s)
    assert rows[member.client_url]["error"]["reason"] in ("connection_refused", "timeout")
    assert took < 2 * 1.0 + 1
    messages = [f.message for f in result.findings if f.subject == member.metrics_url]
    assert any("no leader" in m for m in messages) and any("unhealthy" in m for m in messages)


def test_check_command_exits_2_for_a_member_without_leader(tmp_path: Path) -> None:
    import sys

    import yaml

    from tests.support.processes import REPO, python_env

    with EtcdMember(tmp_path, peers=3) as member:
        config = tmp_path / "check.yaml"
        config.write_text(yaml.safe_dump({"collectors": {"etcd": {
            "enabled": True, "endpoints": [member.metrics_url], "request_timeout": "1s"}}}))
        done = subprocess.run([sys.executable, "-m", "watchtower", "check", "--config", str(config),
                               "--collector", "etcd"], cwd=REPO, env=python_env(), capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith(member.metrics_url))
    assert row.split()[1:4] == ["up", "NO", "NO"], done.stdout  # STATE, HEALTHY, LEADER
    assert "no leader" in done.stdout
