"""What Grafana holds now of what watchtower owns: GETs only, for ``grafana diff`` and ``pull``.

One ``LiveState`` per command: the dashboards asked for (with their meta: version, who
saved them last), the alert rules, the evaluation interval of each rule group, and the
contact points as Grafana shows them (secrets redacted by Grafana, never decrypted here).
An unreachable Grafana or a rejected credential raises (``GrafanaError``): the caller must
say UNKNOWN, never "no drift".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from watchtower.provisioning.changes import _q
from watchtower.provisioning.client import GrafanaClient
from watchtower.provisioning.model import DesiredState


@dataclasses.dataclass(frozen=True)
class LiveDashboard:
    """``GET /api/dashboards/uid/:uid``: the model and the meta fields that say who and when."""

    uid: str
    model: Mapping[str, Any]
    folder_uid: str
    version: int | None
    updated: str
    updated_by: str

    def who(self) -> str:
        version = f"version {self.version}" if self.version is not None else ""
        when = " ".join(p for p in (f"updated {self.updated}" if self.updated else "",
                                    f"by {self.updated_by}" if self.updated_by else "") if p)
        return ", ".join(p for p in (version, when) if p)


@dataclasses.dataclass(frozen=True)
class LiveState:
    dashboards: Mapping[str, LiveDashboard | None]  # uid → None when Grafana has no such dashboard
    rules: Mapping[str, Mapping[str, Any]]  # uid → the provisioning API's rule
    group_intervals: Mapping[str, int | None]  # group name (watchtower's folder) → seconds, None if absent
    contact_points: Mapping[str, Mapping[str, Any]]  # uid → the provisioning API's contact point
    policy: Mapping[str, Any] | None = None  # the notification policy tree, when code manages it


def _dashboard(client: GrafanaClient, uid: str) -> LiveDashboard | None:
    got = client.get_or_none(f"/dashboards/uid/{_q(uid)}", f"dashboard {uid}")
    if got is None:
        return None
    meta = got.get("meta") or {}
    version = meta.get("version", (got.get("dashboard") or {}).get("version"))
    return LiveDashboard(uid, got.get("dashboard") or {}, str(meta.get("folderUid") or ""),
                         version if isinstance(version, int) else None,
                         str(meta.get("updated") or ""), str(meta.get("updatedBy") or ""))


def fetch(client: GrafanaClient, desired: DesiredState, dashboard_uids: Iterable[str] | None = None,
          rules: bool = True, contact_points: bool = True) -> LiveState:
    """Read the live objects: ``dashboard_uids`` (default: every dashboard in code)."""
    client.health()
    uids = list(dashboard_uids) if dashboard_uids is not None else [d.uid for d in desired.dashboards]
    dashboards = {uid: _dashboard(client, uid) for uid in dict.fromkeys(uids)}
    live_rules: dict[str, Mapping[str, Any]] = {}
    intervals: dict[str, int | None] = {}
    if rules:
        for rule in client.get("/v1/provisioning/alert-rules", "alert rules") or []:
            if isinstance(rule, Mapping) and isinstance(rule.get("uid"), str):
                live_rules[rule["uid"]] = rule
        for group in desired.rule_groups:
            got = client.get_or_none(f"/v1/provisioning/folder/{_q(desired.folder.uid)}/rule-groups/{_q(group.name)}",
                                     f"rule group {group.name}")
            interval = (got or {}).get("interval")
            intervals[group.name] = interval if isinstance(interval, int) else None
    points: dict[str, Mapping[str, Any]] = {}
    if contact_points:
        for point in client.get("/v1/provisioning/contact-points", "contact points") or []:
            if isinstance(point, Mapping) and isinstance(point.get("uid"), str):
                points[point["uid"]] = point
    policy = None
    if contact_points and desired.policy() is not None:
        policy = client.get("/v1/provisioning/policies", "notification policy") or {}
    return LiveState(dashboards, live_rules, intervals, points, policy)


__all__ = ["LiveDashboard", "LiveState", "fetch"]
