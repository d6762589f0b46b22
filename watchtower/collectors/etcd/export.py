"""Pure judgement: probes → metric families, findings and the typed details."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from prometheus_client.core import Metric

from watchtower.collectors.etcd import families as fam
from watchtower.collectors.etcd.parse import EtcdMetrics
from watchtower.collectors.etcd.read import Probe
from watchtower.collectors.etcd.settings import DB_QUOTA_WARNING_FRACTION
from watchtower.core import reasons
from watchtower.core.details import Details, Failure, json_field
from watchtower.core.formatting import format_table
from watchtower.core.results import Finding, Severity


def build_metrics(probes: list[Probe]) -> list[Metric]:
    up = fam.ETCD_UP.gauge()
    probe_error = fam.ETCD_PROBE_ERROR.gauge()
    duration = fam.ETCD_PROBE_DURATION_SECONDS.gauge()
    healthy = fam.ETCD_HEALTHY.gauge()
    has_leader = fam.ETCD_HAS_LEADER.gauge()
    is_leader = fam.ETCD_IS_LEADER.gauge()
    changes = fam.ETCD_LEADER_CHANGES.counter()
    db_size = fam.ETCD_DB_SIZE_BYTES.gauge()
    db_in_use = fam.ETCD_DB_SIZE_IN_USE_BYTES.gauge()
    quota = fam.ETCD_DB_QUOTA_BYTES.gauge()
    info = fam.ETCD_SERVER.info()
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


@dataclasses.dataclass(frozen=True, slots=True)
class HealthRow:
    """/health's answer (``healthy``, ``health_reason``), in the row only when /health answered."""

    healthy: bool
    health_reason: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointRow:
    """One etcd endpoint as ``check`` and the status page show it; absent parts are left out."""

    endpoint: str
    up: bool
    error: Failure | None = json_field(default=None, omit_none=True)
    health: HealthRow | None = json_field(default=None, flatten=True)
    metrics: EtcdMetrics | None = json_field(default=None, flatten=True)
    metrics_error: Failure | None = json_field(default=None, omit_none=True)

    @classmethod
    def of(cls, p: Probe) -> EndpointRow:
        return cls(
            p.endpoint, p.up,
            error=None if p.error is None else Failure(p.error.reason, p.error.detail),
            health=None if p.health is None else HealthRow(p.health.healthy, p.health.reason),
            metrics=p.metrics,
            metrics_error=None if p.metrics_error is None else Failure(p.metrics_error.reason, p.metrics_error.detail),
        )

    def size(self) -> str:
        m = self.metrics
        if m is None or m.db_size_bytes is None or not m.db_quota_bytes:
            return "-"
        return f"{m.db_size_bytes / 2**20:.1f}/{m.db_quota_bytes / 2**20:.0f} MiB"


@dataclasses.dataclass(frozen=True, slots=True)
class EtcdDetails(Details):
    """Every configured endpoint, in configuration order."""

    endpoints: tuple[EndpointRow, ...]

    @classmethod
    def build(cls, probes: Sequence[Probe]) -> EtcdDetails:
        return cls(tuple(EndpointRow.of(p) for p in probes))

    def check_table(self, color: bool = False) -> list[str] | None:
        if not self.endpoints:
            return None
        rows = []
        for r in self.endpoints:
            m = r.metrics
            rows.append((
                r.endpoint, "up" if r.up else f"DOWN ({r.error.reason if r.error else '?'})",
                "-" if r.health is None else ("yes" if r.health.healthy else "NO"),
                {1.0: "yes", 0.0: "NO"}.get(-1.0 if m is None or m.has_leader is None else m.has_leader, "-"),
                "-" if m is None or m.leader_changes is None else f"{m.leader_changes:.0f}", r.size(),
                (m.version if m else None) or "-"))
        return ["etcd", *format_table(("ENDPOINT", "STATE", "HEALTHY", "LEADER", "LEADER CHANGES", "DB/QUOTA",
                                       "VERSION"), rows)]
