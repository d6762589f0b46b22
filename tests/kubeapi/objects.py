"""Builders for the Kubernetes objects the test server stores, shaped like a kubeadm cluster's.

Objects carry every field the official client's models and watchtower's collectors read
(node conditions and nodeInfo, Secret ``type`` and base64 ``data``...), so code under test meets
the same shapes as in production. Builders return plain dicts *without* server-owned metadata
(``uid``, ``resourceVersion``, ``creationTimestamp``): the store stamps those.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

CONDITION_TYPES = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")

# (reason, message) of each node condition by its status, as the kubelet writes them.
_PRESSURE_TEXT = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}
_READY_TEXT = {
    "True": ("KubeletReady", "kubelet is posting ready status"),
    "False": ("KubeletNotReady", "container runtime network not ready: NetworkReady=false"),
    "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
}

DEFAULT_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, the format of every apiserver timestamp."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition_status(value: bool | str | None) -> str:
    """Kubernetes condition statuses are the strings True/False/Unknown; accept bools too."""
    if value is None:
        return "Unknown"
    if isinstance(value, bool):
        return "True" if value else "False"
    if value not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, not {value!r}")
    return value


def _condition(kind: str, status: str, now: str) -> dict[str, str]:
    if kind == "Ready":
        reason, message = _READY_TEXT[status]
    elif kind in _PRESSURE_TEXT and status == "False":
        reason, message = _PRESSURE_TEXT[kind]
    else:
        reason, message = f"Kubelet{kind}", f"kubelet reports {kind}={status}"
    return {
        "type": kind,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def node_conditions(
    ready: bool | str | None, conditions: Mapping[str, bool | str | None] | Iterable[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The four kubelet conditions; a mapping overrides statuses, a list of dicts replaces them all."""
    now = timestamp()
    if conditions is not None and not isinstance(conditions, Mapping):
        return [dict(c) for c in conditions]
    statuses: dict[str, str] = {kind: "False" for kind in CONDITION_TYPES}
    statuses["Ready"] = condition_status(ready)
    for kind, value in (conditions or {}).items():
        statuses[kind] = condition_status(value)
    return [_condition(kind, status, now) for kind, status in statuses.items()]


def _stable_hex(seed: str, length: int = 32) -> str:
    """Deterministic ids (machineID, bootID) so two builds of one node compare equal."""
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _node_labels(name: str, roles: Iterable[str], extra: Mapping[str, str] | None) -> dict[str, str]:
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    for role in roles:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    if "control-plane" in roles:
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    labels.update(extra or {})
    return labels


def _node_address(name: str) -> str:
    """A stable 10.0.0.x InternalIP per node name."""
    return f"10.0.0.{int(_stable_hex(name, 4), 16) % 250 + 2}"


def node(
    name: str,
    *,
    roles: Iterable[str] = ("control-plane",),
    kubelet_version: str = "v1.30.2",
    ready: bool | str | None = True,
    conditions: Mapping[str, bool | str | None] | Iterable[Mapping[str, Any]] | None = None,
    taints: Iterable[Mapping[str, Any]] = (),
    unschedulable: bool = False,
    container_runtime: str = "containerd://1.7.13",
    os_image: str = "Ubuntu 22.04.4 LTS",
    kernel_version: str = "5.15.0-105-generic",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Node as a kubeadm-joined kubelet registers it."""
    roles = tuple(roles)
    capacity = {"cpu": "4", "ephemeral-storage": "101430960Ki", "hugepages-2Mi": "0", "memory": "8148508Ki", "pods": "110"}
    spec: dict[str, Any] = {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "metadata": {
            "name": name,
            "labels": _node_labels(name, roles, labels),
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": _node_address(name)}, {"type": "Hostname", "address": name}],
            "allocatable": dict(capacity, memory="8046108Ki"),
            "capacity": capacity,
            "conditions": node_conditions(ready, conditions),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": _stable_hex("boot" + name),
                "containerRuntimeVersion": container_runtime,
                "kernelVersion": kernel_version,
                "kubeProxyVersion": kubelet_version,
                "kubeletVersion": kubelet_version,
                "machineID": _stable_hex("machine" + name),
                "operatingSystem": "linux",
                "osImage": os_image,
                "systemUUID": _stable_hex("uuid" + name),
            },
        },
    }


def _b64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def secret(namespace: str, name: str, *, type: str = "kubernetes.io/tls", data: Mapping[str, bytes | str] | None = None,
           labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Secret; ``data`` values are raw bytes and are base64-encoded as the API does."""
    body: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}, "type": type}
    if labels:
        body["metadata"]["labels"] = dict(labels)
    if data:
        body["data"] = {key: _b64(value) for key, value in data.items()}
    return body


def configmap(namespace: str, name: str, data: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A ConfigMap, e.g. kube-system/kubeadm-config with its ClusterConfiguration."""
    body: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}}
    if data:
        body["data"] = dict(data)
    return body


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def applied(api_version: str, kind: str, namespace: str | None, name: str, spec: Mapping[str, Any] | None = None, *,
            last_applied: bool = True, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An object as ``kubectl apply -f`` leaves it, stored without kind/apiVersion like every object here.

    kubectl records the manifest it applied in the ``last-applied-configuration`` annotation
    (k8s.io/kubectl/pkg/util/apply.go ``GetModifiedConfiguration``): the object without that
    annotation, JSON-encoded by the unstructured encoder (map keys sorted, compact, a trailing
    newline). ``last_applied=False`` is an object made by ``kubectl create`` or a controller.
    """
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": dict(metadata), "spec": dict(spec or {})}
    if last_applied:
        metadata["annotations"] = {LAST_APPLIED: json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"}
    return {"metadata": metadata, "spec": dict(spec or {})}


def namespace(name: str) -> dict[str, Any]:
    """An Active Namespace with the immutable name label every namespace has since 1.21."""
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


_VERSION = re.compile(r"^v(\d+)\.(\d+)\.\d+")


def version_info(git_version: str = "v1.30.2", **overrides: str) -> dict[str, str]:
    """The ``/version`` body; ``major``/``minor`` derive from ``git_version`` unless overridden."""
    match = _VERSION.match(git_version)
    if not match:
        raise ValueError(f"git_version must look like v1.30.2, not {git_version!r}")
    info = {
        "major": match.group(1),
        "minor": match.group(2),
        "gitVersion": git_version,
        "gitCommit": _stable_hex(git_version, 40),
        "gitTreeState": "clean",
        "buildDate": "2024-06-11T20:21:00Z",
        "goVersion": "go1.22.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    info.update(overrides)
    return info
