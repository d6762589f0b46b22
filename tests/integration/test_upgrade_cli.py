"""`watchtower check` as a real subprocess against the test API server: Nodes and Upgrade sections,
and the upgrade state surviving from one process to the next."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.kubeapi import KubeAPIServer
from tests.support.kubeadm_tree import UTC, KubeadmTree
from tests.support.release_server import ReleaseServer
from watchtower.upgrades.policy import add_months

ROOT = Path(__file__).resolve().parents[2]


def check(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchtower", "check", "--config", str(config),
         "--collector", "nodes", "--collector", "upgrade", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_check_shows_nodes_and_upgrade_and_remembers_upgrades(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    kube_api.set_version("v1.29.5")
    kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.29.5\n"})
    for i in (1, 2, 3):
        kube_api.add_node(f"cp-{i}", roles=["control-plane"], kubelet_version="v1.29.5")
    kube_api.add_node("worker-1", roles=["worker"], kubelet_version="v1.28.9")
    kube_api.add_node("worker-2", roles=["worker"], kubelet_version="v1.29.5", ready=False)
    root = tmp_path / "etc-kubernetes"
    tree = KubeadmTree(root, datetime.datetime(2022, 1, 10, tzinfo=UTC))
    tree.control_plane(datetime.datetime.now(UTC) - datetime.timedelta(days=100))
    backup_at = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(days=110)
    tree.backup(backup_at)
    due_in_days = round((add_months(backup_at.timestamp(), 4) - time.time()) / 86400)  # 4 calendar months: 120..123 days
    state = tmp_path / "state.json"
    with ReleaseServer({"/stable.txt": b"v1.31.4\n", "/stable-1.29.txt": b"v1.29.14\n", "/stable-1.30.txt": b"v1.30.8\n",
                        "/stable-1.31.txt": b"v1.31.4\n"}) as rel:
        config = tmp_path / "watchtower.yaml"
        config.write_text(yaml.safe_dump({
            "kubernetes": {"kubeconfig": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", auth="token"))},
            "collectors": {"upgrade": {"release_base_url": rel.url, "kubeadm_root": str(root), "state_file": str(state)},
                           "nodes": {"lifecycle": {"source": "snapshot"}}},
        }))
        first = check(config)
        assert first.returncode == 2, first.stdout + first.stderr  # worker-2 NotReady is critical
        out = first.stdout
        upgrade = out[out.index("UPGRADE"):].split("\n\n")[0].splitlines()
        rows = {line[2:16].strip(): line[16:].strip() for line in upgrade[1:]}
        assert rows["current"] == "v1.29.5 (apiserver v1.29.5, kubeadm-config v1.29.5)"
        assert rows["latest"].startswith(f"v1.31.4 (newest patch of the running minor: v1.29.14; from {rel.url}")
        assert rows["behind"] == "2 minors, 2 upgrade(s) needed (one minor at a time)"
        assert "(110 days ago) — evidence: kubeadm_backup (tmp/kubeadm-backup-" in rows["last upgrade"]
        assert f"(in {due_in_days} days) — every 4mo, reminder 14d before" in rows["due"]
        assert "(in 265 days) (" in rows["cert deadline"]
        nodes = out[out.index("NODES"):].split("\n\n")[0].splitlines()
        assert nodes[0].startswith("NODES  4/5 ready; apiserver v1.29.5")
        assert nodes[2].split()[:3] == ["worker-2", "worker", "false"]
        assert "upgrade due" in out  # the warning finding
        assert json.loads(state.read_text())["last_upgrade"] is None

        kube_api.set_version("v1.30.8")  # upgraded between two runs of the command
        kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.30.8\n"})
        kube_api.update_node("worker-2", ready=True)
        second = check(config, "--output", "json")
        doc = json.loads(second.stdout)
        up = doc["details"]["upgrade"]
        assert (up["current"], up["last_upgrade_evidence"], up["minors_behind"]) == ("v1.30.8", "observed", 1)
        third = check(config, "--output", "json")  # a new process: the observed upgrade is still known
        up3 = json.loads(third.stdout)["details"]["upgrade"]
        assert (up3["last_upgrade"], up3["last_upgrade_evidence"], up3["next_due"]) == (
            up["last_upgrade"], "observed", up["next_due"])
        assert third.returncode == 0, third.stdout
