"""A test Grafana HTTP API server (no Grafana runs here), strict about the documented API.

It implements the parts watchtower's provisioner uses — folders, dashboards with their version
history, the alerting provisioning API (alert rules, contact points, notification policies)
and /api/health — with Grafana's validation and error shapes (``{"message": ...}``): uids of
at most 40 characters, rules only in an existing folder, 412 on a dashboard version mismatch
without ``overwrite``, 409 for an existing folder, provenance recorded per object and enforced
the way Grafana does (an object provisioned through the API cannot be changed with
``X-Disable-Provenance`` or from the UI), secrets redacted on read. Knobs: ``down()``/``up()``
stop and restart the listener (connection refused in between), ``restart_empty()`` is a
Grafana pod restart without persistence, ``ui_edit_dashboard()``/``ui_edit_rule()`` are a
person's edits in the UI. ``requests`` logs every request for assertions.

Modules by concern: ``server`` (lifecycle, auth, routing), ``dashboards`` (folders, dashboards,
versions), ``alerting`` (rules, groups), ``notifications`` (contact points, policies),
``fileprov`` (file provisioning), ``ui`` (UI-style edits), ``common``, ``interpolation``.
"""

from tests.grafana_api.common import (
    REDACTED,
    ApiError,
    Identity,
    LoggedRequest,
    format_prometheus_duration,
    pre_save,
    prometheus_duration_seconds,
)
from tests.grafana_api.interpolation import interpolate
from tests.grafana_api.server import GrafanaAPIServer
from tests.grafana_api.ui import find_panel

__all__ = [
    "REDACTED", "ApiError", "GrafanaAPIServer", "Identity", "LoggedRequest", "find_panel", "format_prometheus_duration",
    "interpolate", "pre_save", "prometheus_duration_seconds",
]
