"""The local etcd member: reachable, healthy, has a leader, database size against its quota.

For each endpoint, ``/health`` says whether etcd considers itself healthy (it is not without a
leader) and ``/metrics`` gives ``etcd_server_has_leader``, leader changes and the backend
database size and quota. On a kubeadm node the client port (https://127.0.0.1:2379) needs
mutual TLS: the defaults use kubeadm's ``healthcheck-client`` certificate made for exactly
this. kubeadm's plain-HTTP metrics port (``--listen-metrics-urls=http://127.0.0.1:2381``)
serves the same two paths without a certificate: set ``endpoints: [http://127.0.0.1:2381]``.

Parsing (``parse_health``, ``parse_etcd_metrics``) is pure; an unreachable endpoint, a
rejected client certificate or a timeout is ``watchtower_etcd_up 0`` plus
``watchtower_etcd_probe_error{reason}``, never an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.etcd.export import build_details, build_findings, build_metrics
from watchtower.collectors.etcd.read import probe_endpoint
from watchtower.collectors.etcd.settings import EtcdSettings
from watchtower.core.formatting import format_table
from watchtower.core.results import CollectResult
from watchtower.core.sections import CollectorSettings


class EtcdCollector(Collector[EtcdSettings]):
    name: ClassVar[str] = "etcd"
    title: ClassVar[str] = "etcd"
    roles: ClassVar[frozenset[Role]] = frozenset({"node"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_etcd_",)
    Settings: ClassVar[type[CollectorSettings]] = EtcdSettings

    settings: EtcdSettings

    @classmethod
    def unavailable_reason(cls, settings: EtcdSettings, context: CollectorContext) -> str | None:
        needs_cert = all(e.startswith("https://") for e in settings.endpoints) and settings.cert_file is not None
        if needs_cert and not os.path.exists(settings.cert_file or ""):
            return f"no etcd client certificate at {settings.cert_file} (not a kubeadm control-plane node?)"
        return None

    def collect(self) -> CollectResult:
        probes = [probe_endpoint(e, self.settings) for e in self.settings.endpoints]
        errors = tuple(e for p in probes for e in (p.error, p.metrics_error) if e is not None)
        return CollectResult(
            metrics=tuple(build_metrics(probes)),
            errors=errors,
            findings=tuple(build_findings(probes)),
            details=build_details(probes),
        )

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        endpoints = details.get("endpoints")
        if not endpoints:
            return None

        def size(row: Mapping[str, Any]) -> str:
            if row.get("db_size_bytes") is None or not row.get("db_quota_bytes"):
                return "-"
            return f"{row['db_size_bytes'] / 2**20:.1f}/{row['db_quota_bytes'] / 2**20:.0f} MiB"

        rows = [
            (r["endpoint"], "up" if r["up"] else f"DOWN ({r['error']['reason']})",
             {True: "yes", False: "NO"}.get(r.get("healthy"), "-"),
             {1.0: "yes", 0.0: "NO"}.get(r.get("has_leader"), "-"),
             "-" if r.get("leader_changes") is None else f"{r['leader_changes']:.0f}", size(r), r.get("version") or "-")
            for r in endpoints
        ]
        return ["etcd", *format_table(("ENDPOINT", "STATE", "HEALTHY", "LEADER", "LEADER CHANGES", "DB/QUOTA",
                                       "VERSION"), rows)]
