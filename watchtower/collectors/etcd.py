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

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons
from watchtower.core.formatting import format_table
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds
from watchtower.io.netprobe import ProbeError, TLSClientConfig, http_get

KUBEADM_ETCD_PKI = "/etc/kubernetes/pki/etcd"
DB_QUOTA_WARNING_FRACTION = 0.8  # for the `check` finding only; alerts carry their own threshold


@dataclasses.dataclass(frozen=True)
class EtcdSettings(CollectorSettings):
    """Endpoints to probe; TLS files apply to https:// endpoints (kubeadm's by default)."""

    interval: Seconds = Seconds(15)
    timeout: Seconds = Seconds(10)
    endpoints: tuple[str, ...] = ("https://127.0.0.1:2379",)
    ca_file: str | None = f"{KUBEADM_ETCD_PKI}/ca.crt"
    cert_file: str | None = f"{KUBEADM_ETCD_PKI}/healthcheck-client.crt"
    key_file: str | None = f"{KUBEADM_ETCD_PKI}/healthcheck-client.key"
    request_timeout: Seconds = Seconds(5)

    def validate(self, path: str) -> None:
        super().validate(path)
        if not self.endpoints:
            raise ConfigError(f"{path}.endpoints", [], "at least one endpoint, e.g. https://127.0.0.1:2379")
        for i, endpoint in enumerate(self.endpoints):
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ConfigError(f"{path}.endpoints[{i}]", endpoint, "a URL like https://127.0.0.1:2379 (no path)")
            if parts.username or parts.password:
                raise ConfigError(f"{path}.endpoints[{i}]", "<redacted>", "a URL without credentials")
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError(f"{path}.key_file" if self.key_file is None else f"{path}.cert_file", None,
                              "cert_file and key_file together (or both null)")
        if self.request_timeout <= 0:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout, "a duration above 0s")

    def tls(self) -> TLSClientConfig:
        return TLSClientConfig(ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file)


# --------------------------------------------------------------------------------------------
# Pure parsing


class MalformedAnswer(ValueError):
    """etcd answered, but not with what etcd answers (wrong port, a proxy's page, garbage)."""


@dataclasses.dataclass(frozen=True)
class Health:
    healthy: bool
    reason: str | None = None  # newer etcd versions say why ("RAFT NO LEADER", alarms)


def parse_health(body: bytes | str) -> Health:
    """``{"health":"true"}`` → healthy. Raises ``MalformedAnswer`` for anything else."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedAnswer(f"/health is not JSON: {body[:60]!r}") from None
    if not isinstance(doc, dict) or "health" not in doc:
        raise MalformedAnswer("/health JSON has no 'health' field")
    value = doc["health"]
    healthy = value is True or (isinstance(value, str) and value.lower() == "true")
    reason = doc.get("reason") or None
    return Health(healthy=healthy, reason=str(reason) if reason else None)


@dataclasses.dataclass(frozen=True)
class EtcdMetrics:
    """The few etcd server metrics watchtower re-exports; None when etcd did not export one."""

    has_leader: float | None = None
    is_leader: float | None = None
    leader_changes: float | None = None
    db_size_bytes: float | None = None
    db_size_in_use_bytes: float | None = None
    db_quota_bytes: float | None = None
    version: str | None = None


_WANTED = {
    "etcd_server_has_leader": "has_leader",
    "etcd_server_is_leader": "is_leader",
    "etcd_server_leader_changes_seen_total": "leader_changes",
    "etcd_mvcc_db_total_size_in_bytes": "db_size_bytes",
    "etcd_debugging_mvcc_db_total_size_in_bytes": "db_size_bytes",  # etcd < 3.4 named it so
    "etcd_mvcc_db_total_size_in_use_in_bytes": "db_size_in_use_bytes",
    "etcd_server_quota_backend_bytes": "db_quota_bytes",
}


def parse_etcd_metrics(text: str) -> EtcdMetrics:
    """Pick etcd's server metrics out of its Prometheus text. Raises ``MalformedAnswer``."""
    values: dict[str, Any] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                attr = _WANTED.get(sample.name)
                if attr is not None and attr not in values:
                    values[attr] = float(sample.value)
                elif sample.name == "etcd_server_version" and sample.labels.get("server_version"):
                    values["version"] = sample.labels["server_version"]
    except ValueError as exc:
        raise MalformedAnswer(f"/metrics is not Prometheus text: {str(exc)[:120]}") from None
    if "has_leader" not in values:
        raise MalformedAnswer("/metrics has no etcd_server_has_leader: not an etcd metrics endpoint?")
    return EtcdMetrics(**values)


