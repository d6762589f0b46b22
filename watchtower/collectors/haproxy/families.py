"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

HAPROXY_UP = Family(
    "watchtower_haproxy_up", "gauge",
    "1 if HAProxy's stats could be read and parsed.",
    ("source",),
)
HAPROXY_SERVER_UP = Family(
    "watchtower_haproxy_server_up", "gauge",
    "1 while HAProxy routes to the server by health (UP incl. 'UP 1/3', NOLB, DRAIN, no check); 0 when "
    "DOWN (incl. 'DOWN 1/2') or MAINT.",
    ("proxy", "server"),
)
HAPROXY_SERVER_BACKUP = Family(
    "watchtower_haproxy_server_backup", "gauge",
    "1 for a backup server, 0 for an active one.",
    ("proxy", "server"),
)
HAPROXY_SERVER_CHECK_DURATION_SECONDS = Family(
    "watchtower_haproxy_server_check_duration_seconds", "gauge",
    "How long the last completed health check took.",
    ("proxy", "server"),
)
HAPROXY_SERVER_LAST_CHANGE_TIMESTAMP_SECONDS = Family(
    "watchtower_haproxy_server_last_change_timestamp_seconds", "gauge",
    "When the server last changed state (HAProxy's lastchg, second resolution).",
    ("proxy", "server"),
)
HAPROXY_SERVER_CHECK_FAILURES = Family(
    "watchtower_haproxy_server_check_failures", "counter",
    "Failed health checks since HAProxy started (chkfail).",
    ("proxy", "server"),
)
HAPROXY_SERVER_DOWN_TRANSITIONS = Family(
    "watchtower_haproxy_server_down_transitions", "counter",
    "UP to DOWN transitions since HAProxy started (chkdown).",
    ("proxy", "server"),
)
HAPROXY_SERVER_DOWNTIME_SECONDS = Family(
    "watchtower_haproxy_server_downtime_seconds", "counter",
    "Total seconds the server has been DOWN since HAProxy started.",
    ("proxy", "server"),
)
HAPROXY_BACKEND_UP = Family(
    "watchtower_haproxy_backend_up", "gauge",
    "1 if HAProxy reports the backend UP (at least one usable server).",
    ("proxy",),
)
HAPROXY_BACKEND_ACTIVE_SERVERS = Family(
    "watchtower_haproxy_backend_active_servers", "gauge",
    "Active (non-backup) servers that are up, as HAProxy counts them (act).",
    ("proxy",),
)
HAPROXY_BACKEND_BACKUP_SERVERS = Family(
    "watchtower_haproxy_backend_backup_servers", "gauge",
    "Backup servers that are up (bck).",
    ("proxy",),
)
HAPROXY_BACKEND_SERVERS = Family(
    "watchtower_haproxy_backend_servers", "gauge",
    "Servers configured in the backend, whatever their state.",
    ("proxy",),
)
HAPROXY_BACKEND_LAST_CHANGE_TIMESTAMP_SECONDS = Family(
    "watchtower_haproxy_backend_last_change_timestamp_seconds", "gauge",
    "When the backend last changed state.",
    ("proxy",),
)
HAPROXY_SERVER_STATUS = Family(
    "watchtower_haproxy_server_status", "gauge",
    "The server's state: one series per state, 1 for the current one.",
    ("proxy", "server", "status"),
)
HAPROXY_SERVER_TRANSITION = Family(
    "watchtower_haproxy_server_transition", "gauge",
    "1 while the server is between states: going_down ('UP 1/3') or going_up ('DOWN 1/2').",
    ("proxy", "server", "direction"),
)
HAPROXY_SERVER_CHECK_STATUS = Family(
    "watchtower_haproxy_server_check_status", "gauge",
    "The last health check's result: one series per check_status (L7OK, L4CON, ...), 1 for the current "
    "one; absent for servers without checks.",
    ("proxy", "server", "check_status"),
)
