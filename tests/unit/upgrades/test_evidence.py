from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.support.kubeadm_tree import UTC, YEAR, KubeadmTree
from watchtower.upgrades import evidence as ev

DAY = 86400.0


def ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_backup_dir_names() -> None:
    assert ev.backup_dir_time("kubeadm-backup-etcd-2026-03-11-09-18-02") == ts("2026-03-11T09:18:02")
    assert ev.backup_dir_time("kubeadm-backup-manifests-2026-03-11-09-18-02") == ts("2026-03-11T09:18:02")
    assert ev.backup_dir_time("kubeadm-upgraded-manifests1284917823") is None
    assert ev.backup_dir_time("kubeadm-backup-etcd-2026-13-45-09-18-02") is None  # shaped right, no date
    last = ev.last_backup(["kubeadm-backup-etcd-2025-11-01-10-00-00", "kubeadm-backup-manifests-2026-03-11-09-18-02",
                           "junk", "kubeadm-backup-etcd-2026-03-11-09-17-40"])
    assert last is not None and last.at == ts("2026-03-11T09:18:02") and last.evidence == "kubeadm_backup"
    assert last.detail == "tmp/kubeadm-backup-manifests-2026-03-11-09-18-02"
    assert ev.last_backup(["nothing-here"]) is None


def test_renewal_time_uses_not_after_minus_validity_for_backdated_kubeadm_certs() -> None:
    ca_start, renewed = ts("2024-01-01T00:00:00"), ts("2026-02-10T12:00:00")
    assert ev.renewal_time(ca_start, renewed + 365 * DAY, 365 * DAY) == renewed
    # a certificate not backdated, with a shorter life than assumed: its not_before is the better date
    assert ev.renewal_time(renewed, renewed + 90 * DAY, 365 * DAY) == renewed


def test_go_durations_and_cluster_configuration() -> None:
    assert ev.parse_go_duration("8760h0m0s") == 365 * DAY
    assert ev.parse_go_duration("1h30m") == 5400
    with pytest.raises(ValueError):
        ev.parse_go_duration("1 year")
    cc = ev.parse_cluster_configuration(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\n"
        "certificateValidityPeriod: 4380h0m0s\ncontrolPlaneEndpoint: k8s-api.example.org:6443\n")
    assert cc.kubernetes_version == "v1.31.2" and cc.certificate_validity_seconds == 182.5 * DAY
    assert ev.parse_cluster_configuration("kind: ClusterConfiguration\n").kubernetes_version is None
    for bad in ("a: [", "- a list", "kubernetesVersion: [1, 2]"):
        with pytest.raises(ValueError):
            ev.parse_cluster_configuration(bad)


def test_scan_finds_backups_apiserver_cert_and_earliest_leaf(tmp_path: Path) -> None:
    tree = KubeadmTree(tmp_path, datetime.datetime(2023, 5, 1, tzinfo=UTC))
    issued = datetime.datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    tree.control_plane(issued)
    # scheduler.conf was renewed earlier than the rest: it is the deadline
    tree.kubeconfig("scheduler.conf", issued - datetime.timedelta(days=40))
    tree.kubeconfig("kubelet.conf", issued - datetime.timedelta(days=300))  # kubelet rotates its own: ignored
    tree.backup(datetime.datetime(2026, 2, 10, 11, 58, 3, tzinfo=UTC))
    scan = ev.scan_kubeadm_root(tmp_path)
    assert scan.problems == ()
    assert scan.backup is not None and scan.backup.at == ts("2026-02-10T11:58:03")
    assert scan.apiserver_cert is not None
    evidence = ev.apiserver_cert_evidence(scan.apiserver_cert, 365 * DAY, "pki/apiserver.crt", now=issued.timestamp() + DAY)
    assert evidence is not None and evidence.at == issued.timestamp() and evidence.evidence == "apiserver_cert"
    # a certificate whose renewal would lie in the future was not made the kubeadm way: no evidence
    assert ev.apiserver_cert_evidence(ev.CertTimes(ts("2000-01-01T00:00:00"), ts("3000-01-01T00:00:00"), False),
                                      365 * DAY, "x", now=ts("2026-11-26T00:00:00")) is None
    assert scan.cert_deadline is not None
    assert scan.cert_deadline.certificate == "scheduler.conf"
    assert scan.cert_deadline.not_after == (issued - datetime.timedelta(days=40) + YEAR).timestamp()


def test_scan_reports_bad_files_and_keeps_the_rest(tmp_path: Path) -> None:
    tree = KubeadmTree(tmp_path, datetime.datetime(2023, 5, 1, tzinfo=UTC))
    tree.leaf("pki/apiserver.crt", datetime.datetime(2026, 1, 1, tzinfo=UTC))
    tree.write("pki/front-proxy-client.crt", b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    tree.write("admin.conf", "users: [{user: {client-certificate-data: '!!notbase64'}}]")
    scan = ev.scan_kubeadm_root(tmp_path)
    assert sorted((Path(loc).name, reason) for loc, reason, _ in scan.problems) == [
        ("admin.conf", "parse_error"), ("front-proxy-client.crt", "parse_error")]
    assert scan.cert_deadline is not None and scan.cert_deadline.certificate == "pki/apiserver.crt"
    assert scan.backup is None


def test_scan_of_a_missing_root_is_quietly_empty(tmp_path: Path) -> None:
    scan = ev.scan_kubeadm_root(tmp_path / "nope")
    assert (scan.backup, scan.apiserver_cert, scan.cert_deadline, scan.problems) == (None, None, None, ())
