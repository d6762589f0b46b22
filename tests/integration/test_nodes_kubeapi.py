"""The nodes collector against the test Kubernetes API server (real HTTPS, official client, paging)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from tests.kubeapi import KubeAPIServer
from tests.support.expo import one, samples
from watchtower.app import config as config_mod
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.nodes import NodesCollector
from watchtower.io.kube import KubeClientFactory

UNREACHABLE = [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
               {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]


def make(tmp_path: Path, api: KubeAPIServer, page_size: int = 2) -> NodesCollector:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", auth="cert")
    config = config_mod.from_mapping({"kubernetes": {"kubeconfig": str(kubeconfig), "page_size": page_size,
                                                     "request_timeout": 5},
                                      # lifecycle dates far ahead: this file is about conditions, not OS support
                                      "collectors": {"nodes": {"lifecycle": {"source": "snapshot", "static": {
                                          "ubuntu": {"22.04": {"eol": "2099-01-01"}}, "debian": {"12": {"eol": "2099-01-01"}}}}}}})
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), node_name="t")
    return NodesCollector(config.collector_settings("nodes", {"nodes": NodesCollector}), context)


def cluster(api: KubeAPIServer) -> None:
    """3 control-plane nodes on v1.30, five workers from v1.26 (too old) to v1.31 (too new)."""
    api.set_version("v1.30.2")
    for i in (1, 2, 3):
        api.add_node(f"cp-{i}", roles=["control-plane"], kubelet_version="v1.30.2",
                     taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    api.add_node("worker-1", roles=["worker"], kubelet_version="v1.29.6")
    api.add_node("worker-2", roles=["worker"], kubelet_version="v1.27.16")  # 3 older: allowed
    api.add_node("worker-3", roles=["worker"], kubelet_version="v1.26.15", ready=None, taints=UNREACHABLE)
    api.add_node("worker-4", roles=["worker"], kubelet_version="v1.31.0",
                 conditions={"DiskPressure": True, "KernelDeadlock": False}, unschedulable=True)
    api.add_node("worker-5", roles=[], kubelet_version="v1.30.2", os_image="Debian GNU/Linux 12 (bookworm)")


def test_conditions_taints_versions_and_skew(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    cluster(kube_api)
    collector = make(tmp_path, kube_api, page_size=3)
    kube_api.clear_requests()
    result = collector.collect()
    assert result.errors == ()
    lists = [r for r in kube_api.requests if r.path == "/api/v1/nodes"]
    assert [r.query.get("limit") for r in lists] == ["3", "3", "3"]  # 8 nodes, three pages
    assert [bool(r.query.get("continue")) for r in lists] == [False, True, True]
    m = samples(result.metrics)
    assert one(m, "watchtower_nodes") == 8
    assert one(m, "watchtower_node_condition", node="cp-1", condition="Ready", status="true") == 1
    assert one(m, "watchtower_node_condition", node="worker-3", condition="Ready", status="unknown") == 1
    conditions = {(dict(k)["node"], dict(k)["condition"]): dict(k)["status"] for k in m["watchtower_node_condition"]}
    assert len(conditions) == len(m["watchtower_node_condition"]) == 8 * 4 + 1  # one series per condition
    assert conditions[("worker-3", "Ready")] == "unknown" and conditions[("worker-1", "Ready")] == "true"
    assert one(m, "watchtower_node_condition", node="worker-4", condition="DiskPressure", status="true") == 1
    assert one(m, "watchtower_node_condition", node="worker-4", condition="KernelDeadlock", status="false") == 1
    assert one(m, "watchtower_node_unschedulable", node="worker-4") == 1
    assert one(m, "watchtower_node_unschedulable", node="worker-1") == 0
    assert one(m, "watchtower_node_taint", node="worker-3", key="node.kubernetes.io/unreachable", effect="NoExecute") == 1
    assert all(dict(k)["node"] == "worker-3" for k in m["watchtower_node_taint"])  # control-plane taint not exported
    assert one(m, "watchtower_node_info", node="cp-2", roles="control-plane", kubelet_version="v1.30.2",
               container_runtime="containerd://1.7.13", os_image="Ubuntu 22.04.4 LTS", kernel_version="5.15.0-105-generic") == 1
    assert one(m, "watchtower_node_info", node="worker-5", roles="", kubelet_version="v1.30.2",
               container_runtime="containerd://1.7.13", os_image="Debian GNU/Linux 12 (bookworm)",
               kernel_version="5.15.0-105-generic") == 1
    skews = {dict(k)["node"]: v for k, v in m["watchtower_node_kubelet_minor_skew"].items()}
    assert skews == {"cp-1": 0, "cp-2": 0, "cp-3": 0, "worker-1": 1, "worker-2": 3, "worker-3": 4, "worker-4": -1, "worker-5": 0}
    findings = sorted((f.subject, f.severity.label, f.message) for f in result.findings)
    assert findings == [
        ("worker-3", "critical", "not ready (Ready=unknown)"),
        ("worker-3", "warning", "kubelet v1.26.15 is 4 minors older than the apiserver (policy: up to 3 older, never newer)"),
        ("worker-4", "warning", "kubelet v1.31.0 is newer than the apiserver (policy: up to 3 older, never newer)"),
        ("worker-4", "warning", "under DiskPressure"),
    ]
    lines = NodesCollector.check_table(result.details)
    assert lines[0].startswith("NODES  7/8 ready; apiserver v1.30.2")
    assert [line.split()[0] for line in lines[2:4]] == ["worker-3", "worker-4"]  # problems first


def test_flapping_readiness_is_counted_across_collections(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    cluster(kube_api)
    collector = make(tmp_path, kube_api)

    def transitions() -> dict[str, float]:
        m = samples(collector.collect().metrics)
        return {dict(k)["node"]: v for k, v in m["watchtower_node_ready_transitions_total"].items()}

    assert set(transitions().values()) == {0}
    kube_api.update_node("worker-1", ready=False)
    assert transitions()["worker-1"] == 1
    kube_api.update_node("worker-1", ready=True)
    kube_api.update_node("worker-3", ready=True, taints=[])  # worker-3 comes back
    after = transitions()
    assert (after["worker-1"], after["worker-3"], after["cp-1"]) == (2, 1, 0)
    # down and up again between two collections: the status is the same, lastTransitionTime is newer
    time.sleep(1.1)  # the API's timestamps have one-second resolution
    kube_api.update_node("worker-1", ready=False)
    kube_api.update_node("worker-1", ready=True)
    assert transitions()["worker-1"] == 4
    kube_api.delete("nodes", "worker-5")
    assert "worker-5" not in transitions()


def test_api_failure_fails_the_run_and_recovers(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    cluster(kube_api)
    collector = make(tmp_path, kube_api)
    kube_api.forbid("nodes", verb="list")
    with pytest.raises(ApiException) as info:
        collector.collect()
    assert info.value.status == 403
    kube_api.allow_all()
    assert one(samples(collector.collect().metrics), "watchtower_nodes") == 8


def test_auto_enable_needs_a_kubeconfig(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    config = config_mod.from_mapping({"kubernetes": {"kubeconfig": str(tmp_path / "missing")}})
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes))
    assert "does not exist" in (NodesCollector.unavailable_reason(NodesCollector.Settings(), context) or "")
    none = config_mod.from_mapping({})
    context = CollectorContext(config=none, kube=KubeClientFactory(none.kubernetes, environ={"HOME": str(tmp_path)}))
    assert (NodesCollector.unavailable_reason(NodesCollector.Settings(), context) or "").startswith("no kubeconfig found")
    make(tmp_path, kube_api)
    ok = config_mod.from_mapping({"kubernetes": {"kubeconfig": str(tmp_path / "kubeconfig")}})
    context = CollectorContext(config=ok, kube=KubeClientFactory(ok.kubernetes))
    assert NodesCollector.unavailable_reason(NodesCollector.Settings(), context) is None


def test_every_metric_the_rules_use_is_exported(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """Names in alerts/{nodes,upgrade}.rules.yaml — expressions and the annotation queries — against
    what a full run of the nodes and upgrade collectors really exports (a typo in either fails)."""
    import datetime
    import re

    from tests.support.kubeadm_tree import UTC, KubeadmTree
    from watchtower.collectors.upgrade import UpgradeCollector

    cluster(kube_api)
    kube_api.update_node("worker-4", taints=UNREACHABLE)
    tree = KubeadmTree(tmp_path / "k", datetime.datetime(2022, 1, 1, tzinfo=UTC))
    tree.control_plane(datetime.datetime(2026, 6, 1, tzinfo=UTC))
    nodes = make(tmp_path, kube_api)
    config = config_mod.from_mapping({
        "kubernetes": {"kubeconfig": str(tmp_path / "kubeconfig")},
        "collectors": {"upgrade": {"kubeadm_root": str(tmp_path / "k"), "release_source": "static",
                                   "static_latest": "v1.31.4", "static_eol": {"1.30": "2026-06-28"}}}})
    upgrade = UpgradeCollector(config.collectors["upgrade"],
                               CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes)))
    exported = set(samples(nodes.collect().metrics)) | set(samples(upgrade.collect().metrics))
    from_other_collectors = {"watchtower_apiserver_version_info", "watchtower_cert_not_after_timestamp_seconds"}
    root = Path(__file__).resolve().parents[2] / "alerts"
    for rule_file in ("nodes.rules.yaml", "upgrade.rules.yaml"):
        used = set(re.findall(r"\bwatchtower_[a-z0-9_]+", (root / rule_file).read_text()))
        assert used, rule_file
        assert used - exported - from_other_collectors == set(), rule_file
