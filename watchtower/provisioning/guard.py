"""Drift detection and the ``on_drift`` policy around one reconciliation.

``review`` runs between ``Reconciler.plan`` and ``apply``: it classifies every dashboard, rule
group and contact point (``drift.classify``), saves an edited one before anything overwrites
it (a backup file in ``backup_dir``; for a dashboard also a copy in the same Grafana folder,
titled ``<title> (edited <date> by <user>)`` with its own uid), and takes an object out of the
plan when the policy is ``keep`` or when no backup could be made. Deletions of objects that
left the code are backed up first as well. ``settle`` runs after ``apply`` and records what
was written and which drifts are still open, in memory and in the state file.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from watchtower.core.results import ItemError
from watchtower.provisioning import normalise as norm
from watchtower.provisioning.api import WRITE_MESSAGE, Reconciler
from watchtower.provisioning.changes import Change, Outcome, Plan, _q
from watchtower.provisioning.client import GrafanaClient, GrafanaError
from watchtower.provisioning.drift import Drift, DriftState, Observed, Written, classify, merge_drifts, still_open
from watchtower.provisioning.driftstore import DriftMemory, write_backup
from watchtower.provisioning.model import DesiredState, canonical
from watchtower.provisioning.settings import GrafanaSettings

log = logging.getLogger(__name__)
Key = tuple[str, str]
COPY_UID_MAX = 40


@dataclasses.dataclass(frozen=True)
class Wanted:
    """One object as code wants it: its normalised model's hash and its title."""

    kind: str
    uid: str
    title: str
    hash: str


def wanted_objects(desired: DesiredState, settings: GrafanaSettings) -> dict[Key, Wanted]:
    """Every object drift is tracked for, as code has it."""
    out: dict[Key, Wanted] = {}
    ds = (settings.datasource_uid,)
    for d in desired.dashboards:
        out[("dashboard", d.uid)] = Wanted("dashboard", d.uid, d.title, norm.content_hash(norm.normalise_dashboard(d.model(), ds)))
    for g in desired.rule_groups:
        model = norm.normalise_rule_group(g.name, desired.folder.uid, g.interval_seconds, [r.body() for r in g.rules])
        out[("rule-group", g.name)] = Wanted("rule-group", g.name, g.name, norm.content_hash(model))
    for p in desired.contact_points:
        secrets = {k: norm.REDACTED for k, _ in p.secret_settings}
        body = {"uid": p.uid, "name": p.name, "type": p.type, "settings": {**p.settings(), **secrets}}
        model = norm.normalise_contact_point(body, tuple(secrets))
        out[("contact-point", p.uid)] = Wanted("contact-point", p.uid, f"{p.name} ({p.type})", norm.content_hash(model))
    return out


def tracked_objects(desired: DesiredState) -> list[tuple[str, str, str]]:
    """(kind, uid, title) of every object drift is tracked for, sorted; the keys and titles of
    ``wanted_objects`` without normalising or hashing anything (the run report only names them)."""
    out = [("dashboard", d.uid, d.title) for d in desired.dashboards]
    out += [("rule-group", g.name, g.name) for g in desired.rule_groups]
    out += [("contact-point", p.uid, f"{p.name} ({p.type})") for p in desired.contact_points]
    return sorted({(k, u): (k, u, t) for k, u, t in out}.values())


def _observed(kind: str, uid: str, title: str, model: Any, raw: Any, version: Any = None,
              updated: Any = "", updated_by: Any = "") -> Observed:
    model_json = canonical(model)  # dumped once: its hash is content_hash(model)
    return Observed(kind, uid, title, norm.text_hash(model_json), model_json,
                    version if isinstance(version, int) and not isinstance(version, bool) else None,
                    str(updated or ""), str(updated_by or ""), model_json if raw is model else canonical(raw))


