"""Issue 17, defect 2: a FIFO (or socket, or device) never wedges the certs collector.

Named in ``paths``, matched by a glob, or referenced by a kubeconfig as its CA file, a FIFO is
reported as ``not_regular_file`` without being opened for a blocking read; in the daemon the
collector keeps running and recovers within two intervals once the FIFO is replaced by a real
certificate. ``check certs`` has an overall deadline and prints what it has when it expires.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support.kubeadm_tree import KubeadmTree
from tests.support.processes import REPO, WatchtowerDaemon, python_env
from tests.support.tls_servers import SilentServer

NOW = datetime.datetime.now(datetime.UTC)


def _check_certs(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchtower", "check", "certs", *args], cwd=REPO, env=python_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def _kubeconfig_with_ca(path: Path, ca_file: Path) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443",
                                                  "certificate-authority": str(ca_file)}}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
           "users": [{"name": "u", "user": {}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def _lab(tmp_path: Path) -> tuple[KubeadmTree, Path, Path, Path]:
    tree = KubeadmTree(tmp_path / "k", NOW - datetime.timedelta(days=30))
    (tmp_path / "globbed").mkdir()
    named, globbed, ca = tmp_path / "named.crt", tmp_path / "globbed" / "x.crt", tmp_path / "ca-fifo.crt"
    for fifo in (named, globbed, ca):
        os.mkfifo(fifo)
    tree.leaf("../globbed/good.crt", NOW - datetime.timedelta(days=10))
    return tree, named, globbed, ca


def test_check_certs_reports_fifos_without_hanging(tmp_path: Path) -> None:
    _tree, named, globbed, ca = _lab(tmp_path)
    kubeconfig = _kubeconfig_with_ca(tmp_path / "kc.yaml", ca)
    start = time.monotonic()
    done = _check_certs(str(named), str(tmp_path / "globbed" / "*.crt"), str(kubeconfig), "--output", "json")
    assert time.monotonic() - start < 15
    doc = json.loads(done.stdout)
    errors = {(e["location"], e["reason"]) for e in doc["errors"]}
    assert (str(named), "not_regular_file") in errors
    assert (str(globbed), "not_regular_file") in errors
    assert any(loc.endswith(str(ca)) and reason == "not_regular_file" for loc, reason in errors), errors
    assert [c["location"] for c in doc["certificates"]] == [str(tmp_path / "globbed" / "good.crt")]


def test_check_certs_deadline_prints_what_it_has_and_names_what_hung(tmp_path: Path) -> None:
    tree = KubeadmTree(tmp_path / "k", NOW - datetime.timedelta(days=30))
    good = tree.leaf("good.crt", NOW - datetime.timedelta(days=10))
    with SilentServer() as silent:
        start = time.monotonic()
        done = _check_certs(str(good), "--endpoint", silent.address, "--timeout", "60", "--deadline", "2",
                            "--output", "json")
        elapsed = time.monotonic() - start
    assert elapsed < 10, elapsed
    assert done.returncode == 3  # UNKNOWN: an input could not be looked at
    doc = json.loads(done.stdout)
    assert [c["location"] for c in doc["certificates"]] == [str(good)]
    timeouts = [e for e in doc["errors"] if e["reason"] == "timeout"]
    assert timeouts and silent.address in timeouts[0]["location"] + timeouts[0]["detail"], doc["errors"]


def _certs_state(daemon: WatchtowerDaemon) -> dict:
    status = json.loads(daemon._get("/api/status")[1])
    return next(c for c in status["collectors"] if c["name"] == "certs")


def test_daemon_reports_fifos_and_recovers_within_two_intervals(tmp_path: Path) -> None:
    tree, named, globbed, ca = _lab(tmp_path)
    kubeconfig = _kubeconfig_with_ca(tmp_path / "kc.yaml", ca)
    config = {"collectors": {
        **{n: {"enabled": False} for n in ("apiserver", "vip", "haproxy", "etcd", "grafana", "nodes", "upgrade")},
        "certs": {"enabled": True, "interval": "1s", "timeout": "900ms", "kubeadm": False,
                  "paths": [str(named), str(tmp_path / "globbed" / "*.crt")], "kubeconfigs": [str(kubeconfig)]},
    }}
    with WatchtowerDaemon(tmp_path, config) as daemon:
        time.sleep(2.5)  # a few runs with the FIFOs in place
        state = _certs_state(daemon)
        assert state["success"], state
        reasons = {(e["location"], e["reason"]) for e in state["errors"]}
        assert {(str(named), "not_regular_file"), (str(globbed), "not_regular_file")} <= reasons, reasons
        assert any(loc.endswith(str(ca)) and r == "not_regular_file" for loc, r in reasons), reasons

        for fifo in (named, globbed, ca):
            fifo.unlink()
        tree.leaf("../named.crt", NOW - datetime.timedelta(days=5))
        tree.leaf("../globbed/x.crt", NOW - datetime.timedelta(days=5))
        ca.write_bytes(tree.ca.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                       fromlist=["Encoding"]).Encoding.PEM))
        removed = time.monotonic()
        while time.monotonic() - removed < 2.5:  # two 1 s intervals plus jitter
            state = _certs_state(daemon)
            if state["success"] and not any(e["reason"] == "not_regular_file" for e in state["errors"]):
                break
            time.sleep(0.1)
        assert state["success"] and not state["errors"], state
        assert time.monotonic() - removed < 2.5
