"""The provisioner's settings; defined next to the collector (``collectors.grafana``), re-exported here."""

from watchtower.collectors.grafana import GRAFANA_UID_MAX, GrafanaSettings, uid_problem

__all__ = ["GRAFANA_UID_MAX", "GrafanaSettings", "uid_problem"]
