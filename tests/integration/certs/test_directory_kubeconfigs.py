"""A directory scan of a kubeadm tree finds the kubeconfigs by content, not only *.crt files.

``kubeadm init``'s admin.conf, super-admin.conf, controller-manager.conf, scheduler.conf and
kubelet.conf carry one-year client certificates under names no certificate suffix matches:
``watchtower check certs /etc/kubernetes`` must list them, and point at ``--kubeadm``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from tests.support.certs import check_certs
from tests.support.kubeadm_pki import KUBECONFIGS, KubeadmPKI, issue, utcnow


def test_directory_scan_lists_every_kubeconfig_client_certificate(tmp_path: Path) -> None:
    pki = KubeadmPKI.build(tmp_path)
    done = check_certs(str(pki.root), "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    clients = {r["location"].split("#")[0] for r in doc["certificates"] if not r["is_ca"]}
    for conf in (*KUBECONFIGS, "kubelet.conf"):
        if conf == "kubelet.conf":  # references the kubelet's rotated file, as kubeadm writes it
            assert any(c.endswith("kubelet-client-current.pem") for c in clients), clients
        else:
            assert str(pki.root / conf) in clients, conf
    assert [n["kind"] for n in doc["notes"]] == ["kubeadm_root"]
    table = check_certs(str(pki.root))
    assert f"note: {pki.root} looks like a kubeadm root: `--kubeadm {pki.root}` also finds" in table.stdout
    assert "admin.conf" in table.stdout and "scheduler.conf" in table.stdout
    with_kubeadm = check_certs(str(pki.root), "--kubeadm", str(pki.root), "--kubelet-pki-dir", str(pki.kubelet_dir))
    assert "looks like a kubeadm root" not in with_kubeadm.stdout


def test_an_expiring_kubeconfig_found_by_content_sets_the_exit_status(tmp_path: Path) -> None:
    pki = KubeadmPKI.build(tmp_path, not_after={"scheduler.conf": utcnow() + datetime.timedelta(days=3)})
    done = check_certs(str(pki.root))
    assert done.returncode == 2, done.stdout
    assert "scheduler.conf" in done.stdout.split("status: CRITICAL", 1)[1]


def test_non_kubeconfig_yaml_and_conf_files_are_skipped_quietly(tmp_path: Path) -> None:
    ca = issue("ca", is_ca=True)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "deployment.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    (tmp_path / "haproxy.conf").write_text("global\n  daemon\n")
    (tmp_path / "values.yml").write_text("users: [alice, bob]\n")  # sniffs like one, holds nothing
    done = check_certs(str(tmp_path), "--output", "json")
    doc = json.loads(done.stdout)
    assert done.returncode == 0 and doc["errors"] == [] and len(doc["certificates"]) == 1, done.stdout


def test_check_certs_help_documents_the_exit_status() -> None:
    done = check_certs("--help")
    assert done.returncode == 0
    for line in ("0  OK", "1  WARNING", "2  CRITICAL", "3  UNKNOWN"):
        assert line in done.stdout