def observe(reconciler: Reconciler, desired: DesiredState, settings: GrafanaSettings) -> dict[Key, Observed]:
    """The live objects ``Reconciler.plan`` fetched, normalised (none are fetched again)."""
    out: dict[Key, Observed] = {}
    ds = (settings.datasource_uid,)
    for uid, actual in reconciler.live_dashboards.items():
        model, meta = actual.get("dashboard") or {}, actual.get("meta") or {}
        out[("dashboard", uid)] = _observed("dashboard", uid, str(model.get("title", "")), norm.normalise_dashboard(model, ds),
                                            model, meta.get("version", model.get("version")), meta.get("updated"),
                                            meta.get("updatedBy"))
    for g in desired.rule_groups:
        rules = [r for r in reconciler.live_rules.values()
                 if r.get("folderUID") == desired.folder.uid and r.get("ruleGroup") == g.name]
        if not rules:
            continue
        interval = reconciler.live_intervals.get(g.name) if g.interval_seconds is not None else None
        model = norm.normalise_rule_group(g.name, desired.folder.uid, interval, rules)
        out[("rule-group", g.name)] = _observed("rule-group", g.name, g.name, model, rules,
                                                updated=max(str(r.get("updated") or "") for r in rules))
    secret_keys = {p.uid: tuple(k for k, _ in p.secret_settings) for p in desired.contact_points}
    for uid, point in reconciler.live_points.items():
        model = norm.normalise_contact_point(point, secret_keys.get(uid, ()))
        out[("contact-point", uid)] = _observed("contact-point", uid, f"{point.get('name')} ({point.get('type')})",
                                                model, model)  # raw: the redacted model, never a secret
    return out


def _when(updated: str, fallback: float) -> float:
    try:
        return datetime.datetime.fromisoformat(updated).timestamp() if updated else fallback
    except ValueError:
        return fallback


def object_key(change: Change, group_of: Mapping[str, str]) -> Key | None:
    """The tracked object a planned change belongs to (a rule belongs to its group)."""
    if change.kind in ("dashboard", "contact-point"):
        return (change.kind, change.uid)
    if change.kind == "rule-group":
        return ("rule-group", change.uid)
    if change.kind == "alert-rule" and change.uid in group_of:
        return ("rule-group", group_of[change.uid])
    return None


@dataclasses.dataclass(frozen=True)
class Review:
    """What ``review`` decided; ``plan`` is the plan to apply."""

    plan: Plan
    wanted: Mapping[Key, Wanted]
    observed: Mapping[Key, Observed]
    verdicts: Mapping[Key, str]
    held: frozenset[Key]  # not written this run (kept, or no backup could be made)
    drifts: tuple[Drift, ...]
    errors: tuple[ItemError, ...]