# --------------------------------------------------------------------------------------------
# One probe and its judgement


@dataclasses.dataclass(frozen=True)
class Probe:
    """What one endpoint told us; ``error`` set means it could not be asked at all."""

    endpoint: str
    health: Health | None = None
    metrics: EtcdMetrics | None = None
    duration_seconds: float | None = None
    error: ItemError | None = None  # /health failed: the endpoint counts as down
    metrics_error: ItemError | None = None  # /health fine, /metrics not

    @property
    def up(self) -> bool:
        return self.health is not None


def probe_endpoint(endpoint: str, settings: EtcdSettings) -> Probe:
    base = endpoint.rstrip("/")
    timeout = float(settings.request_timeout)
    tls = settings.tls()
    try:
        answer = http_get(f"{base}/health", timeout, tls)
        if answer.status not in (200, 503):  # etcd answers 503 with {"health":"false"}
            raise ProbeError(reasons.HTTP_ERROR, f"{base}/health: HTTP {answer.status}")
        health = parse_health(answer.body)
    except ProbeError as exc:
        return Probe(endpoint, error=ItemError(f"{base}/health", exc.reason, exc.detail))
    except MalformedAnswer as exc:
        return Probe(endpoint, error=ItemError(f"{base}/health", "malformed_health", str(exc)))
    try:
        fetched = http_get(f"{base}/metrics", timeout, tls)
        if fetched.status != 200:
            raise ProbeError(reasons.HTTP_ERROR, f"{base}/metrics: HTTP {fetched.status}")
        metrics = parse_etcd_metrics(fetched.body.decode("utf-8", errors="replace"))
    except ProbeError as exc:
        return Probe(endpoint, health=health, duration_seconds=answer.elapsed_seconds,
                     metrics_error=ItemError(f"{base}/metrics", exc.reason, exc.detail))
    except MalformedAnswer as exc:
        return Probe(endpoint, health=health, duration_seconds=answer.elapsed_seconds,
                     metrics_error=ItemError(f"{base}/metrics", "malformed_metrics", str(exc)))
    return Probe(endpoint, health=health, metrics=metrics, duration_seconds=answer.elapsed_seconds)


