"""Both ways the chart gets alert rules into a kube-prometheus-stack Grafana, rendered for real.

1. The alerting ConfigMap, for the grafana chart's alerts sidecar (kiwigrid/k8s-sidecar). What
   the sidecar loads is decided here by ``sidecar_loads``, which mirrors grafana/helm-charts
   ``charts/grafana/values.yaml`` + ``templates/_pod.tpl``: the sidecar container exists only with
   ``sidecar.alerts.enabled`` (default false); it selects ConfigMaps by the label key
   ``sidecar.alerts.label`` (default ``grafana_alert``) and, when ``labelValue`` is non-empty
   (default ""), its value; ``searchNamespace`` becomes its NAMESPACE (a list or ``ALL``), and
   without it k8s-sidecar watches only the namespace Grafana runs in.
2. The daemon's API provisioner (``grafana.provisioner.url``), which needs nothing from Grafana's
   chart.

The kube-prometheus-stack values a user must set are read from the chart README, so the
documentation is what is tested.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_helm_chart import NAMESPACE, manifests, of_kind, one, render, rendered_configs

pytestmark = pytest.mark.helm

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_NAMESPACE = "grafana-ns"  # where kube-prometheus-stack's Grafana runs, not the release namespace
GRAFANA_CHART_SIDECAR_DEFAULTS = {"enabled": False, "label": "grafana_alert", "labelValue": "", "searchNamespace": None}


def sidecar_loads(configmap: Mapping[str, Any], grafana_values: Mapping[str, Any], grafana_namespace: str) -> bool:
    """Would the grafana chart's alerts sidecar, with these chart values, load this ConfigMap?"""
    alerts = {**GRAFANA_CHART_SIDECAR_DEFAULTS, **(grafana_values.get("sidecar", {}).get("alerts") or {})}
    if not alerts["enabled"]:
        return False
    labels = configmap["metadata"].get("labels") or {}
    if alerts["label"] not in labels:
        return False
    if alerts["labelValue"] and labels[alerts["label"]] != str(alerts["labelValue"]):
        return False
    search = alerts["searchNamespace"]
    if search is None:
        namespaces = {grafana_namespace}
    else:
        namespaces = set(search) if isinstance(search, list) else {n.strip() for n in str(search).split(",")}
    return "ALL" in namespaces or configmap["metadata"]["namespace"] in namespaces


def readme_kube_prometheus_stack_values() -> dict[str, Any]:
    """The kube-prometheus-stack values the chart README tells the user to set."""
    text = (ROOT / "helm" / "watchtower" / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    found = [b for b in blocks if isinstance(b, dict) and "sidecar" in (b.get("grafana") or {})]
    assert len(found) == 1, "the chart README should show exactly one kube-prometheus-stack grafana.sidecar block"
    return found[0]["grafana"]


def alerting_configmap(values: Mapping[str, Any]) -> dict[str, Any]:
    docs = manifests(render(values))
    maps = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-grafana-alerting")]
    assert len(maps) == 1
    return maps[0]


def test_default_kube_prometheus_stack_does_not_load_the_configmap() -> None:
    """What issue 12 found: the sidecar is off by default, so nothing loads the rules."""
    cm = alerting_configmap({"grafana": {"alerting": {"enabled": True}}})
    assert not sidecar_loads(cm, {}, GRAFANA_NAMESPACE)
    # switched on but left at its default namespace: still not, the ConfigMap is in the release's
    assert not sidecar_loads(cm, {"sidecar": {"alerts": {"enabled": True}}}, GRAFANA_NAMESPACE)


def test_readme_values_make_the_sidecar_load_the_configmap() -> None:
    grafana_values = readme_kube_prometheus_stack_values()
    cm = alerting_configmap({"grafana": {"alerting": {"enabled": True}}})
    assert cm["metadata"]["namespace"] == NAMESPACE != GRAFANA_NAMESPACE
    assert sidecar_loads(cm, grafana_values, GRAFANA_NAMESPACE)
    text = next(iter(cm["data"].values()))
    assert "$$" not in text, "annotations and queries are stored raw by Grafana: no $$ escapes"
    assert yaml.safe_load(text)["groups"], "the ConfigMap carries the rule groups"


def test_configmap_in_grafanas_namespace_needs_only_the_sidecar_switched_on() -> None:
    cm = alerting_configmap({"grafana": {"alerting": {"enabled": True, "namespace": GRAFANA_NAMESPACE}}})
    assert cm["metadata"]["namespace"] == GRAFANA_NAMESPACE
    assert sidecar_loads(cm, {"sidecar": {"alerts": {"enabled": True}}}, GRAFANA_NAMESPACE)
    assert not sidecar_loads(cm, {}, GRAFANA_NAMESPACE)


def test_a_label_value_filter_that_does_not_match_is_caught() -> None:
    """The model is strict enough to fail: a sidecar filtering on another value loads nothing."""
    cm = alerting_configmap({"grafana": {"alerting": {"enabled": True, "namespace": GRAFANA_NAMESPACE}}})
    assert not sidecar_loads(cm, {"sidecar": {"alerts": {"enabled": True, "labelValue": "yes"}}}, GRAFANA_NAMESPACE)


def test_api_provisioner_path_needs_no_sidecar() -> None:
    docs = manifests(render({
        "grafana": {"provisioner": {"url": "http://grafana.grafana-ns.svc"}},
        "secrets": {"grafanaToken": {"name": "grafana-sa", "key": "token"}},
    }))
    assert not [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-grafana-alerting")]
    configs = {name: yaml.safe_load(text) for name, text in rendered_configs(docs).items()}
    grafana = [c["collectors"]["grafana"] for c in configs.values() if (c.get("collectors") or {}).get("grafana", {}).get("url")]
    assert len(grafana) == 1, "exactly one workload (the cluster Deployment) runs the provisioner"
    assert grafana[0]["url"] == "http://grafana.grafana-ns.svc"
    assert grafana[0]["token_file"].startswith("/")
    deployment = one(docs, "Deployment", "wt-watchtower")
    assert deployment["spec"]["replicas"] == 1
