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
from typing import TYPE_CHECKING, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.etcd.settings import EtcdSettings
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult
from watchtower.core.sections import CollectorSettings

if TYPE_CHECKING:
    from watchtower.collectors.etcd import export, read
else:  # loaded by the first run: a daemon that does not run etcd never imports them
    export = lazy_module("watchtower.collectors.etcd.export")
    read = lazy_module("watchtower.collectors.etcd.read")


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
        probes = [read.probe_endpoint(e, self.settings) for e in self.settings.endpoints]
        errors = tuple(e for p in probes for e in (p.error, p.metrics_error) if e is not None)
        return CollectResult(
            metrics=tuple(export.build_metrics(probes)),
            errors=errors,
            findings=tuple(export.build_findings(probes)),
            details=export.EtcdDetails.build(probes),
        )
