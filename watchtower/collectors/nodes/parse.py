"""Pure parts: a Node (API JSON or V1Node) → small NodeFacts, roles, kubelet skew, readiness transitions; no I/O."""

from __future__ import annotations

import dataclasses
import datetime
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from watchtower.upgrades.kubeversion import KubeVersion, minor_distance, try_parse_version

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"
SYSTEM_TAINT_PREFIX = "node.kubernetes.io/"
"""Taints the node lifecycle controller and kubelet set from conditions (not-ready, unreachable,
memory-pressure, ...): bounded in number, unlike user taints, so all of them are exported."""
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")
CHECK_TABLE_MAX_ROWS = 40
DETAILS_MAX_NODES = 200


@dataclasses.dataclass(frozen=True)
class NodeCondition:
    type: str
    status: str  # "true" | "false" | "unknown"
    reason: str
    message: str
    last_transition: float | None


@dataclasses.dataclass(frozen=True)
class NodeFacts:
    """What watchtower keeps of one Node."""

    name: str
    roles: tuple[str, ...]
    kubelet_version: str
    container_runtime: str
    os_image: str
    kernel_version: str
    unschedulable: bool
    conditions: tuple[NodeCondition, ...]
    system_taints: tuple[tuple[str, str], ...]  # (key, effect)

    @property
    def kubelet(self) -> KubeVersion | None:
        return try_parse_version(self.kubelet_version)

    def condition(self, kind: str) -> NodeCondition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def ready(self) -> str:
        """``true``, ``false`` or ``unknown`` (no Ready condition counts as unknown)."""
        c = self.condition("Ready")
        return c.status if c else "unknown"

    @property
    def problems(self) -> tuple[str, ...]:
        """Short human descriptions of what is wrong with this node, empty if nothing."""
        out = []
        if self.ready != "true":
            out.append(f"Ready={self.ready}")
        for c in self.conditions:
            if c.type != "Ready" and c.status == "true":
                out.append(c.type)
        if self.unschedulable:
            out.append("cordoned")
        return tuple(out)


# ------------------------------------------------------------------ pure: Node → NodeFacts


def _get(obj: Any, snake: str, camel: str | None = None) -> Any:
    """A field of a client model (snake_case attribute) or of API JSON (camelCase key)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(camel or snake)
    return getattr(obj, snake, None)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


_STATUS_LABELS = {"true": "true", "false": "false", "unknown": "unknown"}


def condition_status(value: Any) -> str:
    """Kubernetes' ``True``/``False``/``Unknown`` → the label value ``true``/``false``/``unknown``."""
    return _STATUS_LABELS.get(str(value).lower(), "unknown") if value is not None else "unknown"


def _shared(value: Any) -> str:
    """Text repeated on thousands of nodes (condition types, versions, OS images) kept once."""
    return sys.intern(str(value or ""))


def node_roles(labels: Mapping[str, str] | None) -> tuple[str, ...]:
    """Roles from ``node-role.kubernetes.io/<role>`` labels (and the legacy ``kubernetes.io/role``)."""
    roles = set()
    for key, value in (labels or {}).items():
        if key.startswith(ROLE_LABEL_PREFIX) and key != ROLE_LABEL_PREFIX:
            roles.add(key[len(ROLE_LABEL_PREFIX):])
        elif key == LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return tuple(sorted(sys.intern(r) for r in roles))


def node_facts(node: Any) -> NodeFacts:
    """Reduce a Node (``V1Node`` or its JSON as a dict) to ``NodeFacts``. ValueError without a name."""
    metadata = _get(node, "metadata")
    name = _get(metadata, "name")
    if not name:
        raise ValueError("node without metadata.name")
    spec = _get(node, "spec")
    status = _get(node, "status")
    info = _get(status, "node_info", "nodeInfo")
    conditions = []
    for c in _get(status, "conditions") or ():
        kind = _get(c, "type")
        if not kind:
            continue
        conditions.append(NodeCondition(
            type=_shared(kind),
            status=condition_status(_get(c, "status")),
            reason=str(_get(c, "reason") or ""),
            message=str(_get(c, "message") or ""),
            last_transition=_timestamp(_get(c, "last_transition_time", "lastTransitionTime")),
        ))
    taints = []
    for t in _get(spec, "taints") or ():
        key, effect = _get(t, "key"), _get(t, "effect")
        if key and str(key).startswith(SYSTEM_TAINT_PREFIX):
            taints.append((_shared(key), _shared(effect)))
    return NodeFacts(
        name=str(name),
        roles=node_roles(_get(metadata, "labels")),
        kubelet_version=_shared(_get(info, "kubelet_version", "kubeletVersion")),
        container_runtime=_shared(_get(info, "container_runtime_version", "containerRuntimeVersion")),
        os_image=_shared(_get(info, "os_image", "osImage")),
        kernel_version=_shared(_get(info, "kernel_version", "kernelVersion")),
        unschedulable=bool(_get(spec, "unschedulable")),
        conditions=tuple(conditions),
        system_taints=tuple(sorted(set(taints))),
    )


def kubelet_skew(apiserver: KubeVersion | None, node: NodeFacts) -> int | None:
    """``apiserver minor − kubelet minor`` (policy: 0..3), None when either is unknown."""
    kubelet = node.kubelet
    if apiserver is None or kubelet is None:
        return None
    return minor_distance(apiserver, kubelet)


# ------------------------------------------------------------------ pure: readiness transitions


@dataclasses.dataclass(frozen=True)
class ReadySeen:
    status: str
    last_transition: float | None


def count_transitions(previous: ReadySeen | None, current: ReadySeen) -> int:
    """Transitions between two observations of one node's Ready condition (see module doc)."""
    if previous is None:
        return 0
    if previous.status != current.status:
        return 1
    if (current.last_transition is not None and previous.last_transition is not None
            and current.last_transition > previous.last_transition):
        return 2  # left the status and came back between the two collections
    return 0


class TransitionCounter:
    """Per-node readiness transition totals, kept for the life of the collector."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self._seen: dict[str, ReadySeen] = {}

    def observe(self, nodes: Iterable[NodeFacts]) -> None:
        present = set()
        for node in nodes:
            present.add(node.name)
            ready = node.condition("Ready")
            current = ReadySeen(node.ready, ready.last_transition if ready else None)
            self.totals[node.name] = self.totals.get(node.name, 0) + count_transitions(self._seen.get(node.name), current)
            self._seen[node.name] = current
        for gone in set(self._seen) - present:  # deleted nodes: drop their series
            del self._seen[gone]
            self.totals.pop(gone, None)
