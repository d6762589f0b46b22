"""The configs the Helm chart renders run: a real `watchtower run` per role, probes answering.

`watchtower config check` (tests/integration/test_helm_chart.py) proves the rendered configs
validate; this proves they start, that the pods' liveness and readiness paths answer 200 with
them, and that the cluster role's collectors reach a Kubernetes API (the test API server)
through nothing but chart values. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubeapi import KubeAPIServer
from tests.support.processes import WatchtowerDaemon
from tests.support.services import require_module

helm: Any = require_module("helm_python")

pytestmark = pytest.mark.helm

CHART = Path(__file__).resolve().parents[2] / "helm" / "watchtower"


def rendered_config(values: dict[str, Any], role: str) -> dict[str, Any]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values=values, name="wt", namespace="monitoring")
    for doc in yaml.safe_load_all(rendered["watchtower/templates/configmap.yaml"]):
        if doc and doc["metadata"]["name"] == f"wt-watchtower-{role}-config":
            return yaml.safe_load(doc["data"]["config.yaml"])
    raise AssertionError(f"no {role} config rendered")


def probe(daemon: WatchtowerDaemon, path: str) -> int:
    with urllib.request.urlopen(daemon.url + path, timeout=5) as response:
        return response.status


def success(daemon: WatchtowerDaemon) -> dict[str, float]:
    return {dict(labels)["collector"]: value for (name, labels), value in daemon.metrics().items()
            if name == "watchtower_collector_success"}


def test_cluster_role_config_runs_against_a_kubernetes_api(kube_api: KubeAPIServer, tmp_path: Path) -> None:
    kube_api.add_node("cp-1", roles=["control-plane"], kubelet_version="v1.32.1")
    kube_api.add_node("worker-1", kubelet_version="v1.32.1")
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    address = kube_api.url.removeprefix("https://")
    values = {
        "cluster": "e2e",
        "controlPlane": {"apiservers": [address]},
        "deployment": {"config": {
            # In a pod the service account provides these; here the test API server does.
            "kubernetes": {"kubeconfig": str(kubeconfig)},
            "collectors": {
                # null removes the preset's service-account token: anonymous probes.
                "apiserver": {"ca_file": str(kube_api.ca_file), "token_file": None},
                "certs": {"endpoints": [{"address": address, "ca_file": str(kube_api.ca_file)}]},
                "upgrade": {"release_source": "static", "static_latest": "v1.32.1",
                            "state_file": str(tmp_path / "upgrade-state.json")},
            },
        }},
    }
    config = rendered_config(values, "cluster")
    with WatchtowerDaemon(tmp_path, config, name="cluster") as daemon:
        assert probe(daemon, "/healthz") == 200 and probe(daemon, "/readyz") == 200
        ran = success(daemon)
        assert {"nodes", "certs", "apiserver", "upgrade"} <= set(ran), ran
        assert ran["nodes"] == 1 and ran["certs"] == 1, ran
        assert not {"vip", "etcd", "haproxy"} & set(ran), "node-local collectors are off in the cluster role"


def test_node_role_config_runs_without_any_cluster(tmp_path: Path) -> None:
    config = rendered_config({"cluster": "e2e"}, "node")
    with WatchtowerDaemon(tmp_path, config, name="node") as daemon:
        assert probe(daemon, "/healthz") == 200 and probe(daemon, "/readyz") == 200
        ran = success(daemon)
        # No kubeadm tree, VIP, etcd certificate or HAProxy here: certs runs (enabled: true),
        # the others explain why not (enabled: auto).
        assert ran == {"certs": 1.0}, ran
