"""Reconcile Grafana with the desired state through its HTTP API, writing only differences.

Transport is the PyPI ``grafana-client`` library: it covers folders, dashboards and the
alerting provisioning API (rules, contact points, policies) and passes
``X-Disable-Provenance`` on creates and updates; deletes and /api/health go through its raw
``client.DELETE``/``client.GET`` (the library has no provenance flag on deletes and its own
health check reads /api/frontend/settings). Every library error is translated here into a
``GrafanaError`` whose message names the object and never contains a credential.

The cycle is ``plan()`` (GETs only: what would be created, updated, deleted or left alone)
then ``apply(plan)``. A rejected object is reported and skipped; an unreachable Grafana or a
rejected credential aborts the run (``GrafanaUnreachable`` is worth retrying, auth is not).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from watchtower.core.results import ItemError
from watchtower.core.settings import parse_duration
from watchtower.provisioning.desired import AlertRule, ContactPoint, Dashboard, DesiredState, canonical
from watchtower.provisioning.settings import GrafanaSettings

log = logging.getLogger(__name__)

MANAGED_PREFIX = "wt-"  # rules and contact points with this uid prefix are watchtower's to prune
KINDS = ("folder", "dashboard", "contact-point", "policy", "alert-rule", "rule-group")
ACTIONS = ("create", "update", "delete", "unchanged")


class GrafanaError(Exception):
    """Provisioning failed; the message is safe to log (no token, no secret)."""

    reason = "error"


class GrafanaUnreachable(GrafanaError):
    reason = "unreachable"


class GrafanaAuthError(GrafanaError):
    reason = "unauthorized"


class GrafanaTLSError(GrafanaError):
    """The server's certificate did not verify: not retried, it will not fix itself."""

    reason = "tls_verify_failed"


class GrafanaRequestError(GrafanaError):
    reason = "rejected"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Change:
    """One object's fate in a plan. ``provenance`` is what Grafana has stored for it now."""

    kind: str
    uid: str
    name: str
    action: str
    detail: str = ""
    provenance: str = ""

    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.action:<9} {self.kind:<13} {self.uid:<40} {self.name}{detail}".rstrip()


@dataclasses.dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for c in self.changes:
            out[(c.kind, c.action)] = out.get((c.kind, c.action), 0) + 1
        return out

    @property
    def writes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action != "unchanged")

    def render(self) -> str:
        lines = [c.line() for c in self.changes]
        summary = ", ".join(f"{n} {a}" for a in ACTIONS if (n := sum(1 for c in self.changes if c.action == a)))
        return "\n".join(lines + [f"plan: {summary or 'nothing to do'}"]) + "\n"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What ``apply`` did: each change with its final state, and per-object errors."""

    changes: tuple[tuple[Change, str], ...]  # (change, state: created|updated|deleted|unchanged|failed)
    errors: tuple[ItemError, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for change, state in self.changes:
            out[(change.kind, state)] = out.get((change.kind, state), 0) + 1
        return out


_DONE = {"create": "created", "update": "updated", "delete": "deleted", "unchanged": "unchanged"}


def _seconds(value: object) -> float | None:
    try:
        return float(parse_duration(value)) if value not in (None, "") else 0.0  # type: ignore[arg-type]
    except ValueError:
        return None


def _rule_view(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a rule watchtower manages, normalised for comparison."""
    return {
        "title": rule.get("title"),
        "ruleGroup": rule.get("ruleGroup"),
        "folderUID": rule.get("folderUID"),
        "condition": rule.get("condition"),
        "data": rule.get("data") or [],
        "noDataState": rule.get("noDataState"),
        "execErrState": rule.get("execErrState"),
        "for": _seconds(rule.get("for")),
        "labels": rule.get("labels") or {},
        "annotations": rule.get("annotations") or {},
        "isPaused": bool(rule.get("isPaused", False)),
    }


def _policy_view(policy: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in policy.items():
        if key == "provenance" or value in (None, "", [], {}, False):
            continue
        if key in ("group_wait", "group_interval", "repeat_interval"):
            value = _seconds(value)
        out[key] = value
    return out


def _dashboard_view(model: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in ("id", "version")}


def _diff_keys(want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))  # deep, order-insensitive
    return "differs in " + ", ".join(keys) if keys else ""


