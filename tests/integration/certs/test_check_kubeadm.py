"""`watchtower check certs --kubeadm` and `watchtower check --config` over a generated kubeadm tree."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import yaml

from tests.support.certs import REPO, check_certs
from tests.support.kubeadm_pki import EXPECTED_NAMES, KubeadmPKI, utcnow


def test_check_certs_kubeadm_lists_what_kubeadm_lists_plus_kubelet(tmp_path):
    tree = KubeadmPKI.build(tmp_path)
    done = check_certs("--kubeadm", str(tree.root), "--kubelet-pki-dir", str(tree.kubelet_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[0] == "CERTIFICATE"
    names = [r.split()[0] for r in rows if r and not r.startswith(("error", "check", "note:", "status:", " "))]
    assert sorted(set(names)) == sorted(EXPECTED_NAMES)
    assert all("kubeadm" in r and "OK" in r for r in rows if r and r.split()[0] in EXPECTED_NAMES)
    doc = json.loads(check_certs("--kubeadm", str(tree.root), "--kubelet-pki-dir", str(tree.kubelet_dir),
                                 "-o", "json").stdout)
    assert {c["name"] for c in doc["certificates"]} == set(EXPECTED_NAMES)
    assert doc["errors"] == [] and all(c["ok"] for c in doc["checks"])


def test_check_with_config_file_renders_the_certs_section_and_exit_status(tmp_path):
    tree = KubeadmPKI.build(tmp_path, not_after={"apiserver": utcnow() - datetime.timedelta(hours=5)})
    config = tmp_path / "watchtower.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"certs": {
        "kubeadm_root": str(tree.root), "kubelet_pki_dir": str(tree.kubelet_dir), "apiserver_endpoints": []}}}))
    done = subprocess.run([sys.executable, "-m", "watchtower", "check", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    (apiserver,) = [line for line in lines if line.split()[:1] == ["apiserver"] and "kubeadm" in line]
    assert "<expired>" in apiserver and "EXPIRED" in apiserver
    assert any(line.startswith("CRITICAL") and "apiserver" in line and "expired 5h" in line for line in lines)


def test_table_is_coloured_on_a_terminal(tmp_path):
    import pty

    tree = KubeadmPKI.build(tmp_path, not_after={"front-proxy-client": utcnow() + datetime.timedelta(days=10)})
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    with subprocess.Popen([sys.executable, "-m", "watchtower", "check", "certs", "--kubeadm", str(tree.root),
                           "--kubelet-pki-dir", str(tree.kubelet_dir)], stdout=secondary, stderr=subprocess.PIPE,
                          cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}) as process:
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 1  # a warning
    os.close(primary)
    text = b"".join(chunks).decode()
    assert "\033[33mWARNING\033[0m" in text and "\033[32mOK\033[0m" in text


def test_kubeadm_asked_for_but_absent_is_an_error_not_silence(tmp_path):
    """`--kubeadm` pointed at a tree with no PKI must say so, not report zero certificates as fine."""
    empty = tmp_path / "etc-kubernetes"
    empty.mkdir()
    done = check_certs("--kubeadm", str(empty), "--kubelet-pki-dir", str(tmp_path / "no-kubelet"), "-o", "json")
    doc = json.loads(done.stdout)
    assert doc["certificates"] == []
    assert [(e["location"], e["reason"]) for e in doc["errors"]] == [(str(empty), "not_found")]
