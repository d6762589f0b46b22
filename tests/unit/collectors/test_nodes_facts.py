from __future__ import annotations

import datetime

from kubernetes import client
from prometheus_client import CollectorRegistry, generate_latest

from watchtower.collectors.nodes.export import NodeMetrics, NodeRow, NodesDetails, node_findings, render_check
from watchtower.collectors.nodes.parse import (
    ReadySeen,
    TransitionCounter,
    count_transitions,
    kubelet_skew,
    node_facts,
    node_roles,
)
from watchtower.upgrades.kubeversion import parse_version

NODE_JSON = {
    "metadata": {"name": "cp-1", "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "cp-1"}},
    "spec": {"taints": [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-11-26T10:00:00Z"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    ], "unschedulable": True},
    "status": {
        "conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "lastTransitionTime": "2026-11-26T10:00:00Z"},
            {"type": "MemoryPressure", "status": "False"},
            {"type": "DiskPressure", "status": "True"},
            {"type": "KernelDeadlock", "status": "False", "reason": "KernelHasNoDeadlock"},  # node-problem-detector
        ],
        "nodeInfo": {"kubeletVersion": "v1.27.9", "containerRuntimeVersion": "containerd://1.7.13",
                     "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-18-amd64",
                     # the client's model requires every field the apiserver always sends
                     "architecture": "amd64", "bootID": "b", "kubeProxyVersion": "v1.27.9", "machineID": "m",
                     "operatingSystem": "linux", "systemUUID": "u"},
    },
}


def test_dict_and_client_model_give_the_same_facts() -> None:
    from_dict = node_facts(NODE_JSON)
    model = client.ApiClient()._ApiClient__deserialize(NODE_JSON, "V1Node")
    assert isinstance(model, client.V1Node)
    assert node_facts(model) == from_dict
    assert from_dict.roles == ("control-plane",)
    assert from_dict.ready == "unknown"
    assert from_dict.system_taints == (("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule"))
    assert [c.type for c in from_dict.conditions] == ["Ready", "MemoryPressure", "DiskPressure", "KernelDeadlock"]
    assert from_dict.condition("Ready").last_transition == datetime.datetime(2026, 11, 26, 10, tzinfo=datetime.UTC).timestamp()
    assert from_dict.problems == ("Ready=unknown", "DiskPressure", "cordoned")


def test_a_bare_node_is_all_unknown_not_an_error() -> None:
    facts = node_facts({"metadata": {"name": "bare"}})
    assert (facts.ready, facts.kubelet, facts.roles, facts.conditions) == ("unknown", None, (), ())


def test_roles_including_the_legacy_label() -> None:
    assert node_roles({"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "ingress", "node-role.kubernetes.io/": ""}) == (
        "ingress", "worker")


def test_skew_and_findings() -> None:
    node = node_facts(NODE_JSON)
    assert kubelet_skew(parse_version("v1.31.4"), node) == 4
    assert kubelet_skew(None, node) is None
    messages = [(f.severity.label, f.message) for f in node_findings(node, 4)]
    assert messages == [("critical", "not ready (Ready=unknown)"), ("warning", "under DiskPressure"),
                        ("warning", "kubelet v1.27.9 is 4 minors older than the apiserver (policy: up to 3 older, never newer)")]
    assert "newer than" in node_findings(node, -1)[-1].message
    assert len(node_findings(node, 3)) == 2


def test_transitions() -> None:
    assert count_transitions(None, ReadySeen("true", 10.0)) == 0
    assert count_transitions(ReadySeen("true", 10.0), ReadySeen("false", 20.0)) == 1
    assert count_transitions(ReadySeen("true", 10.0), ReadySeen("true", 30.0)) == 2  # flapped between looks
    assert count_transitions(ReadySeen("true", 10.0), ReadySeen("true", 10.0)) == 0
    counter = TransitionCounter()

    def node(name: str, status: str, when: str) -> dict:
        return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": status, "lastTransitionTime": when}]}}

    counter.observe([node_facts(node("a", "True", "2026-01-01T00:00:00Z")), node_facts(node("b", "True", "2026-01-01T00:00:00Z"))])
    counter.observe([node_facts(node("a", "False", "2026-01-01T00:01:00Z")), node_facts(node("b", "True", "2026-01-01T00:00:00Z"))])
    counter.observe([node_facts(node("a", "True", "2026-01-01T00:02:00Z"))])  # b deleted
    assert counter.totals == {"a": 2}


def _exposition(families: tuple) -> str:
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):
            return families

    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_metrics_exposition() -> None:
    metrics = NodeMetrics()
    metrics.add(node_facts(NODE_JSON), 4)
    text = _exposition(metrics.families({"cp-1": 3}, 1))
    assert 'watchtower_node_condition{condition="Ready",node="cp-1",status="unknown"} 1.0' in text
    assert 'status="true"} 0.0' not in text and 'condition="Ready",node="cp-1",status="true"' not in text  # current only
    assert 'watchtower_node_condition{condition="KernelDeadlock",node="cp-1",status="false"} 1.0' in text
    assert 'watchtower_node_unschedulable{node="cp-1"} 1.0' in text
    assert 'watchtower_node_taint{effect="NoExecute",key="node.kubernetes.io/unreachable",node="cp-1"} 1.0' in text
    assert "node-role.kubernetes.io/control-plane" not in text.split("watchtower_node_taint")[-1]
    assert ('watchtower_node_info{container_runtime="containerd://1.7.13",kernel_version="6.1.0-18-amd64",'
            'kubelet_version="v1.27.9",node="cp-1",os_image="Debian GNU/Linux 12 (bookworm)",roles="control-plane"} 1.0') in text
    assert 'watchtower_node_kubelet_minor_skew{node="cp-1"} 4.0' in text
    assert 'watchtower_node_ready_transitions_total{node="cp-1"} 3.0' in text


def test_check_table_lists_problem_nodes_first_and_caps_rows() -> None:
    rows = [NodeRow(f"w-{i:03d}", ("worker",), "true", "v1.31.4", 0, (), (), 0) for i in range(60)]
    rows.append(NodeRow("z-bad", (), "false", "v1.27.1", 4, ("Ready=false",), ("node.kubernetes.io/not-ready:NoExecute",), 5))
    lines = render_check(NodesDetails("v1.31.4", nodes_total=61, nodes_ready=60, nodes=tuple(rows)))
    assert lines[0].startswith("NODES  60/61 ready; apiserver v1.31.4")
    assert lines[2].split()[:6] == ["z-bad", "<none>", "false", "v1.27.1", "4", "5"]
    assert lines[-1] == "  ... 21 more nodes not shown (all nodes with problems are listed first)"


def test_compact_family_makes_the_same_samples_lazily() -> None:
    import pytest
    from prometheus_client.core import GaugeMetricFamily

    from watchtower.collectors.nodes.export import CompactFamily

    compact = CompactFamily("x_skew", "doc", "gauge", ("node",))
    plain = GaugeMetricFamily("x_skew", "doc", labels=("node",))
    for name, value in (("a", 1.0), ("b", -1.0)):
        compact.add((name,), value)
        plain.add_metric((name,), value)
    assert list(compact.samples) == plain.samples and len(compact.samples) == 2
    assert compact.samples[1] == plain.samples[1]
    assert _exposition((compact,)) == _exposition((plain,))
    with pytest.raises(TypeError):
        compact.samples = plain.samples
