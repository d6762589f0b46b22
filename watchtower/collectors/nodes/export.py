"""Pure outputs: NodeFacts → compact metric families, findings, details rows and the check table."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from watchtower.collectors import node_lifecycle as nl
from watchtower.collectors.nodes import families as fam
from watchtower.collectors.nodes.parse import CHECK_TABLE_MAX_ROWS, PRESSURE_CONDITIONS, NodeFacts
from watchtower.core.details import Details
from watchtower.core.families import Family
from watchtower.core.formatting import format_table
from watchtower.core.results import Finding, Severity
from watchtower.upgrades.kubeversion import kubelet_skew_allowed

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

    @classmethod
    def of(cls, family: Family) -> CompactFamily:
        """An empty compact family as declared (``families.py``)."""
        return cls(family.name, family.help, family.type, family.labels, family.exposed.removeprefix(family.name))

    def add(self, label_values: tuple[str, ...], value: float) -> None:
        self._rows.append((*label_values, value))

    def add_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows already shaped ``(*label_values, value)``, kept as they are (no copy per row)."""
        if self._rows:
            self._rows.extend(rows)
        else:
            self._rows = rows

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
        self.condition = CompactFamily.of(fam.NODE_CONDITION)
        self.unschedulable = CompactFamily.of(fam.NODE_UNSCHEDULABLE)
        self.taint = fam.NODE_TAINT.gauge()
        self.info = CompactFamily.of(fam.NODE)
        self.skew = CompactFamily.of(fam.NODE_KUBELET_MINOR_SKEW)

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
        for declared, rows in ((fam.NODE_OS_EOL_TIMESTAMP_SECONDS, outcome.os_eol),
                               (fam.NODE_OS_EXTENDED_EOL_TIMESTAMP_SECONDS, outcome.os_extended),
                               (fam.NODE_RUNTIME_EOL_TIMESTAMP_SECONDS, outcome.runtime_eol),
                               (fam.NODE_LIFECYCLE_DATA_TIMESTAMP_SECONDS, outcome.data_stamps)):
            family = CompactFamily.of(declared)
            family.add_rows(rows)
            out.append(family)
        lead_family = fam.NODE_LIFECYCLE_REMINDER_LEAD_SECONDS.gauge()
        lead_family.add_metric((), lead)
        return (*out, lead_family)

    def families(self, transitions: Mapping[str, int], count: int) -> tuple[Metric, ...]:
        counter = CompactFamily.of(fam.NODE_READY_TRANSITIONS)
        for name, total in sorted(transitions.items()):
            counter.add((name,), float(total))
        nodes = fam.NODES.gauge()
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


@dataclasses.dataclass(frozen=True, slots=True)
class NodeRow:
    """One node as ``check`` and the status page list it (slotted: up to a few thousand are kept)."""

    name: str
    roles: tuple[str, ...]
    ready: str
    kubelet: str
    skew: int | None
    problems: tuple[str, ...]
    taints: tuple[str, ...]
    ready_transitions: int


def node_row(node: NodeFacts, skew: int | None, transitions: int) -> NodeRow:
    return NodeRow(node.name, tuple(node.roles), node.ready, node.kubelet_version, skew, tuple(node.problems),
                   tuple(f"{k}:{e}" for k, e in node.system_taints), transitions)


@dataclasses.dataclass(frozen=True, slots=True)
class NodesDetails(Details):
    """The node summary, the listed nodes (problem nodes always) and the OS/runtime lifecycle."""

    apiserver_version: str | None = None
    nodes_total: int = 0
    nodes_ready: int = 0
    nodes_shown: int = 0
    nodes: tuple[NodeRow, ...] = ()
    lifecycle: nl.LifecycleDetails | None = None  # None: not looked at (the collector always does)

    def check_table(self, color: bool = False) -> list[str] | None:
        return render_check(self)


def _slim(node: NodeFacts) -> NodeFacts:
    """Only what the transition counter needs, so 5,000 nodes keep little memory between pages."""
    ready = node.condition("Ready")
    return NodeFacts(node.name, (), "", "", "", "", False, (ready,) if ready else (), ())


def render_check(d: NodesDetails) -> list[str]:
    """The ``watchtower check`` Nodes section: a summary line, then nodes with problems first."""
    total, ready = d.nodes_total, d.nodes_ready
    lines = [(f"NODES  {ready}/{total} ready; apiserver {d.apiserver_version or 'unknown'} "
             f"(kubelets may be up to 3 minors older, never newer)")]
    nodes = sorted(d.nodes, key=lambda n: (not n.problems and n.skew in (0, 1, 2, 3, None), n.name))
    shown = nodes[:CHECK_TABLE_MAX_ROWS]
    rows = [(n.name, ",".join(n.roles) or "<none>", n.ready, n.kubelet, "?" if n.skew is None else str(n.skew),
             str(n.ready_transitions), ", ".join(n.problems + n.taints) or "-") for n in shown]
    lines += ["  " + line for line in format_table(("NODE", "ROLES", "READY", "KUBELET", "SKEW", "FLAPS", "PROBLEMS"), rows)]
    if total > len(shown):
        lines.append(f"  ... {total - len(shown)} more nodes not shown (all nodes with problems are listed first)")
    return lines + (nl.render_check(d.lifecycle) if d.lifecycle is not None else [])