def build_metrics(probes: list[Probe]) -> list[Metric]:
    ep = ["endpoint"]
    up = GaugeMetricFamily("watchtower_etcd_up", "1 if the etcd endpoint answered /health.", labels=ep)
    probe_error = GaugeMetricFamily("watchtower_etcd_probe_error",
                                    "1 with the reason the endpoint could not be asked (connection_refused, "
                                    "timeout, tls_bad_certificate, ...); present only while it is down.",
                                    labels=[*ep, "reason"])
    duration = GaugeMetricFamily("watchtower_etcd_probe_duration_seconds", "How long /health took to answer.",
                                 labels=ep)
    healthy = GaugeMetricFamily("watchtower_etcd_healthy", "1 if etcd's /health says true.", labels=ep)
    has_leader = GaugeMetricFamily("watchtower_etcd_has_leader",
                                   "1 if the member knows a leader (etcd_server_has_leader).", labels=ep)
    is_leader = GaugeMetricFamily("watchtower_etcd_is_leader", "1 if this member is the leader.", labels=ep)
    changes = CounterMetricFamily("watchtower_etcd_leader_changes",
                                  "Leader changes seen by the member since it started "
                                  "(etcd_server_leader_changes_seen_total).", labels=ep)
    db_size = GaugeMetricFamily("watchtower_etcd_db_size_bytes",
                                "Size of the backend database file (etcd_mvcc_db_total_size_in_bytes).", labels=ep)
    db_in_use = GaugeMetricFamily("watchtower_etcd_db_size_in_use_bytes",
                                  "Bytes of the database in use; the rest is reclaimed by defragmentation.",
                                  labels=ep)
    quota = GaugeMetricFamily("watchtower_etcd_db_quota_bytes",
                              "The backend quota (etcd_server_quota_backend_bytes): at this size etcd raises "
                              "a NOSPACE alarm and refuses writes.", labels=ep)
    info = InfoMetricFamily("watchtower_etcd_server", "The etcd server version of the endpoint.", labels=ep)
    for p in probes:
        key = [p.endpoint]
        up.add_metric(key, 1.0 if p.up else 0.0)
        if p.error is not None:
            probe_error.add_metric([*key, p.error.reason], 1.0)
        if p.duration_seconds is not None:
            duration.add_metric(key, p.duration_seconds)
        if p.health is not None:
            healthy.add_metric(key, 1.0 if p.health.healthy else 0.0)
        m = p.metrics
        if m is None:
            continue
        for family, v in ((has_leader, m.has_leader), (is_leader, m.is_leader), (changes, m.leader_changes),
                          (db_size, m.db_size_bytes), (db_in_use, m.db_size_in_use_bytes), (quota, m.db_quota_bytes)):
            if v is not None:
                family.add_metric(key, v)
        if m.version:
            info.add_metric(key, {"version": m.version})
    return [up, probe_error, duration, healthy, has_leader, is_leader, changes, db_size, db_in_use, quota, info]


_HINTS = {
    reasons.TLS_BAD_CERTIFICATE: " (etcd rejected the client certificate: is cert_file signed by the etcd CA?)",
    reasons.TLS_VERIFY_FAILED: " (etcd's serving certificate does not verify against ca_file)",
    reasons.CLIENT_CERT_UNREADABLE: " (cert_file/key_file missing or unreadable)",
    reasons.CONNECTION_REFUSED: " (etcd not running, or not listening on this address)",
}


def build_findings(probes: list[Probe]) -> list[Finding]:
    out: list[Finding] = []
    for p in probes:
        if p.error is not None:
            hint = _HINTS.get(p.error.reason, "")
            out.append(Finding("etcd", p.endpoint, Severity.CRITICAL,
                               f"cannot ask /health: {p.error.reason}{hint}: {p.error.detail}"))
            continue
        if p.health is not None and not p.health.healthy:
            why = f" ({p.health.reason})" if p.health.reason else ""
            out.append(Finding("etcd", p.endpoint, Severity.CRITICAL, f"/health says unhealthy{why}"))
        m = p.metrics
        if m is None:
            continue
        if m.has_leader == 0:
            out.append(Finding("etcd", p.endpoint, Severity.CRITICAL, "no leader: the cluster cannot accept writes"))
        if m.db_size_bytes and m.db_quota_bytes and m.db_size_bytes >= DB_QUOTA_WARNING_FRACTION * m.db_quota_bytes:
            out.append(Finding("etcd", p.endpoint, Severity.WARNING,
                               f"database {m.db_size_bytes / m.db_quota_bytes:.0%} of its quota "
                               f"({m.db_size_bytes:.0f} of {m.db_quota_bytes:.0f} bytes)"))
    return out


def build_details(probes: list[Probe]) -> dict[str, Any]:
    rows = []
    for p in probes:
        row: dict[str, Any] = {"endpoint": p.endpoint, "up": p.up}
        if p.error is not None:
            row["error"] = {"reason": p.error.reason, "detail": p.error.detail}
        if p.health is not None:
            row["healthy"] = p.health.healthy
            row["health_reason"] = p.health.reason
        if p.metrics is not None:
            row.update(dataclasses.asdict(p.metrics))
        if p.metrics_error is not None:
            row["metrics_error"] = {"reason": p.metrics_error.reason, "detail": p.metrics_error.detail}
        rows.append(row)
    return {"endpoints": rows}


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
