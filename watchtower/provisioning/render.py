"""The desired state as files: Grafana file provisioning and a PrometheusRule manifest.

For the Helm chart and for people who mount files instead of letting the daemon call the API.
Secrets are written only as references Grafana resolves at load time — ``$__file{PATH}`` for
a ``*_file`` secret, ``${VARIABLE}`` for a ``*_env`` one — never as values; this module never
reads a secret. Grafana expands ``$VAR`` in most fields of a provisioning file (``$$`` is a
literal ``$``), so a ``$`` there is escaped as ``$$`` — but it stores a rule's ``annotations``
and each query's ``model`` raw (grafana/grafana pkg/services/provisioning/alerting/
rules_types.go: ``Annotations.Raw``, ``Model.Raw``; newer releases expand only ``${VAR}`` in
annotations), so those are written exactly as the API gets them: ``{{ $labels.node }}`` and
``label_replace(..., "$1", ...)`` unescaped.

Layout under the output directory::

    grafana/provisioning/dashboards/watchtower.yaml   dashboard provider (points at the JSON)
    grafana/dashboards/<uid>.json                      one file per dashboard
    grafana/provisioning/alerting/watchtower.yaml      groups, contactPoints, policies
    prometheus/watchtower-prometheusrule.yaml          monitoring.coreos.com/v1 PrometheusRule
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from watchtower.core.settings import SecretRef
from watchtower.provisioning.model import DesiredState, go_duration

DEFAULT_DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards/watchtower"
DEFAULT_GROUP_INTERVAL = "1m"


def escape_dollars(value: Any) -> Any:
    """Every ``$`` doubled in every string, so Grafana's variable expansion leaves it alone."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    return value


def file_rule(body: dict[str, Any]) -> dict[str, Any]:
    """One rule for the alerting file: interpolated fields escaped, annotations and models raw."""
    out = escape_dollars({k: body[k] for k in (
        "uid", "title", "condition", "noDataState", "execErrState", "for", "labels", "isPaused")})
    out["data"] = [{**escape_dollars({k: v for k, v in query.items() if k != "model"}), "model": query["model"]}
                   for query in body["data"]]
    out["annotations"] = dict(body["annotations"])
    return {k: out[k] for k in (
        "uid", "title", "condition", "data", "noDataState", "execErrState", "for", "labels", "annotations", "isPaused")}


def secret_reference(ref: SecretRef) -> str:
    """How Grafana provisioning refers to a secret without containing it."""
    if ref.file is not None:
        return f"$__file{{{ref.file}}}"
    return f"${{{ref.env}}}"


def dashboard_provider(state: DesiredState, dashboards_mount: str) -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": "watchtower", "orgId": 1, "type": "file",
        "folder": state.folder.title, "folderUid": state.folder.uid,
        "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 60,
        "options": {"path": dashboards_mount, "foldersFromFilesStructure": False},
    }]}


def alerting(state: DesiredState) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": 1}
    groups = []
    for group in state.rule_groups:
        rules = []
        for rule in group.rules:
            rules.append(file_rule(rule.body()))
        interval = go_duration(group.interval_seconds) if group.interval_seconds else DEFAULT_GROUP_INTERVAL
        groups.append({"orgId": 1, "name": escape_dollars(group.name), "folder": escape_dollars(state.folder.title),
                       "interval": interval, "rules": rules})
    if groups:
        doc["groups"] = groups
    if state.contact_points:
        by_name: dict[str, list[dict[str, Any]]] = {}
        for point in state.contact_points:
            settings = escape_dollars(point.settings())
            settings.update({key: secret_reference(ref) for key, ref in point.secret_settings})
            by_name.setdefault(point.name, []).append({
                "uid": point.uid, "type": point.type, "settings": settings, "disableResolveMessage": False,
            })
        doc["contactPoints"] = [{"orgId": 1, "name": escape_dollars(name), "receivers": receivers}
                                for name, receivers in by_name.items()]
    policy = state.policy()
    if policy is not None:
        doc["policies"] = [{"orgId": 1, **escape_dollars(policy)}]
    return doc


def prometheus_rule(state: DesiredState, name: str = "watchtower", namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {
        "app.kubernetes.io/name": "watchtower", "app.kubernetes.io/component": "alert-rules"}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": metadata,
            "spec": {"groups": [g.group() for g in state.prometheus_groups]}}


def _dump_yaml(doc: Any, header: str) -> str:
    return f"# {header}\n# Generated by `watchtower render` from dashboards/ and alerts/; do not edit.\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)


def alerting_yaml(state: DesiredState) -> str:
    """The alerting provisioning file's text (also mirrored into the Helm chart)."""
    return _dump_yaml(alerting(state), "Grafana alerting: rules, contact points, notification policy")


def render(state: DesiredState, out: Path, dashboards_mount: str = DEFAULT_DASHBOARDS_MOUNT,
           rule_name: str = "watchtower", namespace: str | None = None) -> list[Path]:
    """Write every file under ``out``; returns the paths written."""
    files: dict[Path, str] = {
        out / "grafana/provisioning/dashboards/watchtower.yaml":
            _dump_yaml(dashboard_provider(state, dashboards_mount), "Grafana dashboard provider"),
        out / "grafana/provisioning/alerting/watchtower.yaml": alerting_yaml(state),
        out / "prometheus/watchtower-prometheusrule.yaml":
            _dump_yaml(prometheus_rule(state, rule_name, namespace), "Prometheus Operator rules"),
    }
    for dashboard in state.dashboards:
        files[out / "grafana/dashboards" / f"{dashboard.uid}.json"] = json.dumps(dashboard.model(), indent=2, sort_keys=True) + "\n"
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)
