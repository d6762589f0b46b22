"""A Kubernetes 1.15 cluster on the test API server: its discovery, applied objects, Helm releases, /metrics.

Served versions follow Kubernetes v1.15's defaults (pkg/master/master.go
``DefaultAPIResourceConfigSource``: extensions/v1beta1, apps/v1beta1, apps/v1beta2 and apps/v1
still on, networking.k8s.io/v1beta1 since 1.14, policy/v1beta1), for the resources the removal
data names plus their replacements.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.kubeapi import KubeAPIServer
from tests.kubeapi.objects import applied
from tests.support import helm_release as hr

SERVED_1_15: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "extensions/v1beta1": (("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True),
                           ("replicasets", "ReplicaSet", True), ("ingresses", "Ingress", True),
                           ("networkpolicies", "NetworkPolicy", True), ("podsecuritypolicies", "PodSecurityPolicy", False)),
    "apps/v1beta1": (("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)),
    "apps/v1beta2": (("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True),
                     ("replicasets", "ReplicaSet", True), ("statefulsets", "StatefulSet", True)),
    "apps/v1": (("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True),
                ("replicasets", "ReplicaSet", True), ("statefulsets", "StatefulSet", True)),
    "networking.k8s.io/v1": (("networkpolicies", "NetworkPolicy", True),),
    "networking.k8s.io/v1beta1": (("ingresses", "Ingress", True),),
    "policy/v1beta1": (("poddisruptionbudgets", "PodDisruptionBudget", True),
                       ("podsecuritypolicies", "PodSecurityPolicy", False)),
    "authentication.k8s.io/v1beta1": (),
}
REVIEW_1_15 = ("authentication.k8s.io/v1beta1", "tokenreviews", "TokenReview")  # create-only: never listed

DEPLOYMENT_SPEC = {
    "replicas": 1,
    "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}},
                 "spec": {"containers": [{"name": "web", "image": "registry.example.org/web:1.0"}]}},
}


def serve_1_15(api: KubeAPIServer) -> None:
    api.set_version("v1.15.12")
    for api_version, resources in SERVED_1_15.items():
        for resource, kind, namespaced in resources:
            api.serve(api_version, resource, kind, namespaced=namespaced)
    version, resource, kind = REVIEW_1_15
    api.serve(version, resource, kind, namespaced=False, verbs=("create",))


def add_deployment(api: KubeAPIServer, namespace: str, name: str, applied_as: str | None) -> dict[str, Any]:
    """A Deployment last applied as ``applied_as`` (None: made without kubectl apply)."""
    body = applied(applied_as or "apps/v1", "Deployment", namespace, name, DEPLOYMENT_SPEC, last_applied=applied_as is not None)
    return api.add_object("deployments", body)


LEGACY_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: legacy\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    "values.yaml": "replicas: 2\ningressApiVersion: extensions/v1beta1\n",
    "templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: \"registry.example.org/web:1.0\"}]}\n"),
    "templates/ingress.yaml": (
        "apiVersion: {{ .Values.ingressApiVersion }}\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "spec:\n  backend: {serviceName: {{ .Release.Name }}-web, servicePort: 80}\n"),
    "templates/service.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "spec:\n  ports: [{port: 80}]\n  selector: {app: web}\n"),
    "templates/NOTES.txt": "Installed {{ .Release.Name }}.\n",
}


def write_chart(directory: Path, files: Mapping[str, str] = LEGACY_CHART) -> Path:
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def add_helm_release(api: KubeAPIServer, chart_dir: Path, name: str, namespace: str, *, revision: int = 1,
                     status: str = "deployed", values: Mapping[str, Any] | None = None) -> str:
    """Render the chart with the embedded Helm and store the release as Helm's Secrets driver does."""
    manifest = hr.manifest_from_rendered(hr.render_chart(chart_dir, name, namespace, values))
    document = hr.release_document(name, namespace, manifest, revision=revision, status=status)
    api.add_secret(namespace, hr.secret_name(name, revision), type="helm.sh/release.v1",
                   data={"release": hr.encode_release(document)}, labels=hr.secret_labels(name, revision, status))
    return manifest


METRICS_1_15 = """\
# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="extensions",resource="deployments",scope="namespace",subresource="",verb="LIST",version="v1beta1"} 7
# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="extensions",removed_release="1.16",resource="deployments",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="extensions",removed_release="1.22",resource="ingresses",subresource="status",version="v1beta1"} 1
"""
