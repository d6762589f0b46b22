"""Pure parsing: etcd's /health JSON and the few server metrics from its /metrics text; no I/O."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

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
