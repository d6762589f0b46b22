"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

APISERVER_UP = Family(
    "watchtower_apiserver_up", "gauge",
    "1 if GET /livez answered 200.",
    ("endpoint", "role"),
)
APISERVER_READY = Family(
    "watchtower_apiserver_ready", "gauge",
    "1 if GET /readyz answered 200.",
    ("endpoint", "role"),
)
APISERVER_CHECK_FAILED = Family(
    "watchtower_apiserver_check_failed", "gauge",
    "1 if this /readyz?verbose check fails, 0 if it passes.",
    ("endpoint", "check"),
)
APISERVER_VERSION = Family(
    "watchtower_apiserver_version", "info",
    "The apiserver's /version.",
    ("endpoint",),
)
APISERVER_PROBE_DURATION_SECONDS = Family(
    "watchtower_apiserver_probe_duration_seconds", "gauge",
    "Wall time of the last probe of this path, failed ones included.",
    ("endpoint", "path"),
)
VIP_REACHABLE = Family(
    "watchtower_vip_reachable", "gauge",
    "1 if TCP connect and GET /readyz through the VIP succeeded.",
    ("vip",),
)
APISERVER_PROBE_ERRORS = Family(
    "watchtower_apiserver_probe_errors", "counter",
    "Failed probes since watchtower started, by reason.",
    ("endpoint", "path", "reason"),
)
