"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

HEARTBEAT_LAST_RECEIVED_TIMESTAMP_SECONDS = Family(
    "watchtower_heartbeat_last_received_timestamp_seconds", "gauge",
    "When the last heartbeat of the source arrived (absent: none yet).",
    ("source",),
)
HEARTBEAT_SILENT = Family(
    "watchtower_heartbeat_silent", "gauge",
    "1 when the source sent no heartbeat for longer than the window.",
    ("source",),
)
HEARTBEAT_RECEIVED = Family(
    "watchtower_heartbeat_received", "counter",
    "Heartbeats received per source.",
    ("source",),
)
HEARTBEAT_NOTIFICATIONS = Family(
    "watchtower_heartbeat_notifications", "counter",
    "Alarm and recovery messages by channel and result.",
    ("integration", "result"),
)
HEARTBEAT_REJECTED_REQUESTS = Family(
    "watchtower_heartbeat_rejected_requests", "counter",
    "Requests refused, by reason.",
    ("reason",),
)
HEARTBEAT_WINDOW_SECONDS = Family(
    "watchtower_heartbeat_window_seconds", "gauge",
    "How long a source may be silent before the alarm.",
    (),
)
