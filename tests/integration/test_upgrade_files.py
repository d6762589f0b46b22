"""The upgrade collector against a real kubeadm file tree, without a Kubernetes API.

Covers the node-role view: evidence from backups and the apiserver certificate, the leaf
certificate deadline, the state file surviving a restart (two collector instances) and the
metrics/check output built from them.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from tests.support.expo import one, samples
from tests.support.kubeadm_tree import UTC, KubeadmTree
from watchtower.app import config as config_mod
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.upgrade import UpgradeCollector
from watchtower.collectors.upgrade.export import render_check
from watchtower.io.kube import KubeClientFactory

DAY = 86400.0
NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()


def make_collector(tmp_path: Path, **settings: object) -> UpgradeCollector:
    data = {"kubernetes": {"kubeconfig": str(tmp_path / "absent.kubeconfig")},
            "collectors": {"upgrade": {"release_source": "static", "static_latest": "v1.31.4", **settings}}}
    config = config_mod.from_mapping(data)
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=lambda: NOW, node_name="cp-1")
    return UpgradeCollector(config.collectors["upgrade"], context)


def test_inferred_from_the_apiserver_certificate_and_deadline_before_due(tmp_path: Path) -> None:
    root = tmp_path / "etc-kubernetes"
    tree = KubeadmTree(root, datetime.datetime(2022, 3, 1, tzinfo=UTC))
    renewed = datetime.datetime(2026, 8, 1, 9, 30, tzinfo=UTC)
    tree.control_plane(renewed)
    # admin.conf was last renewed almost a year ago: it expires 2026-12-10, before the due date
    tree.kubeconfig("admin.conf", datetime.datetime(2025, 12, 10, tzinfo=UTC))
    collector = make_collector(tmp_path, kubeadm_root=str(root))
    result = collector.collect()
    m = samples(result.metrics)
    assert [e.reason for e in result.errors] == ["unavailable"]  # no kubeconfig: said once, the rest still works
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="apiserver_cert") == renewed.timestamp()
    due = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=UTC).timestamp()  # + 4 calendar months
    assert one(m, "watchtower_upgrade_next_due_timestamp_seconds") == due
    assert one(m, "watchtower_upgrade_policy_interval_seconds") == 122 * DAY  # Aug..Nov: 31+30+31+30 days
    deadline = datetime.datetime(2026, 12, 10, tzinfo=UTC).timestamp()
    assert one(m, "watchtower_upgrade_cert_deadline_timestamp_seconds", certificate="admin.conf") == deadline
    assert one(m, "watchtower_upgrade_due_after_cert_deadline") == 0
    assert one(m, "watchtower_upgrade_reminder_lead_seconds") == 14 * DAY
    assert one(m, "watchtower_kubernetes_latest_version_info", channel="stable", minor="1.31", version="v1.31.4") == 1
    assert "watchtower_kubernetes_version_info" not in m  # no API: no version, so no "behind" either
    assert "watchtower_kubernetes_minors_behind" not in m
    # due (2026-12-01) comes before the deadline, but the deadline is within the reminder lead
    assert [(f.subject, f.severity.label, f.message) for f in result.findings if f.subject == "certificates"] == [
        ("certificates", "critical", ("admin.conf expires 2026-12-10 (in 14 days): upgrade now (it renews the "
                                     "kubeadm certificates) or run kubeadm certs renew"))]
    lines = render_check(result.details)
    assert lines[0] == "UPGRADE"
    row = {line.split("  ")[1].strip(): line for line in lines[1:]}
    assert "2026-08-01 09:30 UTC" in row["last upgrade"] and "evidence: apiserver_cert" in row["last upgrade"]
    assert "2026-12-01 (in 5 days)" in row["due"] and "every 4mo, reminder 14d before" in row["due"]
    assert "2026-12-10 (in 14 days) (admin.conf)" in row["cert deadline"]


def test_backups_beat_the_certificate_and_a_long_interval_crosses_the_deadline(tmp_path: Path) -> None:
    root = tmp_path / "k"
    tree = KubeadmTree(root, datetime.datetime(2022, 3, 1, tzinfo=UTC))
    tree.control_plane(datetime.datetime(2026, 9, 1, tzinfo=UTC))  # certs renewed by hand later
    tree.backup(datetime.datetime(2026, 6, 2, 8, 0, 0, tzinfo=UTC))
    result = make_collector(tmp_path, kubeadm_root=str(root), upgrade_every="500d").collect()
    m = samples(result.metrics)
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="kubeadm_backup") == datetime.datetime(
        2026, 6, 2, 8, tzinfo=UTC).timestamp()
    assert one(m, "watchtower_upgrade_due_after_cert_deadline") == 1  # 2026-06-02 + 500d = 2027-10-15 > 2027-09-01
    assert any(f.severity.label == "critical" and "before the next upgrade is due" in f.message for f in result.findings)


def test_nothing_known_is_exported_as_unknown(tmp_path: Path) -> None:
    result = make_collector(tmp_path, kubeadm_root=str(tmp_path / "none")).collect()
    m = samples(result.metrics)
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="unknown") == 0
    assert "watchtower_upgrade_next_due_timestamp_seconds" not in m
    assert any("cannot tell when the next upgrade is due" in f.message for f in result.findings)
