"""Certificate alerts end to end: a kubeadm tree on disk and a stale apiserver → ``watchtower run``
→ a real Prometheus with alerts/certs.rules.yaml (every ``for:`` set to 0s; promtool tests the
durations). Broken things fire for the right certificate, healthy ones stay quiet, and a
renewal resolves the alert at the next collection.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.support.kubeadm_pki import KubeadmPKI, issue, utcnow
from tests.support.processes import WatchtowerDaemon
from tests.support.promstack import ALERTS, Prometheus, rules_without_for
from tests.support.tls_servers import TLSServer

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def firing(prometheus: Prometheus) -> set[tuple[str, str]]:
    """(alertname, name-or-SAN) of every firing certs alert."""
    return {(a["labels"]["alertname"], a["labels"].get("name") or a["labels"].get("endpoint", ""))
            for a in prometheus.alerts() if a["state"] == "firing"}


def test_certificate_alerts_fire_and_resolve(tmp_path: Path) -> None:
    now = utcnow()
    tree = KubeadmPKI.build(tmp_path / "node", vip=None, not_after={
        "apiserver-etcd-client": now - datetime.timedelta(days=2),  # expired
        "front-proxy-client": now + datetime.timedelta(days=20),  # 1-year cert, 20 days left: warning
        "etcd/peer": now + datetime.timedelta(days=3),  # critical
    })
    apiserver = tree.issued["apiserver"]
    stale = issue("kube-apiserver", tree.issued["ca"], key=apiserver.key, server=True, days=30, sans=["127.0.0.1"])
    with TLSServer(tmp_path / "stale", stale.cert_pem, apiserver.key_pem) as served:
        config = {
            "control_plane": {"endpoint": "k8s-api.example.test:6443", "vips": ["198.51.100.10"]},
            "collectors": {"certs": {"interval": "1s", "kubeadm_root": str(tree.root),
                                     "kubelet_pki_dir": str(tree.kubelet_dir),
                                     "apiserver_endpoints": [served.address]}},
        }
        with WatchtowerDaemon(tmp_path, config) as daemon:
            rules = rules_without_for(tmp_path / "rules", [ALERTS / "certs.rules.yaml"])
            prometheus = Prometheus(tmp_path / "prometheus", {"watchtower": [f"127.0.0.1:{daemon.port}"]}, rules)
            prometheus.start_and_wait()
            try:
                prometheus.wait_for_up("watchtower")
                expected = {
                    ("CertificateExpired", "apiserver-etcd-client"),
                    ("CertificateExpiringSoon", "front-proxy-client"),
                    ("CertificateExpiringCritical", "etcd/peer"),
                    ("CertificateServedDiffersFromDisk", served.address),
                    ("ApiserverCertificateSANMissesVIP", "198.51.100.10"),
                }
                seen = prometheus.wait_until(lambda: firing(prometheus) >= expected and firing(prometheus),
                                             30, "the five certificate alerts")
                assert seen == expected  # and nothing else: the 14 healthy certificates stay quiet

                renewed = issue("kube-apiserver-etcd-client", tree.issued["etcd/ca"], client=True,
                                key=tree.issued["apiserver-etcd-client"].key)
                (tree.pki / "apiserver-etcd-client.crt").write_bytes(renewed.cert_pem)
                prometheus.wait_until(
                    lambda: ("CertificateExpired", "apiserver-etcd-client") not in firing(prometheus), 30,
                    "CertificateExpired to resolve after the renewal")
                assert ("CertificateExpiringCritical", "etcd/peer") in firing(prometheus)
            finally:
                prometheus.stop()
