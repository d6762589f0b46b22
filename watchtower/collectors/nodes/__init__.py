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

import threading
from typing import TYPE_CHECKING, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.lifecycle_settings import LifecycleSettings, NodesSettings
from watchtower.core import reasons
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.io.kube import KubeUnavailable, list_json_pages, server_version
from watchtower.upgrades.kubeversion import try_parse_version

if TYPE_CHECKING:
    from watchtower.collectors import node_lifecycle as nl
    from watchtower.collectors.nodes import export, parse
else:  # loaded by the first run: a daemon that does not run the nodes collector never imports them
    nl = lazy_module("watchtower.collectors.node_lifecycle")
    export = lazy_module("watchtower.collectors.nodes.export")
    parse = lazy_module("watchtower.collectors.nodes.parse")


class NodesCollector(Collector[NodesSettings]):
    name: ClassVar[str] = "nodes"
    title: ClassVar[str] = "Nodes"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_node",)
    Settings: ClassVar[type[CollectorSettings]] = NodesSettings

    def __init__(self, settings: NodesSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.lifecycle_settings: LifecycleSettings = getattr(settings, "lifecycle", LifecycleSettings())
        self.lifecycle = nl.make_source(self.lifecycle_settings, context.clock, float(settings.timeout))
        self.transitions = parse.TransitionCounter()
        self._lock = threading.Lock()

    @classmethod
    def unavailable_reason(cls, settings: NodesSettings, context: CollectorContext) -> str | None:
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
            git_version = server_version(api, timeout).git_version
            apiserver = try_parse_version(git_version)
            if apiserver is None:
                errors.append(ItemError("/version", reasons.PARSE_ERROR, f"gitVersion {git_version!r} is not a version"))
        except Exception as exc:  # noqa: BLE001 - skew is then unknown; the nodes still count
            errors.append(ItemError("/version", reasons.UNREACHABLE, f"{type(exc).__name__}: {exc}"[:300]))
        metrics = export.NodeMetrics()
        findings: list[Finding] = []
        rows: list[tuple[parse.NodeFacts, int | None]] = []
        listed: list[parse.NodeFacts] = []
        tally = nl.LifecycleTally()
        count = 0
        pages = list_json_pages(api, "/api/v1/nodes", self.context.config.kubernetes.page_size, timeout)
        for raw in pages:  # an API error mid-list raises: a partial node list is not a result
            try:
                node = parse.node_facts(raw)
            except ValueError as exc:
                errors.append(ItemError("node <unnamed>", reasons.PARSE_ERROR, str(exc)))
                continue
            count += 1
            skew = parse.kubelet_skew(apiserver, node)
            metrics.add(node, skew)
            tally.add(node.name, node.os_image, node.container_runtime, node.roles)
            node_problems = export.node_findings(node, skew)
            findings += node_problems
            if node_problems or len(rows) < parse.DETAILS_MAX_NODES:
                rows.append((node, skew))
            listed.append(export._slim(node))
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
        details = export.NodesDetails(
            apiserver_version=str(apiserver) if apiserver else None,
            nodes_total=count,
            nodes_ready=ready,
            nodes_shown=len(rows),
            nodes=tuple(export.node_row(n, s, totals.get(n.name, 0)) for n, s in rows[: parse.DETAILS_MAX_NODES + 100]),
            lifecycle=outcome.details,
        )
        return CollectResult(
            metrics=metrics.families(totals, count) + metrics.lifecycle(outcome, lead),
            errors=tuple(errors),
            findings=tuple(findings),
            details=details,
        )
