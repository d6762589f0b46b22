"""Helm v3 releases built the way Helm builds and stores them, for the test Kubernetes API.

- The manifest: the embedded Helm (PyPI helm-python-sdk) renders the chart; the rendered files
  are sorted into install order and joined as Helm's ``pkg/action/install.go``
  ``renderResources`` does: ``"---\\n# Source: %s\\n%s\\n"`` per manifest, NOTES.txt dropped.
  The order is ``pkg/releaseutil/kind_sorter.go``'s ``InstallOrder`` (kinds it does not list go
  last, by name); the ordering does not change what watchtower reads, only its fidelity.
- The release: ``pkg/release/release.go``'s JSON field names (name, info, chart, config,
  manifest, version, namespace), ``info.status`` "deployed"/"superseded".
- The storage: ``pkg/storage/driver/util.go`` ``encodeRelease``: ``json.Marshal`` (compact, with
  Go's HTML escaping of <, >, &), gzip at BestCompression (level 9, mtime 0: the same header
  Go's gzip.Writer writes), base64 StdEncoding; ``secrets.go`` ``newSecretsObject``: Secret
  ``sh.helm.release.v1.<name>.v<version>``, type ``helm.sh/release.v1``, labels name, owner=helm,
  status, version, and ``data.release`` = that base64 text (which the API base64-encodes again).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INSTALL_ORDER = (
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
)


def _kind_of(content: str) -> str:
    for line in content.splitlines():
        if line.startswith("kind:"):
            return line.split(":", 1)[1].strip()
    return ""


def manifest_from_rendered(rendered: Mapping[str, str]) -> str:
    """Helm's release manifest from a chart's rendered files (path → content)."""
    files = [(path, text) for path, text in rendered.items() if not path.endswith("NOTES.txt") and text.strip()]

    def order(item: tuple[str, str]) -> tuple[int, str]:
        kind = _kind_of(item[1])
        return (INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER), item[0])

    return "".join(f"---\n# Source: {path}\n{text}\n" for path, text in sorted(files, key=order))


def render_chart(chart_dir: Path, name: str, namespace: str, values: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The chart rendered by the embedded Helm (helm-python-sdk)."""
    import helm_python

    with helm_python.Chart.load(str(chart_dir)) as chart:
        return dict(chart.render(values=dict(values or {}), name=name, namespace=namespace))


def release_document(
    name: str, namespace: str, manifest: str, *, revision: int = 1, status: str = "deployed",
    chart_name: str = "legacy", chart_version: str = "0.1.0", deployed: str = "2019-06-01T10:00:00Z",
) -> dict[str, Any]:
    """A release as ``pkg/release/release.go`` marshals it (the fields Helm always writes)."""
    return {
        "name": name,
        "info": {"first_deployed": deployed, "last_deployed": deployed, "deleted": "", "description": "Install complete",
                 "status": status},
        "chart": {"metadata": {"name": chart_name, "version": chart_version, "apiVersion": "v2"}, "lock": None,
                  "templates": [], "values": {}, "schema": None, "files": []},
        "config": {},
        "manifest": manifest,
        "version": revision,
        "namespace": namespace,
    }


def go_json(value: Any) -> bytes:
    """``encoding/json.Marshal``: compact, UTF-8, and <, >, & escaped as \\u003c, \\u003e, \\u0026."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def encode_release(release: Mapping[str, Any]) -> str:
    """Helm's ``encodeRelease``: base64(gzip_best(json(release))).

    Go's gzip.Writer writes the OS byte as 255 (unknown) where zlib writes 3 (Unix); the header
    is not checksummed, so it is set to Go's value for a byte-faithful stream.
    """
    stream = bytearray(gzip.compress(go_json(release), compresslevel=9, mtime=0))
    stream[9] = 255
    return base64.b64encode(bytes(stream)).decode()


def secret_name(name: str, revision: int) -> str:
    return f"sh.helm.release.v1.{name}.v{revision}"


def secret_labels(name: str, revision: int, status: str) -> dict[str, str]:
    return {"name": name, "owner": "helm", "status": status, "version": str(revision)}
