"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

VIP_HELD = Family(
    "watchtower_vip_held", "gauge",
    "1 if the VIP is bound to an interface of this node, else 0.",
    ("vip", "node", "interface"),
)
KEEPALIVED_STATE = Family(
    "watchtower_keepalived_state", "gauge",
    "keepalived VRRP instance state: one series per state, 1 for the current one.",
    ("vrrp_instance", "node", "state"),
)
KEEPALIVED_PRIORITY = Family(
    "watchtower_keepalived_priority", "gauge",
    "keepalived effective VRRP priority.",
    ("vrrp_instance", "node"),
)
KEEPALIVED_BECOME_MASTER = Family(
    "watchtower_keepalived_become_master", "counter",
    "Times this VRRP instance became MASTER since keepalived started.",
    ("vrrp_instance", "node"),
)
KEEPALIVED_LAST_TRANSITION_TIMESTAMP_SECONDS = Family(
    "watchtower_keepalived_last_transition_timestamp_seconds", "gauge",
    "When the VRRP instance last changed state.",
    ("vrrp_instance", "node"),
)
KEEPALIVED_RUNNING = Family(
    "watchtower_keepalived_running", "gauge",
    "1 if the process in keepalived's pid file is a running keepalived.",
    ("node",),
)
