"""`watchtower plan upgrade` and the plan in `watchtower check`, as real subprocesses against the
test Kubernetes API, a kubeadm tree and a local release server (dl.k8s.io + endoflife.date)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.kubeapi import KubeAPIServer
from tests.support.kubeadm_tree import UTC, KubeadmTree
from tests.support.release_server import ReleaseServer

ROOT = Path(__file__).resolve().parents[2]

RELEASES = {
    "/release/stable.txt": b"v1.31.4\n",
    "/release/stable-1.29.txt": b"v1.29.14\n",
    "/release/stable-1.30.txt": b"v1.30.8\n",
    "/release/stable-1.31.txt": b"v1.31.4\n",
    "/api/ubuntu.json": json.dumps([{"cycle": "22.04", "eol": "2027-04-01", "extendedSupport": "2032-04-09"}]).encode(),
    "/api/containerd.json": json.dumps([{"cycle": "1.7", "eol": "2026-03-10"}]).encode(),
}


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchtower", *args, "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def setup(tmp_path: Path, api: KubeAPIServer, server: ReleaseServer, issued_days_ago: int) -> Path:
    api.set_version("v1.29.5")
    api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.29.5\n"})
    for i in (1, 2, 3):
        api.add_node(f"cp-{i}", roles=["control-plane"], kubelet_version="v1.29.5", os_image="Ubuntu 22.04.4 LTS")
    root = tmp_path / "etc-kubernetes"
    tree = KubeadmTree(root, datetime.datetime(2022, 1, 10, tzinfo=UTC))
    tree.control_plane(datetime.datetime.now(UTC) - datetime.timedelta(days=issued_days_ago))  # also the last upgrade
    config = tmp_path / "watchtower.yaml"
    config.write_text(yaml.safe_dump({
        "kubernetes": {"kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig", auth="token"))},
        "collectors": {
            "upgrade": {"release_base_url": f"{server.url}/release", "kubeadm_root": str(root)},
            "nodes": {"lifecycle": {"url": f"{server.url}/api"}},
        },
    }))
    return config


def test_plan_table_json_and_exit_codes(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    with ReleaseServer(RELEASES) as server:
        config = setup(tmp_path, kube_api, server, issued_days_ago=110)  # due in ~10 days: reminder time
        table = run(config, "plan", "upgrade")
        assert table.returncode == 1, table.stdout + table.stderr
        out = table.stdout
        assert out.startswith("UPGRADE PLAN  v1.29.5 → v1.31.4: 2 hop(s), one minor at a time; about 14 days at 7 days per hop")
        assert "DUE SOON: upgrade due " in out
        hops = [line.split()[:3] for line in out.splitlines() if line.startswith(("  1 ", "  2 "))]
        assert hops == [["1", "v1.29.5", "v1.30.8"], ["2", "v1.30.8", "v1.31.4"]]
        assert "kubeadm upgrade apply v1.30.8" in out and "ubuntu 22.04 standard support ends (cp-1, cp-2, cp-3)" in out

        doc = json.loads(run(config, "plan", "upgrade", "--output", "json").stdout)
        assert (doc["current"], doc["latest"], doc["status"], doc["exit_code"]) == ("v1.29.5", "v1.31.4", "due_soon", 1)
        assert [h["target"] for h in doc["hops"]] == ["v1.30.8", "v1.31.4"]
        assert [h["blockers"] for h in doc["hops"]] == [[], []]
        dates = [d["at"] for d in doc["deadlines"]]
        assert dates == sorted(dates) and {d["kind"] for d in doc["deadlines"]} == {"policy_due", "cert_expiry", "os_eol"}
        assert doc["errors"] == [] and doc["os_data"] is True

        # a slow team: 2 hops × 200 days end after the certificates (255 days left)
        slow = run(config, "plan", "upgrade", "--days-per-hop", "200")
        assert slow.returncode == 2 and "CRITICAL: kubeadm certificate" in slow.stdout, slow.stdout
        bad = run(config, "plan", "upgrade", "--days-per-hop", "0")
        assert bad.returncode == 2 and "--days-per-hop" in bad.stderr

        # `watchtower check` prints the same plan; /api/status-style JSON carries it as "plan"
        check = run(config, "check", "--collector", "upgrade", "--collector", "nodes")
        assert "UPGRADE PLAN  v1.29.5 → v1.31.4: 2 hop(s)" in check.stdout, check.stdout
        checked = json.loads(run(config, "check", "--collector", "upgrade", "--output", "json").stdout)
        assert [h["target"] for h in checked["plan"]["hops"]] == ["v1.30.8", "v1.31.4"]


def test_no_release_data_is_no_plan(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    server = ReleaseServer(RELEASES).start()
    config = setup(tmp_path, kube_api, server, issued_days_ago=10)
    server.stop()  # dl.k8s.io unreachable: the latest release is unknown, so is the path
    done = run(config, "plan", "upgrade")
    assert done.returncode == 2, done.stdout
    assert "UPGRADE PLAN  unknown" in done.stdout and "cannot plan: the latest release is unknown" in done.stdout
    assert "error: upgrade: release source" in done.stdout
