"""The ``nodes`` collector: node conditions, taints, versions and readiness transitions from the API.

Nodes are listed page by page as plain JSON (``watchtower.io.kube.list_json_pages``) and each one
is reduced at once to a small ``NodeFacts`` by pure functions that accept the API's JSON (or the
client's ``V1Node``), so a 5,000-node cluster never sits in memory as full objects.

Readiness transitions are counted by this daemon in memory (a counter per node, reset on
restart like any Prometheus counter): a change of the Ready status between two collections is
one transition; an unchanged status with a newer ``lastTransitionTime`` means the node flapped
and came back between collections, counted as two.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from watchtower.collectors import node_lifecycle as nl
from watchtower.collectors.base import Collector, CollectorContext
from watchtower.core.formatting import format_table
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.io.kube import KubeUnavailable, get_json, list_json_pages
from watchtower.upgrades.kubeversion import KubeVersion, kubelet_skew_allowed, minor_distance, try_parse_version

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"
SYSTEM_TAINT_PREFIX = "node.kubernetes.io/"
"""Taints the node lifecycle controller and kubelet set from conditions (not-ready, unreachable,
memory-pressure, ...): bounded in number, unlike user taints, so all of them are exported."""
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")
STATUSES = ("true", "false", "unknown")
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
        return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
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


# ------------------------------------------------------------------ pure: outputs


class _LazySamples(Sequence[Sample]):
    """The samples of a ``CompactFamily``, made one at a time as exposition iterates them."""

    def __init__(self, name: str, labels: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        self._name, self._labels, self._rows = name, labels, rows

    def _sample(self, row: tuple[Any, ...]) -> Sample:
        return Sample(self._name, dict(zip(self._labels, row)), row[-1])

    def __iter__(self) -> Iterator[Sample]:
        return map(self._sample, self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return self._sample(self._rows[index])

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented


class CompactFamily(Metric):
    """A metric family that stores label values as plain tuples and makes prometheus_client
    ``Sample`` objects only when read (once per exposition; /metrics caches the text).

    A ``Sample`` with its labels dict costs about 450 bytes; a row tuple sharing the node-name
    string about 100. For 5,000 nodes (40,000 series) held in the last good snapshot while the
    next collection runs, that is the difference bench/nodes.py measures.
    """

    def __init__(self, name: str, documentation: str, typ: str, labels: tuple[str, ...], sample_suffix: str = "") -> None:
        super().__init__(name, documentation, typ)
        self._labels = labels
        self._sample_name = name + sample_suffix
        self._rows: list[tuple[Any, ...]] = []

    def add(self, label_values: tuple[str, ...], value: float) -> None:
        self._rows.append((*label_values, value))

    @property  # type: ignore[override]
    def samples(self) -> _LazySamples:
        return _LazySamples(self._sample_name, self._labels, self._rows)

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:  # Metric.__init__ assigns []; anything else would be silently lost
            raise TypeError("CompactFamily takes rows through add()")

    def __len__(self) -> int:
        return len(self._rows)


class NodeMetrics:
    """Metric families filled one node at a time (nodes are never all in memory as objects)."""

    def __init__(self) -> None:
        self.condition = CompactFamily(
            "watchtower_node_condition", "Node condition: one series per condition, always 1, its status "
            "label (true, false, unknown) the current status.", "gauge", ("node", "condition", "status"))
        self.unschedulable = CompactFamily(
            "watchtower_node_unschedulable", "1 if the node is cordoned (spec.unschedulable).", "gauge", ("node",))
        self.taint = GaugeMetricFamily(
            "watchtower_node_taint", "1 per node.kubernetes.io/* taint on the node (not-ready, unreachable, "
            "pressure, ...).", labels=("node", "key", "effect"))
        self.info = CompactFamily(
            "watchtower_node", "Node facts: roles, kubelet version, container runtime, OS image, kernel.", "info",
            ("node", "roles", "kubelet_version", "container_runtime", "os_image", "kernel_version"), "_info")
        self.skew = CompactFamily(
            "watchtower_node_kubelet_minor_skew", "apiserver minor − kubelet minor; the policy allows 0 to 3 "
            "(kubelets up to three minors older, never newer).", "gauge", ("node",))

    def add(self, node: NodeFacts, skew: int | None) -> None:
        for c in node.conditions:
            self.condition.add((node.name, c.type, c.status), 1.0)
        self.unschedulable.add((node.name,), 1.0 if node.unschedulable else 0.0)
        for key, effect in node.system_taints:
            self.taint.add_metric((node.name, key, effect), 1.0)
        self.info.add((node.name, sys.intern(",".join(node.roles)), node.kubelet_version, node.container_runtime,
                       node.os_image, node.kernel_version), 1.0)
        if skew is not None:
            self.skew.add((node.name,), float(skew))

    def lifecycle(self, outcome: nl.LifecycleOutcome, lead: float) -> tuple[Metric, ...]:
        """The OS and runtime lifecycle families (see ``node_lifecycle``), rows kept compact like the rest."""
        out: list[Metric] = []
        for name, doc, typ, labels, rows, suffix in nl.FAMILIES(outcome):
            family = CompactFamily(name, doc, typ, labels, suffix)
            for row in rows:
                family.add(row[:-1], row[-1])
            out.append(family)
        lead_family = GaugeMetricFamily("watchtower_node_lifecycle_reminder_lead_seconds",
                                        "How long before an OS end of life NodeOSEndOfLifeSoon fires (lifecycle.reminder_lead).")
        lead_family.add_metric((), lead)
        return (*out, lead_family)

    def families(self, transitions: Mapping[str, int], count: int) -> tuple[Metric, ...]:
        counter = CompactFamily(
            "watchtower_node_ready_transitions", "Ready condition transitions seen by this watchtower process "
            "since it started (in memory).", "counter", ("node",), "_total")
        for name, total in sorted(transitions.items()):
            counter.add((name,), float(total))
        nodes = GaugeMetricFamily("watchtower_nodes", "Nodes listed in the last collection.")
        nodes.add_metric((), float(count))
        return (self.condition, self.unschedulable, self.taint, self.info, self.skew, counter, nodes)


def node_findings(node: NodeFacts, skew: int | None) -> list[Finding]:
    out = []
    if node.ready != "true":
        out.append(Finding("nodes", node.name, Severity.CRITICAL, f"not ready (Ready={node.ready})"))
    pressures = [c.type for c in node.conditions if c.type in PRESSURE_CONDITIONS and c.status == "true"]
    if pressures:
        out.append(Finding("nodes", node.name, Severity.WARNING, "under " + ", ".join(pressures)))
    if skew is not None and not kubelet_skew_allowed(skew):
        direction = "newer than" if skew < 0 else f"{skew} minors older than"
        out.append(Finding("nodes", node.name, Severity.WARNING,
                           f"kubelet {node.kubelet_version} is {direction} the apiserver (policy: up to 3 older, never newer)"))
    return out


def node_row(node: NodeFacts, skew: int | None, transitions: int) -> dict[str, Any]:
    return {
        "name": node.name,
        "roles": list(node.roles),
        "ready": node.ready,
        "kubelet": node.kubelet_version,
        "skew": skew,
        "problems": list(node.problems),
        "taints": [f"{k}:{e}" for k, e in node.system_taints],
        "ready_transitions": transitions,
    }


class NodesCollector(Collector):
    name: ClassVar[str] = "nodes"
    description: ClassVar[str] = "Node conditions, taints, kubelet versions and skew, readiness transitions, OS and runtime lifecycle"
    Settings: ClassVar[type[CollectorSettings]] = nl.NodesSettings

    def __init__(self, settings: CollectorSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.lifecycle_settings: nl.LifecycleSettings = getattr(settings, "lifecycle", nl.LifecycleSettings())
        self.lifecycle = nl.make_source(self.lifecycle_settings, context.clock, float(settings.timeout))
        self.transitions = TransitionCounter()
        self._lock = threading.Lock()

    @classmethod
    def unavailable_reason(cls, settings: CollectorSettings, context: CollectorContext) -> str | None:
        try:
            context.kube.source()
        except KubeUnavailable as exc:
            return str(exc)
        return None

    def collect(self) -> CollectResult:
        with self._lock:
            return self._collect()

    def _collect(self) -> CollectResult:
        api = self.context.kube.api_client()  # KubeUnavailable: the whole run failed, say why
        timeout = self.context.config.kubernetes.request_timeout
        errors: list[ItemError] = []
        apiserver = None
        try:
            git_version = get_json(api, "/version", timeout=timeout).get("gitVersion")
            apiserver = try_parse_version(git_version)
            if apiserver is None:
                errors.append(ItemError("/version", "parse_error", f"gitVersion {git_version!r} is not a version"))
        except Exception as exc:  # noqa: BLE001 - skew is then unknown; the nodes still count
            errors.append(ItemError("/version", "unreachable", f"{type(exc).__name__}: {exc}"[:300]))
        metrics = NodeMetrics()
        findings: list[Finding] = []
        rows: list[tuple[NodeFacts, int | None]] = []
        listed: list[NodeFacts] = []
        tally = nl.LifecycleTally()
        count = 0
        pages = list_json_pages(api, "/api/v1/nodes", self.context.config.kubernetes.page_size, timeout)
        for raw in pages:  # an API error mid-list raises: a partial node list is not a result
            try:
                node = node_facts(raw)
            except ValueError as exc:
                errors.append(ItemError("node <unnamed>", "parse_error", str(exc)))
                continue
            count += 1
            skew = kubelet_skew(apiserver, node)
            metrics.add(node, skew)
            tally.add(node.name, node.os_image, node.container_runtime, node.roles)
            node_problems = node_findings(node, skew)
            findings += node_problems
            if node_problems or len(rows) < DETAILS_MAX_NODES:
                rows.append((node, skew))
            listed.append(_slim(node))
        self.transitions.observe(listed)
        totals = self.transitions.totals
        ready = sum(1 for n in listed if n.ready == "true")
        if count and not findings:
            findings.append(Finding("nodes", "all", Severity.OK, f"{count} nodes, all ready"))
        facts = self.lifecycle.facts(tally.products())
        if facts.error is not None:
            errors.append(ItemError(f"lifecycle source {self.lifecycle.describe()}", facts.error.reason, facts.error.detail))
        lead = float(self.lifecycle_settings.reminder_lead)
        outcome = tally.finish(facts, self.context.clock(), lead)
        findings += outcome.findings
        details = {
            "apiserver_version": str(apiserver) if apiserver else None,
            "nodes_total": count,
            "nodes_ready": ready,
            "nodes_shown": len(rows),
            "nodes": [node_row(n, s, totals.get(n.name, 0)) for n, s in rows[: DETAILS_MAX_NODES + 100]],
            "lifecycle": outcome.details,
        }
        return CollectResult(
            metrics=metrics.families(totals, count) + metrics.lifecycle(outcome, lead),
            errors=tuple(errors),
            findings=tuple(findings),
            details=details,
        )

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        return render_check(details)


def _slim(node: NodeFacts) -> NodeFacts:
    """Only what the transition counter needs, so 5,000 nodes keep little memory between pages."""
    ready = node.condition("Ready")
    return NodeFacts(node.name, (), "", "", "", "", False, (ready,) if ready else (), ())


def render_check(d: Mapping[str, Any]) -> list[str]:
    """The ``watchtower check`` Nodes section: a summary line, then nodes with problems first."""
    total, ready = d.get("nodes_total", 0), d.get("nodes_ready", 0)
    lines = [f"NODES  {ready}/{total} ready; apiserver {d.get('apiserver_version') or 'unknown'} "
             f"(kubelets may be up to 3 minors older, never newer)"]
    nodes = sorted(d.get("nodes") or (), key=lambda n: (not n["problems"] and n["skew"] in (0, 1, 2, 3, None), n["name"]))
    shown = nodes[:CHECK_TABLE_MAX_ROWS]
    rows = [(n["name"], ",".join(n["roles"]) or "<none>", n["ready"], n["kubelet"],
             "?" if n["skew"] is None else str(n["skew"]), str(n["ready_transitions"]),
             ", ".join(n["problems"] + n["taints"]) or "-") for n in shown]
    lines += ["  " + line for line in format_table(("NODE", "ROLES", "READY", "KUBELET", "SKEW", "FLAPS", "PROBLEMS"), rows)]
    if total > len(shown):
        lines.append(f"  ... {total - len(shown)} more nodes not shown (all nodes with problems are listed first)")
    if d.get("lifecycle"):
        lines += nl.render_check(d["lifecycle"])
    return lines
