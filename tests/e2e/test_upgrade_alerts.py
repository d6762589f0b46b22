"""The upgrade and node alerts from a real watchtower, evaluated by a real Prometheus 2.42.

``watchtower run`` reads the test kube-apiserver (versions, nodes, kubeadm-config) and a
kubeadm file tree whose last upgrade was 110 days ago and whose admin.conf expires in 5 days;
Prometheus scrapes it and evaluates copies of alerts/{upgrade,nodes}.rules.yaml with ``for: 0s``
(the long ``for:`` durations and the four-month timeline are promtool's job). The test checks
that the exporter's names and labels meet the rules, and that the descriptions Prometheus
renders (with ``query`` against its own TSDB) carry the facts on-call needs.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.kubeapi import KubeAPIServer
from tests.support.kubeadm_tree import UTC, KubeadmTree
from tests.support.processes import WatchtowerDaemon
from tests.support.promstack import ALERTS, Prometheus, rules_without_for
from watchtower.upgrades.policy import add_months

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def _date(moment: datetime.datetime) -> str:
    """How Prometheus' humanizeTimestamp prints a moment (whole seconds here)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def test_upgrade_and_node_alerts_fire_with_their_facts(tmp_path: Path) -> None:
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    backup = now - datetime.timedelta(days=110)
    admin_expires = now + datetime.timedelta(days=5)
    tree = KubeadmTree(tmp_path / "etc-kubernetes", datetime.datetime(2022, 1, 1, tzinfo=UTC))
    tree.control_plane(backup)
    tree.kubeconfig("admin.conf", admin_expires - datetime.timedelta(days=365))
    tree.backup(backup)

    with KubeAPIServer(tmp_path / "api") as api:
        api.set_version("v1.29.5")
        api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.29.5\n"})
        for i in (1, 2, 3):
            api.add_node(f"cp-{i}", roles=["control-plane"], kubelet_version="v1.29.5")
        api.add_node("worker-1", roles=["worker"], kubelet_version="v1.25.16")  # 4 minors older
        api.add_node("worker-2", roles=["worker"], kubelet_version="v1.29.5", ready=False)
        config = {
            "kubernetes": {"kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig"))},
            "collectors": {
                **{name: {"enabled": False} for name in ("certs", "apiserver", "vip", "haproxy", "etcd", "grafana")},
                "nodes": {"interval": "2s", "lifecycle": {"source": "snapshot"}},
                "upgrade": {"interval": "2s", "kubeadm_root": str(tree.root), "release_source": "static",
                            "static_latest": "v1.31.4", "state_file": str(tmp_path / "state.json")},
            },
        }
        rules = rules_without_for(tmp_path / "rules", [ALERTS / "upgrade.rules.yaml", ALERTS / "nodes.rules.yaml"])
        with WatchtowerDaemon(tmp_path, config) as daemon:
            prometheus = Prometheus(tmp_path / "prometheus", {"watchtower": [daemon.url.removeprefix("http://")]},
                                    rule_files=rules, target_labels={"cluster": "e2e-upgrade"})
            prometheus.start_and_wait()
            try:
                prometheus.wait_for_up("watchtower")
                expected = {"KubernetesUpgradeDueSoon", "KubeadmCertsExpireBeforeNextUpgrade", "KubernetesVersionBehind",
                            "KubeNodeNotReady", "KubeletVersionSkew"}

                def firing() -> dict[str, list[dict]]:
                    out: dict[str, list[dict]] = {}
                    for alert in prometheus.alerts():
                        if alert["state"] == "firing":
                            out.setdefault(alert["labels"]["alertname"], []).append(alert)
                    return out if expected <= set(out) else {}

                alerts = prometheus.wait_until(firing, 30, f"{sorted(expected)} firing")
            finally:
                prometheus.stop()

    # exactly what should fire: not overdue, not end of life (no data), no apiserver skew (no data)
    assert set(alerts) == expected, sorted(alerts)
    due = datetime.datetime.fromtimestamp(add_months(backup.timestamp(), 4), UTC)  # unit-tested calendar months
    soon = alerts["KubernetesUpgradeDueSoon"][0]["annotations"]["description"].splitlines()
    assert soon[0] == f"The control plane's next upgrade is due {_date(due)} under the upgrade policy; plan it now."
    assert soon[1] == "Running: v1.29.5 (apiserver), v1.29.5 (kubeadm_config)"
    assert soon[2] == f"Last upgrade: {_date(backup)} (known from: kubeadm_backup)"
    assert soon[3] == "Latest release: v1.31.4; minors behind: 2"
    assert soon[4] == f"Certificate deadline: {_date(admin_expires)} (admin.conf)"
    certs = alerts["KubeadmCertsExpireBeforeNextUpgrade"]
    assert [a["labels"]["deadline_from"] for a in certs] == ["upgrade_collector"]  # the certs-collector rule defers
    assert f"Certificate deadline: {_date(admin_expires)} (admin.conf)" in certs[0]["annotations"]["description"]
    behind = alerts["KubernetesVersionBehind"][0]["annotations"]["description"]
    assert behind.startswith("The control plane is 2 minors behind the latest release; kubeadm needs 2 upgrades")
    (not_ready,) = alerts["KubeNodeNotReady"]
    assert not_ready["labels"]["node"] == "worker-2"
    assert "(Ready=false)" in not_ready["annotations"]["description"]
    assert "Node: roles worker, kubelet v1.29.5" in not_ready["annotations"]["description"]
    (skew,) = alerts["KubeletVersionSkew"]
    assert skew["labels"]["node"] == "worker-1"
    assert skew["annotations"]["description"].startswith(
        "The kubelet on worker-1 (v1.25.16) is 4 minors older than the apiserver;")
