"""The desired state (code) against a ``LiveState``: one ``ObjectDiff`` per owned object; pure.

Dashboards, alert rules, rule group intervals, contact points and the notification policy
(as the reconciler compares it), each normalised by
``normalise.py`` on both sides. Secrets are not read: a contact point's secret settings are
``[REDACTED]`` on both sides, so the diff can neither show nor compare them (the provisioner
compares their fingerprints when it writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchtower.provisioning.changes import MANAGED_PREFIX, _policy_view
from watchtower.provisioning.live import LiveState
from watchtower.provisioning.livediff import FieldChange, ObjectDiff, compare
from watchtower.provisioning.model import ContactPoint, DesiredState, go_duration
from watchtower.provisioning.normalise import REDACTED, normalise_contact_point, normalise_dashboard, normalise_rule


def _dashboards(desired: DesiredState, live: LiveState, datasource_uids: tuple[str, ...]) -> list[ObjectDiff]:
    out = []
    for dashboard in desired.dashboards:
        if dashboard.uid not in live.dashboards:
            continue  # not asked for
        have = live.dashboards[dashboard.uid]
        code = normalise_dashboard(dashboard.model(), datasource_uids)
        if have is None:
            out.append(compare("dashboard", dashboard.uid, dashboard.title, code, None))
            continue
        diff = compare("dashboard", dashboard.uid, dashboard.title, code,
                       normalise_dashboard(have.model, datasource_uids), have.who())
        if have.folder_uid != desired.folder.uid:
            moved = FieldChange(("(folder)",), desired.folder.uid, have.folder_uid or "General")
            diff = ObjectDiff(diff.kind, diff.uid, diff.title, "differs", (moved, *diff.changes), diff.who)
        out.append(diff)
    return out


def _rules(desired: DesiredState, live: LiveState) -> list[ObjectDiff]:
    out = []
    for rule in desired.rules:
        have = live.rules.get(rule.uid)
        who = f"updated {have.get('updated')}" if have and have.get("updated") else ""
        out.append(compare("alert-rule", rule.uid, rule.title, normalise_rule(rule.body()),
                           normalise_rule(have) if have is not None else None, who))
    wanted = {r.uid for r in desired.rules}
    for uid, have in live.rules.items():
        if uid.startswith(MANAGED_PREFIX) and uid not in wanted and have.get("folderUID") == desired.folder.uid:
            out.append(compare("alert-rule", uid, str(have.get("title")), None, normalise_rule(have)))
    for group in desired.rule_groups:
        if group.interval_seconds is None or group.name not in live.group_intervals:
            continue
        have_seconds = live.group_intervals[group.name]
        code = {"interval": go_duration(group.interval_seconds)}
        out.append(compare("rule-group", group.name, group.name, code,
                           {"interval": go_duration(have_seconds)} if have_seconds is not None else None))
    return out


def code_contact_point(point: ContactPoint) -> dict[str, Any]:
    """What code wants for one integration, secrets as ``[REDACTED]`` (their values are not read)."""
    secret_keys = [k for k, _ in point.secret_settings]
    return normalise_contact_point({
        "uid": point.uid, "name": point.name, "type": point.type, "disableResolveMessage": False,
        "settings": {**point.settings(), **dict.fromkeys(secret_keys, REDACTED)},
    }, secret_keys)


def _contact_points(desired: DesiredState, live: LiveState) -> list[ObjectDiff]:
    out = []
    for point in desired.contact_points:
        have: Mapping[str, Any] | None = live.contact_points.get(point.uid)
        secret_keys = [k for k, _ in point.secret_settings]
        out.append(compare("contact-point", point.uid, f"{point.name} ({point.type})", code_contact_point(point),
                           normalise_contact_point(have, secret_keys) if have is not None else None))
    wanted = {p.uid for p in desired.contact_points}
    for uid, have in live.contact_points.items():
        if uid.startswith(MANAGED_PREFIX) and uid not in wanted:
            out.append(compare("contact-point", uid, f"{have.get('name')} ({have.get('type')})", None,
                               normalise_contact_point(have)))
    return out


def _policy(desired: DesiredState, live: LiveState) -> list[ObjectDiff]:
    """The notification policy tree, compared as the reconciler compares it (durations in seconds)."""
    want = desired.policy()
    if want is None or live.policy is None:
        return []
    return [compare("policy", "root", str(want.get("receiver")), _policy_view(want), _policy_view(live.policy))]


def diff_state(desired: DesiredState, live: LiveState, datasource_uid: str) -> tuple[ObjectDiff, ...]:
    """Every owned object that was looked at, in kind order: dashboards, rules, contact points, policy."""
    uids = (datasource_uid,)
    return (*_dashboards(desired, live, uids), *_rules(desired, live), *_contact_points(desired, live),
            *_policy(desired, live))


__all__ = ["code_contact_point", "diff_state"]
