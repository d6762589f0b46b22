"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

GRAFANA_DRIFT = Family(
    "watchtower_grafana_drift", "gauge",
    "1 while a Grafana object watchtower owns holds an edit made outside code that code does not contain",
    ("kind", "uid", "title"),
)
GRAFANA_DRIFT_SINCE_TIMESTAMP_SECONDS = Family(
    "watchtower_grafana_drift_since_timestamp_seconds", "gauge",
    "When the edit outside code was made (or first seen)",
    ("kind", "uid", "title"),
)
GRAFANA_UP = Family(
    "watchtower_grafana_up", "gauge",
    "1 if Grafana answered the last provisioning run",
    (),
)
GRAFANA_PROVISION_SUCCESS = Family(
    "watchtower_grafana_provision_success", "gauge",
    "1 if the last provisioning run reconciled every object",
    (),
)
GRAFANA_PROVISION_ATTEMPTS = Family(
    "watchtower_grafana_provision_attempts", "gauge",
    "Connection attempts the last provisioning run needed (retries with backoff)",
    (),
)
GRAFANA_PROVISION_OBJECTS = Family(
    "watchtower_grafana_provision_objects", "gauge",
    "Objects by kind and what the last provisioning run did to them",
    ("kind", "state"),
)
GRAFANA_LAST_PROVISION_TIMESTAMP_SECONDS = Family(
    "watchtower_grafana_last_provision_timestamp_seconds", "gauge",
    "When the last fully successful provisioning run finished",
    (),
)
