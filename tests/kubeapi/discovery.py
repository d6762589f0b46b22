"""API discovery for the test server: which group/versions and resources it serves, as the apiserver says.

The documents are the legacy (unaggregated) discovery the apiserver answers to a plain
``Accept: application/json``: ``/api`` → ``APIVersions``, ``/apis`` → ``APIGroupList``,
``/apis/<group>`` → ``APIGroup``, ``/apis/<group>/<version>`` and ``/api/v1`` →
``APIResourceList`` (k8s.io/apimachinery/pkg/apis/meta/v1/types.go; served by
k8s.io/apiserver/pkg/endpoints/discovery/{legacy,root,group,version}.go). Versions in a group are
ordered by priority, the preferred one first, with apimachinery's kube-aware version ordering
(GA before beta before alpha, higher numbers first: pkg/version/helpers.go).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


@dataclass(frozen=True)
class ServedResource:
    resource: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = DEFAULT_VERBS


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key: v1 > v1beta2 > v1beta1 > v1alpha1 > anything not kube-shaped (then by name)."""
    match = _KUBE_VERSION.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


class Discovery:
    """Served API groups beyond the core group, and the discovery documents describing them."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, dict[str, ServedResource]]] = {}

    def serve(self, group: str, version: str, resource: ServedResource) -> None:
        self._groups.setdefault(group, {}).setdefault(version, {})[resource.resource] = resource

    def stop_serving(self, group: str, version: str) -> None:
        """As after the upgrade that removes ``group/version`` (its objects stay, under other versions)."""
        versions = self._groups.get(group, {})
        versions.pop(version, None)
        if not versions:
            self._groups.pop(group, None)

    def lookup(self, group: str, version: str, resource: str) -> ServedResource | None:
        return self._groups.get(group, {}).get(version, {}).get(resource)

    def serves(self, group: str, version: str) -> bool:
        return version in self._groups.get(group, {})

    def _versions(self, group: str) -> list[dict[str, str]]:
        ordered = sorted(self._groups[group], key=version_priority)
        return [{"groupVersion": f"{group}/{v}", "version": v} for v in ordered]

    def _group(self, name: str) -> dict[str, object]:
        versions = self._versions(name)
        return {"name": name, "versions": versions, "preferredVersion": versions[0]}

    def group_list(self) -> dict[str, object]:
        """``GET /apis``."""
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(g) for g in sorted(self._groups)]}

    def group(self, name: str) -> dict[str, object] | None:
        """``GET /apis/<group>``; None when the group is not served."""
        if name not in self._groups:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group(name)}

    def resource_list(self, group: str, version: str) -> dict[str, object] | None:
        """``GET /apis/<group>/<version>``; None when that group/version is not served."""
        resources = self._groups.get(group, {}).get(version)
        if resources is None:
            return None
        return resource_list(f"{group}/{version}", resources.values())


def resource_list(group_version: str, resources: object) -> dict[str, object]:
    """An ``APIResourceList`` (also ``GET /api/v1``, for the core group)."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {"name": r.resource, "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
            for r in resources  # type: ignore[attr-defined]
        ],
    }


def api_versions(server_address: str) -> dict[str, object]:
    """``GET /api``: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}
