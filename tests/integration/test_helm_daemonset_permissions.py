"""The DaemonSet's documented exception, checked against the kernel's real permission checks.

The chart runs the node role as uid 0 with EVERY capability dropped (daemonSet.readRootOnlyFiles)
and claims: that reads kubeadm's 0600 root-owned keys and kubeconfigs, yet cannot bypass file
permissions on anything owned by another user; and that with readRootOnlyFiles: false (uid
65532) the 0600 files are reported as errors while the world-readable certificates are still
watched. Here a kubeadm tree gets kubeadm's file modes, the chart renders the node config for
it, and `watchtower check` runs under `setpriv` with exactly those credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kubeadm_pki import KubeadmPKI
from tests.support.processes import python_env
from tests.support.services import require_binary, require_module, require_root

helm: Any = require_module("helm_python")

pytestmark = pytest.mark.helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "watchtower"
OTHER_UID = 4242  # owns a 0600 file a capability-less root must NOT read


@pytest.fixture
def kubeadm_tree() -> Iterator[Path]:
    """A kubeadm tree with kubeadm's modes, under a directory every uid may traverse."""
    require_root()
    base = Path(tempfile.mkdtemp(prefix="ship-perm-", dir="/tmp"))
    try:
        KubeadmPKI.build(base, kubelet_conf_embedded=False)
        for path in base.rglob("*"):
            if path.is_symlink():
                continue
            if path.is_dir():
                path.chmod(0o755)
            elif path.suffix == ".crt" or path.name == "sa.pub":
                path.chmod(0o644)  # kubeadm: certificates are world-readable
            else:
                path.chmod(0o600)  # keys, kubeconfigs, kubelet-client-*.pem
            os.chown(path, 0, 0, follow_symlinks=False)
        base.chmod(0o755)
        foreign = base / "etc" / "kubernetes" / "pki" / "foreign.crt"
        shutil.copyfile(base / "etc" / "kubernetes" / "pki" / "ca.crt", foreign)
        foreign.chmod(0o600)
        os.chown(foreign, OTHER_UID, OTHER_UID)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def node_config(base: Path, read_root_only_files: bool) -> dict[str, Any]:
    values = {"daemonSet": {
        "readRootOnlyFiles": read_root_only_files,
        "hostPaths": {"kubernetes": str(base / "etc" / "kubernetes"),
                      "kubeletPki": str(base / "var" / "lib" / "kubelet" / "pki")},
        # The foreign file is found through a plain path source next to kubeadm discovery.
        "config": {"collectors": {"certs": {"paths": [str(base / "etc" / "kubernetes" / "pki" / "foreign.crt")],
                                            "apiserver_endpoints": []}}},
    }}
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values=values, name="wt", namespace="monitoring")
    for doc in yaml.safe_load_all(rendered["watchtower/templates/configmap.yaml"]):
        if doc and doc["metadata"]["name"] == "wt-watchtower-node-config":
            return yaml.safe_load(doc["data"]["config.yaml"])
    raise AssertionError("no node config rendered")


def check_as(base: Path, config: dict[str, Any], credentials: list[str]) -> dict[str, Any]:
    """`watchtower check` for the certs collector under ``setpriv CREDENTIALS``; its certs details.

    The interpreter may live where another uid cannot traverse (e.g. /root/.pyenv), so it is
    bind-mounted at a world-traversable path in a private mount namespace first: only the
    files under test decide what the process can read.
    """
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o644)
    prefix = Path(sys.base_prefix).resolve()
    python = Path(sys.executable).resolve().relative_to(prefix)
    mount_point = base / "python"
    mount_point.mkdir(mode=0o755, exist_ok=True)
    command = [require_binary("unshare"), "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(prefix), str(mount_point),
               require_binary("setpriv"), *credentials, "--no-new-privs", "--",
               str(mount_point / python), "-m", "watchtower", "check", "--config", str(path),
               "--collector", "certs", "--output", "json"]
    env = python_env()
    env["LD_LIBRARY_PATH"] = str(mount_point / "lib")  # the interpreter's own libpython, not the system's
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/", env=env)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)["details"]["certs"]


def _locations(items: list[dict[str, Any]]) -> set[str]:
    return {item["location"] for item in items}


def test_root_without_capabilities_reads_root_files_but_not_others(kubeadm_tree: Path) -> None:
    """What the chart's DaemonSet securityContext amounts to: uid 0, no capabilities at all."""
    certs = check_as(kubeadm_tree, node_config(kubeadm_tree, True),
                     ["--reuid", "0", "--regid", "0", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
    found = " ".join(_locations(certs["certificates"]))
    print(len(certs["certificates"]), "certificates; errors:", sorted((e["location"].rsplit("/", 1)[-1], e["reason"]) for e in certs["errors"]))
    for embedded in ("admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet-client-current.pem"):
        assert embedded in found, f"{embedded}: a 0600 root file must be readable as capability-less root"
    errors = {e["location"]: e["reason"] for e in certs["errors"]}
    foreign = [loc for loc in errors if loc.endswith("foreign.crt")]
    assert foreign, f"a 0600 file of uid {OTHER_UID} must NOT be readable without CAP_DAC_*: {errors}"
    assert [loc for loc in errors if not loc.endswith("foreign.crt")] == [], errors


def test_non_root_reports_the_root_only_files_and_still_reads_certificates(kubeadm_tree: Path) -> None:
    """readRootOnlyFiles: false — uid 65532: every unreadable file is an error, never silence."""
    certs = check_as(kubeadm_tree, node_config(kubeadm_tree, False),
                     ["--reuid", "65532", "--regid", "65532", "--clear-groups"])
    found = " ".join(_locations(certs["certificates"]))
    print(len(certs["certificates"]), "certificates; errors:", sorted((e["location"].rsplit("/", 1)[-1], e["reason"]) for e in certs["errors"]))
    assert "pki/apiserver.crt" in found and "pki/ca.crt" in found, "world-readable certificates are watched"
    assert "admin.conf" not in found
    unreadable = " ".join(e["location"] for e in certs["errors"])
    for root_only in ("admin.conf", "scheduler.conf", "foreign.crt"):
        assert root_only in unreadable, f"{root_only} must be reported, not skipped: {certs['errors']}"
