"""Reconcile Grafana with the desired state through its HTTP API, writing only differences.

Transport is ``client.GrafanaClient`` (plain requests; see there for how Grafana's status codes
are read). The cycle is ``plan()`` (GETs only: what would be created, updated, deleted or left
alone) then ``apply(plan)``. A rejected object — including one another provisioner owns (a
provenance conflict: 409, or 403/500 naming provenance) — is reported and skipped; an
unreachable Grafana or a rejected credential aborts the run (``GrafanaUnreachable`` is worth
retrying, auth is not).

Grafana stores rules normalised (``AlertQuery.PreSave``: ``maxDataPoints``/``intervalMs`` added
to every query model), so both sides go through ``pre_save`` before they are compared; the
desired state already carries those defaults, so a second run writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from watchtower.core.results import ItemError
from watchtower.provisioning.changes import (
    _DONE,
    Change,
    Outcome,
    Plan,
    _dashboard_view,
    _diff_keys,
    _fingerprint,
    _policy_view,
    _q,
    _rule_view,
    _scrub,
    _stale,
)
from watchtower.provisioning.client import (
    GrafanaAuthError,
    GrafanaClient,
    GrafanaError,
    GrafanaRequestError,
    GrafanaTLSError,
    GrafanaUnreachable,
)
from watchtower.provisioning.model import AlertRule, ContactPoint, Dashboard, DesiredState
from watchtower.provisioning.settings import GrafanaSettings

log = logging.getLogger(__name__)
WRITE_MESSAGE = "provisioned by watchtower"  # the version message of every dashboard it saves (guard.py reads it)


class Reconciler:
    """Compares the desired state with Grafana and applies the differences.

    Contact point secrets come back from Grafana as ``[REDACTED]``, so they cannot be compared;
    the reconciler remembers a SHA-256 fingerprint of what it last sent per contact point and
    rewrites a secret only when that differs (once per process otherwise). Keep one Reconciler
    per process (the daemon job does) to stay write-free when nothing changed.
    """

    def __init__(self, client: GrafanaClient, settings: GrafanaSettings,
                 sent_secrets: dict[str, str] | None = None) -> None:
        self.client = client
        self.settings = settings
        self._sent_secrets = sent_secrets if sent_secrets is not None else {}
        # what plan() saw (Grafana's own form) and apply() got back, for drift detection (guard.py)
        self.live_dashboards: dict[str, Mapping[str, Any]] = {}
        self.live_points: dict[str, Mapping[str, Any]] = {}
        self.live_rules: dict[str, Mapping[str, Any]] = {}
        self.live_intervals: dict[str, Any] = {}
        self.written_versions: dict[str, int] = {}  # dashboard uid → version Grafana gave the write

    # ---- planning ----------------------------------------------------------------------

    def plan(self, desired: DesiredState) -> Plan:
        self.client.health()
        c = self.client
        changes: list[Change] = []
        folder = c.get_or_none(f"/folders/{_q(desired.folder.uid)}", f"folder {desired.folder.uid}")
        if folder is None:
            changes.append(Change("folder", desired.folder.uid, desired.folder.title, "create"))
        elif folder.get("title") != desired.folder.title:
            changes.append(Change("folder", desired.folder.uid, desired.folder.title, "update", f"title was {folder.get('title')!r}"))
        else:
            changes.append(Change("folder", desired.folder.uid, desired.folder.title, "unchanged"))
        for dashboard in desired.dashboards:
            changes.append(self._plan_dashboard(dashboard, desired.folder.uid))
        changes += self._plan_contact_points(desired.contact_points)
        policy = desired.policy()
        if policy is not None:
            actual = c.get("/v1/provisioning/policies", "notification policy") or {}
            prov = str(actual.get("provenance") or "")
            diff = _diff_keys(_policy_view(policy), _policy_view(actual))
            changes.append(Change("policy", "root", policy["receiver"], "update" if diff else "unchanged", diff, prov))
        changes += self._plan_rules(desired.rules, desired.folder.uid)
        changes += self._plan_group_intervals(desired)
        return Plan(tuple(changes))

    def _plan_group_intervals(self, desired: DesiredState) -> list[Change]:
        """Groups whose Prometheus ``interval`` differs from Grafana's evaluation interval."""
        changes = []
        for group in desired.rule_groups:
            if group.interval_seconds is None:
                continue
            want = int(group.interval_seconds)
            actual = self.client.get_or_none(
                f"/v1/provisioning/folder/{_q(desired.folder.uid)}/rule-groups/{_q(group.name)}", f"rule group {group.name}")
            have = actual.get("interval") if actual else None
            self.live_intervals[group.name] = have
            prov = str(((actual or {}).get("rules") or [{}])[0].get("provenance") or "")
            if have == want:
                changes.append(Change("rule-group", group.name, group.name, "unchanged", provenance=prov))
            else:
                was = f"{have}s" if have is not None else "Grafana's default"
                changes.append(Change("rule-group", group.name, group.name, "update", f"interval {was} -> {want}s", prov))
        return changes

    def _plan_dashboard(self, dashboard: Dashboard, folder_uid: str) -> Change:
        actual = self.client.get_or_none(f"/dashboards/uid/{_q(dashboard.uid)}", f"dashboard {dashboard.uid}")
        if actual is None:
            return Change("dashboard", dashboard.uid, dashboard.title, "create")
        self.live_dashboards[dashboard.uid] = actual
        model = _dashboard_view(actual.get("dashboard") or {})
        folder = (actual.get("meta") or {}).get("folderUid") or ""
        if folder != folder_uid:
            return Change("dashboard", dashboard.uid, dashboard.title, "update", f"in folder {folder or 'General'!r}")
        diff = _diff_keys(dashboard.model(), model)
        return Change("dashboard", dashboard.uid, dashboard.title, "update" if diff else "unchanged", diff)

    def _secret_values(self, point: ContactPoint) -> dict[str, str]:
        return {key: ref.read() for key, ref in point.secret_settings}

    def _plan_contact_points(self, points: tuple[ContactPoint, ...]) -> list[Change]:
        actual_list = self.client.get("/v1/provisioning/contact-points", "contact points") or []
        actual = {p.get("uid"): p for p in actual_list}
        self.live_points = {str(uid): p for uid, p in actual.items()}
        stored_secrets = self._stored_secrets() if any(p.secret_settings for p in points) else None
        changes = []
        for point in points:
            have = actual.get(point.uid)
            if have is None:
                changes.append(Change("contact-point", point.uid, f"{point.name} ({point.type})", "create"))
                continue
            prov = str(have.get("provenance") or "")
            secret_keys = {k for k, _ in point.secret_settings}
            have_settings = dict(have.get("settings") or {})
            want = {"name": point.name, "type": point.type, "settings": point.settings(), "disableResolveMessage": False}
            got = {"name": have.get("name"), "type": have.get("type"),
                   "settings": {k: v for k, v in have_settings.items() if k not in secret_keys},
                   "disableResolveMessage": bool(have.get("disableResolveMessage", False))}
            diff = _diff_keys(want, got)
            if not diff and secret_keys:
                diff = self._secret_diff(point, have_settings, stored_secrets)
            changes.append(Change("contact-point", point.uid, f"{point.name} ({point.type})",
                                  "update" if diff else "unchanged", diff, prov))
        return changes + _stale("contact-point", actual, {p.uid for p in points}, "no longer configured",
                                lambda have: f"{have.get('name')} ({have.get('type')})")

    def _stored_secrets(self) -> dict[str, Mapping[str, Any]] | None:
        """Contact point settings with secrets (export with decrypt=true), None if not allowed."""
        try:
            export = self.client.get("/v1/provisioning/contact-points/export", "contact point export",
                                     params={"decrypt": "true", "format": "json"})
        except GrafanaAuthError:  # 403: the account may not read secrets; fall back to fingerprints
            return None
        except GrafanaRequestError:
            return None
        out: dict[str, Mapping[str, Any]] = {}
        for point in (export or {}).get("contactPoints") or []:
            for receiver in point.get("receivers") or []:
                out[str(receiver.get("uid"))] = receiver.get("settings") or {}
        return out

    def _secret_diff(self, point: ContactPoint, shown: Mapping[str, Any],
                     stored_secrets: Mapping[str, Mapping[str, Any]] | None) -> str:
        want = self._secret_values(point)
        if stored_secrets is not None and point.uid in stored_secrets:
            stored = {k: str(stored_secrets[point.uid].get(k, "")) for k in want}
            return "" if _fingerprint(stored) == _fingerprint(want) else "secret differs"
        if any(shown.get(k) in (None, "") for k in want):
            return "secret missing"
        if self._sent_secrets.get(point.uid) != _fingerprint(want):
            return "secret cannot be read back; rewriting it once"
        return ""

    def _plan_rules(self, rules: tuple[AlertRule, ...], folder_uid: str) -> list[Change]:
        actual_list = self.client.get("/v1/provisioning/alert-rules", "alert rules") or []
        actual = {r.get("uid"): r for r in actual_list}
        self.live_rules = {str(uid): r for uid, r in actual.items()}
        changes = []
        for rule in rules:
            have = actual.get(rule.uid)
            if have is None:
                changes.append(Change("alert-rule", rule.uid, rule.title, "create"))
                continue
            diff = _diff_keys(_rule_view(rule.body()), _rule_view(have))
            changes.append(Change("alert-rule", rule.uid, rule.title, "update" if diff else "unchanged", diff,
                                  str(have.get("provenance") or "")))
        in_folder = {uid: have for uid, have in actual.items() if have.get("folderUID") == folder_uid}
        return changes + _stale("alert-rule", in_folder, {r.uid for r in rules}, "no longer in alerts/",
                                lambda have: str(have.get("title")))

    # ---- applying ----------------------------------------------------------------------

    def _disable_provenance(self, change: Change) -> bool:
        """Keep what Grafana stored ('api' must stay 'api'); new objects follow the config."""
        if change.action == "create" or change.provenance == "":
            return self.settings.disable_provenance
        return False

    def apply(self, desired: DesiredState, plan: Plan) -> Outcome:
        by_uid: dict[tuple[str, str], Any] = {("folder", desired.folder.uid): desired.folder}
        by_uid.update({("dashboard", d.uid): d for d in desired.dashboards})
        by_uid.update({("contact-point", p.uid): p for p in desired.contact_points})
        by_uid.update({("alert-rule", r.uid): r for r in desired.rules})
        by_uid.update({("rule-group", g.name): g for g in desired.rule_groups})
        order = {"folder": 0, "dashboard": 1, "contact-point": 2, "policy": 3, "alert-rule": 4, "rule-group": 5}
        # deletions last, rules before contact points (a policy may still route to a point)
        writes = sorted(plan.changes, key=lambda c: (c.action == "delete", -order[c.kind] if c.action == "delete" else order[c.kind]))
        done: list[tuple[Change, str]] = []
        errors: list[ItemError] = []
        for change in writes:
            if change.action == "unchanged":
                done.append((change, "unchanged"))
                continue
            if change.provenance not in ("", "api"):
                errors.append(ItemError(f"{change.kind} {change.uid}", "foreign_provenance",
                                        f"provisioned in Grafana with provenance {change.provenance!r}; not changed"))
                done.append((change, "failed"))
                continue
            try:
                self._apply_one(change, by_uid.get((change.kind, change.uid)), desired)
            except GrafanaRequestError as exc:  # one object refused; a provenance conflict is not an auth error
                errors.append(ItemError(f"{change.kind} {change.uid}", "foreign_provenance" if exc.provenance else "rejected",
                                        str(exc)))
                done.append((change, "failed"))
                log.warning("grafana: %s %s %s failed: %s", change.action, change.kind, change.uid, exc)
                continue
            done.append((change, _DONE[change.action]))
            log.info("grafana: %s %s %s%s", _DONE[change.action], change.kind, change.uid,
                     f" ({change.detail})" if change.detail else "")
        return Outcome(tuple(done), tuple(errors))

    def _apply_one(self, change: Change, obj: Any, desired: DesiredState) -> None:
        c = self.client
        what = f"{change.action} {change.kind} {change.uid}"
        no_prov = self._disable_provenance(change)
        if change.kind == "folder":
            if change.action == "create":
                c.request("POST", "/folders", what, body={"uid": obj.uid, "title": obj.title})
            else:
                c.request("PUT", f"/folders/{_q(obj.uid)}", what, body={"title": obj.title, "overwrite": True})
        elif change.kind == "dashboard":
            saved = c.request("POST", "/dashboards/db", what, body={
                "dashboard": obj.model(), "folderUid": desired.folder.uid, "overwrite": True,
                "message": WRITE_MESSAGE,
            })
            if isinstance(saved, Mapping) and isinstance(saved.get("version"), int):
                self.written_versions[obj.uid] = saved["version"]
        elif change.kind == "contact-point":
            path = "/v1/provisioning/contact-points"
            if change.action == "delete":
                c.request("DELETE", f"{path}/{_q(change.uid)}", what, disable_provenance=no_prov)
                return
            secrets = self._secret_values(obj)
            body = {"uid": obj.uid, "name": obj.name, "type": obj.type,
                    "settings": {**obj.settings(), **secrets}, "disableResolveMessage": False}
            try:
                if change.action == "create":
                    c.request("POST", path, what, body=body, disable_provenance=no_prov)
                else:
                    c.request("PUT", f"{path}/{_q(obj.uid)}", what, body=body, disable_provenance=no_prov)
            except GrafanaRequestError as exc:  # Grafana may quote the value it rejected
                raise GrafanaRequestError(_scrub(str(exc), secrets.values()), exc.status, exc.provenance) from None
            self._sent_secrets[obj.uid] = _fingerprint(secrets)
        elif change.kind == "policy":
            c.request("PUT", "/v1/provisioning/policies", what, body=desired.policy(), disable_provenance=no_prov)
        elif change.kind == "rule-group":
            c.request("PUT", f"/v1/provisioning/folder/{_q(desired.folder.uid)}/rule-groups/{_q(obj.name)}", what, body={
                "title": obj.name, "folderUid": desired.folder.uid, "interval": int(obj.interval_seconds),
                "rules": [r.body() for r in obj.rules],
            }, disable_provenance=no_prov)
        elif change.kind == "alert-rule":
            path = "/v1/provisioning/alert-rules"
            if change.action == "delete":  # Grafana answers 204 whether or not the rule still exists
                c.request("DELETE", f"{path}/{_q(change.uid)}", what, disable_provenance=no_prov)
            elif change.action == "create":
                c.request("POST", path, what, body=obj.body(), disable_provenance=no_prov)
            else:
                c.request("PUT", f"{path}/{_q(obj.uid)}", what, body=obj.body(), disable_provenance=no_prov)

    def reconcile(self, desired: DesiredState) -> tuple[Plan, Outcome]:
        plan = self.plan(desired)
        return plan, self.apply(desired, plan)


__all__ = [
    "Change",
    "GrafanaAuthError",
    "GrafanaClient",
    "GrafanaError",
    "GrafanaRequestError",
    "GrafanaTLSError",
    "GrafanaUnreachable",
    "Outcome",
    "Plan",
    "Reconciler",
]