class GrafanaClient:
    """A thin, error-translating layer over ``grafana_client.GrafanaApi``."""

    def __init__(self, settings: GrafanaSettings) -> None:
        from urllib.parse import urlsplit

        from grafana_client import GrafanaApi  # niquests is imported only when Grafana is used

        self.settings = settings
        parts = urlsplit(settings.url)
        if settings.token is not None:
            credential: Any = settings.token.read()
            self._credential_kind = "token"
        elif settings.password is not None:
            credential = (settings.username, settings.password.read())
            self._credential_kind = "username/password"
        else:
            credential = None
            self._credential_kind = "anonymous access"
        verify: bool | str = False if settings.insecure else (settings.ca_file or True)
        self.api = GrafanaApi(
            credential, protocol=parts.scheme, host=parts.hostname, port=parts.port,
            url_path_prefix=parts.path.strip("/") + "/" if parts.path.strip("/") else "",
            verify=verify, timeout=float(settings.request_timeout),
        )
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        import niquests
        from grafana_client.client import (
            GrafanaClientError,
            GrafanaException,
            GrafanaTimeoutError,
            GrafanaUnauthorizedError,
        )

        try:
            yield
        except GrafanaUnauthorizedError:
            raise GrafanaAuthError(f"Grafana rejected the {self._credential_kind} (401)") from None
        except GrafanaTimeoutError:
            raise GrafanaUnreachable(f"Grafana at {self.url} did not answer within {self.settings.request_timeout:g}s ({what})") from None
        except GrafanaClientError as exc:
            message = _message(exc.response)
            if exc.status_code == 403:
                raise GrafanaAuthError(f"Grafana denied {what} (403): {message}") from None
            raise GrafanaRequestError(f"{what}: Grafana answered {exc.status_code}: {message}", exc.status_code) from None
        except GrafanaException as exc:
            if exc.status_code and exc.status_code >= 500:
                raise GrafanaUnreachable(f"{what}: Grafana answered {exc.status_code}: {_message(exc.response)}") from None
            raise GrafanaUnreachable(f"cannot reach Grafana at {self.url} ({what}): {_short(exc)}") from None
        except niquests.exceptions.SSLError as exc:
            raise GrafanaTLSError(f"Grafana at {self.url}: TLS verification failed ({_short(exc)}); "
                                  "set ca_file to the CA that signed Grafana's certificate") from None
        except niquests.exceptions.RequestException as exc:
            raise GrafanaUnreachable(f"cannot reach Grafana at {self.url}: {_short(exc)}") from None

    def close(self) -> None:
        """Release the HTTP session's pooled connections (a client lives for one run)."""
        self.api.client.s.close()

    def health(self) -> Mapping[str, Any]:
        with self._translate("health check"):
            return self.api.client.GET("/health")

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._translate(what):
            return fn(*args, **kwargs)

    def get_or_none(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self.call(what, fn, *args)
        except GrafanaRequestError as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, what: str, path: str, disable_provenance: bool) -> None:
        headers = {"X-Disable-Provenance": "true"} if disable_provenance else None
        with self._translate(what):
            self.api.client.DELETE(path, headers=headers, accept_empty_json=True)


def _message(response: object) -> str:
    if isinstance(response, Mapping) and "message" in response:
        return str(response["message"])
    return str(response)[:200]


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if marker in text:
            return marker
    return text[:200]


