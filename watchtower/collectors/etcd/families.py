"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

ETCD_UP = Family(
    "watchtower_etcd_up", "gauge",
    "1 if the etcd endpoint answered /health.",
    ("endpoint",),
)
ETCD_PROBE_DURATION_SECONDS = Family(
    "watchtower_etcd_probe_duration_seconds", "gauge",
    "How long /health took to answer.",
    ("endpoint",),
)
ETCD_HEALTHY = Family(
    "watchtower_etcd_healthy", "gauge",
    "1 if etcd's /health says true.",
    ("endpoint",),
)
ETCD_HAS_LEADER = Family(
    "watchtower_etcd_has_leader", "gauge",
    "1 if the member knows a leader (etcd_server_has_leader).",
    ("endpoint",),
)
ETCD_IS_LEADER = Family(
    "watchtower_etcd_is_leader", "gauge",
    "1 if this member is the leader.",
    ("endpoint",),
)
ETCD_LEADER_CHANGES = Family(
    "watchtower_etcd_leader_changes", "counter",
    "Leader changes seen by the member since it started (etcd_server_leader_changes_seen_total).",
    ("endpoint",),
)
ETCD_DB_SIZE_BYTES = Family(
    "watchtower_etcd_db_size_bytes", "gauge",
    "Size of the backend database file (etcd_mvcc_db_total_size_in_bytes).",
    ("endpoint",),
)
ETCD_DB_SIZE_IN_USE_BYTES = Family(
    "watchtower_etcd_db_size_in_use_bytes", "gauge",
    "Bytes of the database in use; the rest is reclaimed by defragmentation.",
    ("endpoint",),
)
ETCD_DB_QUOTA_BYTES = Family(
    "watchtower_etcd_db_quota_bytes", "gauge",
    "The backend quota (etcd_server_quota_backend_bytes): at this size etcd raises a NOSPACE alarm and "
    "refuses writes.",
    ("endpoint",),
)
ETCD_SERVER = Family(
    "watchtower_etcd_server", "info",
    "The etcd server version of the endpoint.",
    ("endpoint",),
)
ETCD_PROBE_ERROR = Family(
    "watchtower_etcd_probe_error", "gauge",
    "1 with the reason the endpoint could not be asked (connection_refused, timeout, tls_bad_certificate,"
    " ...); present only while it is down.",
    ("endpoint", "reason"),
)
