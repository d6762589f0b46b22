"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

BUILD = Family(
    "watchtower_build", "info",
    "watchtower version and build facts.",
    (),
)
COLLECTOR_SUCCESS = Family(
    "watchtower_collector_success", "gauge",
    "1 if the collector's last run succeeded, 0 if it raised, timed out or returned garbage.",
    ("collector",),
)
COLLECTOR_DURATION_SECONDS = Family(
    "watchtower_collector_duration_seconds", "gauge",
    "Wall time of the collector's last run.",
    ("collector",),
)
COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS = Family(
    "watchtower_collector_last_success_timestamp_seconds", "gauge",
    "Unix time at which the collector last finished successfully.",
    ("collector",),
)
COLLECTOR_ERRORS = Family(
    "watchtower_collector_errors", "counter",
    "Failed runs (exception, timeout, invalid_result) and per-item errors, by reason.",
    ("collector", "reason"),
)
COLLECTOR_ENABLED = Family(
    "watchtower_collector_enabled", "gauge",
    "1 if the collector is scheduled here, 0 if it is not (disabled, or nothing for it to watch).",
    ("collector",),
)
COLLECTOR_INTERVAL_SECONDS = Family(
    "watchtower_collector_interval_seconds", "gauge",
    "The collector's configured interval between runs.",
    ("collector",),
)
COLLECTOR_TIMEOUT_SECONDS = Family(
    "watchtower_collector_timeout_seconds", "gauge",
    "The collector's configured timeout for one run.",
    ("collector",),
)
HTTP_REJECTED = Family(
    "watchtower_http_rejected", "counter",
    "Requests refused and connections dropped by the server's limits, by reason.",
    ("reason",),
)
HTTP_OPEN_CONNECTIONS = Family(
    "watchtower_http_open_connections", "gauge",
    "Client connections the HTTP server holds now.",
    (),
)
HTTP_MAX_CONNECTIONS = Family(
    "watchtower_http_max_connections", "gauge",
    "The connection cap in force (server.max_connections, capped below the fd limit).",
    (),
)
HTTP_REQUESTS_IN_FLIGHT = Family(
    "watchtower_http_requests_in_flight", "gauge",
    "Requests being handled or written now.",
    (),
)
HTTP_MAX_IN_FLIGHT = Family(
    "watchtower_http_max_in_flight", "gauge",
    "The in-flight request cap (server.max_in_flight).",
    (),
)
HTTP_CONNECTIONS = Family(
    "watchtower_http_connections", "counter",
    "Client connections accepted.",
    (),
)