def _stale(kind: str, actual: Mapping[Any, Mapping[str, Any]], wanted: set[str], detail: str,
           describe: Callable[[Mapping[str, Any]], str]) -> list[Change]:
    """Deletions for objects watchtower once created (uid prefix) that are no longer desired."""
    return [
        Change(kind, uid, describe(have), "delete", detail, str(have.get("provenance") or ""))
        for uid, have in actual.items()
        if isinstance(uid, str) and uid.startswith(MANAGED_PREFIX) and uid not in wanted
    ]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _fingerprint(values: Mapping[str, str]) -> str:
    return hashlib.sha256(canonical(dict(values)).encode()).hexdigest()


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

    # ---- planning ----------------------------------------------------------------------

    def plan(self, desired: DesiredState) -> Plan:
        self.client.health()
        c = self.client
        api = c.api
        changes: list[Change] = []
        folder = c.get_or_none(f"folder {desired.folder.uid}", api.folder.get_folder, desired.folder.uid)
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
            actual = c.call("notification policy", api.alertingprovisioning.get_notification_policy_tree) or {}
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
            actual = self.client.get_or_none(f"rule group {group.name}", self.client.api.alertingprovisioning.get_rule_group,
                                             desired.folder.uid, quote(group.name, safe=""))
            have = actual.get("interval") if actual else None
            prov = str(((actual or {}).get("rules") or [{}])[0].get("provenance") or "")
            if have == want:
                changes.append(Change("rule-group", group.name, group.name, "unchanged", provenance=prov))
            else:
                was = f"{have}s" if have is not None else "Grafana's default"
                changes.append(Change("rule-group", group.name, group.name, "update", f"interval {was} -> {want}s", prov))
        return changes

    def _plan_dashboard(self, dashboard: Dashboard, folder_uid: str) -> Change:
        api = self.client.api
        actual = self.client.get_or_none(f"dashboard {dashboard.uid}", api.dashboard.get_dashboard, dashboard.uid)
        if actual is None:
            return Change("dashboard", dashboard.uid, dashboard.title, "create")
        model = _dashboard_view(actual.get("dashboard") or {})
        folder = (actual.get("meta") or {}).get("folderUid") or ""
        if folder != folder_uid:
            return Change("dashboard", dashboard.uid, dashboard.title, "update", f"in folder {folder or 'General'!r}")
        diff = _diff_keys(dashboard.model(), model)
        return Change("dashboard", dashboard.uid, dashboard.title, "update" if diff else "unchanged", diff)

    def _secret_values(self, point: ContactPoint) -> dict[str, str]:
        return {key: ref.read() for key, ref in point.secret_settings}

    def _plan_contact_points(self, points: tuple[ContactPoint, ...]) -> list[Change]:
        api = self.client.api
        actual_list = self.client.call("contact points", api.alertingprovisioning.get_contactpoints) or []
        actual = {p.get("uid"): p for p in actual_list}
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
            export = self.client.call("contact point export", self.client.api.client.GET,
                                      "/v1/provisioning/contact-points/export", params={"decrypt": "true", "format": "json"})
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
        api = self.client.api
        actual_list = self.client.call("alert rules", api.alertingprovisioning.get_alertrules_all) or []
        actual = {r.get("uid"): r for r in actual_list}
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
            except GrafanaRequestError as exc:
                errors.append(ItemError(f"{change.kind} {change.uid}", "rejected", str(exc)))
                done.append((change, "failed"))
                log.warning("grafana: %s %s %s failed: %s", change.action, change.kind, change.uid, exc)
                continue
            done.append((change, _DONE[change.action]))
            log.info("grafana: %s %s %s%s", _DONE[change.action], change.kind, change.uid,
                     f" ({change.detail})" if change.detail else "")
        return Outcome(tuple(done), tuple(errors))

    def _apply_one(self, change: Change, obj: Any, desired: DesiredState) -> None:
        c = self.client
        prov_api = c.api.alertingprovisioning
        what = f"{change.action} {change.kind} {change.uid}"
        no_prov = self._disable_provenance(change)
        if change.kind == "folder":
            if change.action == "create":
                c.call(what, c.api.folder.create_folder, obj.title, uid=obj.uid)
            else:
                c.call(what, c.api.folder.update_folder, obj.uid, title=obj.title, overwrite=True)
        elif change.kind == "dashboard":
            c.call(what, c.api.dashboard.update_dashboard, {
                "dashboard": obj.model(), "folderUid": desired.folder.uid, "overwrite": True,
                "message": "provisioned by watchtower",
            })
        elif change.kind == "contact-point":
            if change.action == "delete":
                c.delete(what, f"/v1/provisioning/contact-points/{change.uid}", no_prov)
                return
            secrets = self._secret_values(obj)
            body = {"uid": obj.uid, "name": obj.name, "type": obj.type,
                    "settings": {**obj.settings(), **secrets}, "disableResolveMessage": False}
            try:
                if change.action == "create":
                    c.call(what, prov_api.create_contactpoint, body, disable_provenance=no_prov)
                else:
                    c.call(what, prov_api.update_contactpoint, obj.uid, body, disable_provenance=no_prov)
            except GrafanaRequestError as exc:  # Grafana may quote the value it rejected
                raise GrafanaRequestError(_scrub(str(exc), secrets.values()), exc.status) from None
            self._sent_secrets[obj.uid] = _fingerprint(secrets)
        elif change.kind == "policy":
            c.call(what, prov_api.set_notification_policy_tree, desired.policy(), disable_provenance=no_prov)
        elif change.kind == "rule-group":
            c.call(what, prov_api.update_rule_group, desired.folder.uid, quote(obj.name, safe=""), {
                "title": obj.name, "folderUid": desired.folder.uid, "interval": int(obj.interval_seconds),
                "rules": [r.body() for r in obj.rules],
            }, disable_provenance=no_prov)
        elif change.kind == "alert-rule":
            if change.action == "delete":
                c.delete(what, f"/v1/provisioning/alert-rules/{change.uid}", no_prov)
            elif change.action == "create":
                c.call(what, prov_api.create_alertrule, obj.body(), disable_provenance=no_prov)
            else:
                c.call(what, prov_api.update_alertrule, obj.uid, obj.body(), disable_provenance=no_prov)

    def reconcile(self, desired: DesiredState) -> tuple[Plan, Outcome]:
        plan = self.plan(desired)
        return plan, self.apply(desired, plan)


__all__ = [
    "Change", "GrafanaAuthError", "GrafanaClient", "GrafanaTLSError", "GrafanaError", "GrafanaRequestError", "GrafanaUnreachable",
    "Outcome", "Plan", "Reconciler",
]