class DriftGuard:
    """Applies ``on_drift`` for one run; ``memory`` carries the state between runs."""

    def __init__(self, settings: GrafanaSettings, memory: DriftMemory, clock: Callable[[], float],
                 client: GrafanaClient) -> None:
        self.settings = settings
        self.memory = memory
        self.clock = clock
        self.client = client

    def review(self, reconciler: Reconciler, desired: DesiredState, plan: Plan, dry_run: bool = False) -> Review:
        errors: list[ItemError] = []
        problem = self.memory.load()
        if problem:
            errors.append(ItemError(str(self.memory.path), "state_error", problem))
        state, now = self.memory.state, float(self.clock())
        wanted, observed = wanted_objects(desired, self.settings), observe(reconciler, desired, self.settings)
        verdicts = {key: classify(w.hash, observed.get(key), state.written_for(*key)) for key, w in wanted.items()}
        for key in [k for k, v in verdicts.items() if v == "unknown" and k[0] == "dashboard"]:
            verdicts[key], observed[key] = self._from_history(observed[key])
        held: set[Key] = set()
        drifts: list[Drift] = []
        notes: dict[Key, str] = {}  # dry run: what a real run would do with an edit
        for key, verdict in sorted(verdicts.items()):
            live = observed.get(key)
            if live is None or verdict not in ("edited", "unknown"):
                continue
            w = wanted[key]
            if dry_run:
                by = f" by {live.updated_by}" if live.updated_by else ""
                notes[key] = (f"edited in Grafana{by}; on_drift: {self.settings.drift_policy(w.kind)}" if verdict == "edited"
                              else "differs; no record of the last write")
                continue
            if verdict == "unknown":  # no record: written as before, saved first when there is a place
                if self.settings.backup_dir and not self._backup_file(live, now, "differs from code; no record of the last write", errors):
                    held.add(key)
                continue
            policy = self.settings.drift_policy(w.kind)
            drift = Drift(w.kind, w.uid, w.title, _when(live.updated, now), live.updated_by, live.hash, "overwritten")
            log.warning("grafana: %s %s was edited outside code%s; on_drift=%s", w.kind, w.uid,
                        f" by {live.updated_by}" if live.updated_by else "", policy)
            if policy == "keep":
                drift = dataclasses.replace(drift, action="kept")
                held.add(key)
            elif policy == "backup":
                drift = self._backup(drift, live, desired, now, errors)
                if drift.action == "backup_failed":
                    held.add(key)
            drifts.append(drift)
        group_of = {r.uid: g.name for g in desired.rule_groups for r in g.rules}
        changes = []
        for change in plan.changes:
            ckey = object_key(change, group_of)
            if ckey in held and change.action != "unchanged":
                change = dataclasses.replace(change, action="unchanged", detail=f"held: edited in Grafana ({change.detail})")
            elif ckey is not None and ckey in notes and change.action == "update":
                change = dataclasses.replace(change, detail=f"{change.detail}; {notes[ckey]}" if change.detail else notes[ckey])
            elif change.action == "delete" and not dry_run and not self._backup_deleted(change, reconciler, now, errors):
                change = dataclasses.replace(change, action="unchanged", detail="not deleted: no backup could be made")
            changes.append(change)
        return Review(Plan(tuple(changes)), wanted, observed, verdicts, frozenset(held), tuple(drifts), tuple(errors))

    def _from_history(self, live: Observed) -> tuple[str, Observed]:
        """An unknown dashboard decided by its newest version: saved by watchtower (message
        ``WRITE_MESSAGE``) is a code change, anything else an edit by that version's author.

        Reads ``GET /api/dashboards/uid/:uid/versions?limit=1`` (grafana/grafana pkg/api/
        dashboard.go ``GetDashboardVersions``: newest first; a list, or ``{"versions": [...]}``
        since the dashboards moved to the app platform). Stays unknown when it cannot look.
        """
        try:
            answer = self.client.get(f"/dashboards/uid/{_q(live.uid)}/versions", f"versions of dashboard {live.uid}",
                                     params={"limit": "1"})
        except GrafanaError:
            return "unknown", live
        rows = answer.get("versions") if isinstance(answer, Mapping) else answer
        newest = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], Mapping) else None
        if newest is None:
            return "unknown", live
        if newest.get("message") == WRITE_MESSAGE:
            return "code_changed", live
        return "edited", dataclasses.replace(live, updated_by=live.updated_by or str(newest.get("createdBy") or ""))

    # ---- backups ---------------------------------------------------------------------

    def _backup_file(self, live: Observed, now: float, reason: str, errors: list[ItemError]) -> str:
        """The backup file written, "" when it could not be (the error is recorded)."""
        if not self.settings.backup_dir:
            return ""
        try:
            path = write_backup(self.settings.backup_dir, live, now, reason)
        except OSError as exc:
            errors.append(ItemError(f"{live.kind} {live.uid}", "backup_failed",
                                    f"cannot write a backup to {self.settings.backup_dir}: {exc.strerror or exc}"))
            return ""
        log.info("grafana: saved %s %s to %s", live.kind, live.uid, path)
        return str(path)

    def _backup(self, drift: Drift, live: Observed, desired: DesiredState, now: float, errors: list[ItemError]) -> Drift:
        path = self._backup_file(live, now, "edited outside code; code's version restored", errors)
        copy_uid = self._copy_dashboard(drift, live, desired.folder.uid, errors) if drift.kind == "dashboard" else ""
        if not path and not copy_uid:
            if not self.settings.backup_dir and drift.kind != "dashboard":
                errors.append(ItemError(f"{drift.kind} {drift.uid}", "backup_failed",
                                        "edited outside code and not overwritten: set backup_dir to keep a copy"))
            return dataclasses.replace(drift, action="backup_failed")
        return dataclasses.replace(drift, action="backed_up", backup=path, copy_uid=copy_uid)

    def _copy_dashboard(self, drift: Drift, live: Observed, folder_uid: str, errors: list[ItemError]) -> str:
        """A copy of the edited dashboard beside it in Grafana; its uid, "" when refused."""
        when = datetime.datetime.fromtimestamp(drift.since, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        copy_uid = f"{drift.uid[:COPY_UID_MAX - 9]}-{live.hash[:8]}"
        raw = {k: v for k, v in dict(live.raw()).items() if k not in norm.DASHBOARD_VOLATILE}
        title = f"{raw.get('title') or drift.title} (edited {when}{f' by {drift.by}' if drift.by else ''})"
        try:
            self.client.request("POST", "/dashboards/db", f"copy of dashboard {drift.uid}", body={
                "dashboard": {**raw, "uid": copy_uid, "title": title}, "folderUid": folder_uid, "overwrite": True,
                "message": f"edit of {drift.uid} made outside code, kept by watchtower"})
        except GrafanaError as exc:
            errors.append(ItemError(f"dashboard {drift.uid}", "backup_failed", f"cannot save a copy in Grafana: {exc}"))
            return ""
        return copy_uid

    def _backup_deleted(self, change: Change, reconciler: Reconciler, now: float, errors: list[ItemError]) -> bool:
        """Save an object about to be deleted; False (do not delete) when that failed. Without
        ``backup_dir`` only ``on_drift: overwrite`` deletes (nothing is deleted without a backup)."""
        if not self.settings.backup_dir:
            kind = "rule-group" if change.kind == "alert-rule" else change.kind
            if self.settings.drift_policy(kind) == "overwrite":
                return True
            errors.append(ItemError(f"{change.kind} {change.uid}", "backup_failed", "no longer in code but not deleted "
                                    "without a backup: set backup_dir (or on_drift: overwrite for this kind)"))
            return False
        if change.kind == "alert-rule":
            raw = reconciler.live_rules.get(change.uid) or {}
            model = norm.normalise_rule(raw)
        else:
            model = norm.normalise_contact_point(reconciler.live_points.get(change.uid) or {}, ())
        live = _observed(change.kind, change.uid, change.name, model, model, updated=model.get("updated", ""))
        return bool(self._backup_file(live, now, "no longer in code; deleted from Grafana", errors))

    # ---- after apply -------------------------------------------------------------------

    def settle(self, review: Review, outcome: Outcome, reconciler: Reconciler, desired: DesiredState) -> tuple[Drift, ...]:
        """Record what was written and which drifts stay open; returns the open drifts."""
        state, now = self.memory.state, float(self.clock())
        group_of = {r.uid: g.name for g in desired.rule_groups for r in g.rules}
        failed = {object_key(c, group_of) for c, result in outcome.changes if result == "failed"}
        written: list[Written] = []
        for key, w in review.wanted.items():
            verdict, live, before = review.verdicts[key], review.observed.get(key), state.written_for(*key)
            if verdict == "in_sync" and live is not None:
                written.append(Written(w.kind, w.uid, live.hash, live.version, now))
            elif key in review.held or key in failed:
                if before is not None:
                    written.append(before)
            else:
                version = reconciler.written_versions.get(w.uid) if w.kind == "dashboard" else None
                written.append(Written(w.kind, w.uid, w.hash, version, now))
        still = [d for d in state.drifts
                 if still_open(d, review.verdicts.get(d.key, ""), getattr(review.wanted.get(d.key), "hash", None), self._exists)]
        current = {d.key: d for d in still}
        current.update({d.key: d for d in review.drifts})  # this run's finding wins over an older one
        drifts = merge_drifts(state.drifts, current.values())
        problem = self.memory.save(DriftState(tuple(sorted(written, key=lambda x: (x.kind, x.uid))), drifts))
        if problem:
            log.warning("grafana: drift state %s: %s", self.memory.path, problem)
        return drifts

    def _exists(self, drift: Drift) -> bool:
        """Whether a backup of ``drift`` is still there (a file, or the copy dashboard)."""
        if drift.backup and os.path.exists(drift.backup):
            return True
        if drift.copy_uid:
            try:
                return self.client.get_or_none(f"/dashboards/uid/{_q(drift.copy_uid)}", f"dashboard {drift.copy_uid}") is not None
            except GrafanaError:
                return True  # cannot look: still open
        return False


__all__ = ["DriftGuard", "Review", "Wanted", "object_key", "observe", "tracked_objects", "wanted_objects"]
