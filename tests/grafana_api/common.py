"""Shared vocabulary of the test Grafana: errors, the request log, state, identities, durations."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import time
from typing import Any

UID_MAX = 40
_UID_RE = re.compile(r"^[a-zA-Z0-9\-_]+$")
REDACTED = "[REDACTED]"
SECURE_FIELDS = {"slack": ("url", "token"), "webhook": ("password", "authorization_credentials"), "email": ()}
KNOWN_INTEGRATIONS = {"email", "slack", "webhook", "pagerduty", "opsgenie", "teams", "telegram", "discord", "googlechat"}
NO_DATA_STATES = {"Alerting", "NoData", "OK", "KeepLast"}
EXEC_ERR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
ROLES = {"Viewer": 0, "Editor": 1, "Admin": 2}
DEFAULT_CONTACT_POINT = "grafana-default-email"
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def prometheus_duration_seconds(text: str) -> float:
    """Parse a Prometheus duration as Grafana does (model.ParseDuration); ValueError if bad."""
    m = _DURATION_RE.match(text or "")
    if not text or not m or text == "":
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(g) * u for g, u in zip(m.groups(), _DURATION_UNITS) if g)


def format_prometheus_duration(seconds: float) -> str:
    """model.Duration's String(): 0s, 90s → 1m30s, 86400 → 1d."""
    if seconds == 0:
        return "0s"
    out, rest = "", int(seconds)
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


MAX_DATA_POINTS_DEFAULT = 43200  # 12 hours at 1 s, alert_query.go defaultMaxDataPoints
INTERVAL_MS_DEFAULT = 1000  # alert_query.go defaultIntervalMS


def pre_save(query: Any) -> dict[str, Any]:
    """What Grafana stores for one rule query: ``AlertQuery.PreSave``.

    Mirrors grafana/grafana pkg/services/ngalert/models/alert_query.go, run by the rule store on
    every insert and update: ``maxDataPoints`` and ``intervalMs`` are set in the model when
    missing, not a number or 0 (for expressions too), and a string ``queryType`` in the model
    is copied to the query. A client that compares its own body with a GET must expect these.
    """
    out = copy.deepcopy(query)
    model = out["model"]
    for key, default in (("maxDataPoints", MAX_DATA_POINTS_DEFAULT), ("intervalMs", INTERVAL_MS_DEFAULT)):
        value = model.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
            model[key] = default
    if isinstance(model.get("queryType"), str):
        out["queryType"] = model["queryType"]
    return out


class ApiError(Exception):
    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.body = {"message": message, **extra}


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    disable_provenance: bool
    body: Any


def _uid_error(uid: str, what: str) -> ApiError | None:
    if len(uid) > UID_MAX:
        return ApiError(400, f"{what}: uid too long, max {UID_MAX} characters")
    if not _UID_RE.match(uid):
        return ApiError(400, f"{what}: uid contains illegal characters")
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class GrafanaState:
    """Everything a Grafana without persistence forgets on restart."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.folders: dict[str, dict[str, Any]] = {}
        # uid → {"dashboard", "folderUid", "version", "id", "created", "createdBy", "updated", "updatedBy"}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.dashboard_versions: dict[str, list[dict[str, Any]]] = {}  # uid → the dashboard_version rows, oldest first
        self.version_ids = itertools.count(1)
        self.rules: dict[str, dict[str, Any]] = {}
        self.group_intervals: dict[tuple[str, str], int] = {}
        self.contact_points: dict[str, dict[str, Any]] = {
            "default-email-uid": {
                "uid": "default-email-uid", "name": DEFAULT_CONTACT_POINT, "type": "email",
                "settings": {"addresses": "<example@email.com>"}, "disableResolveMessage": False,
            },
        }
        self.policy: dict[str, Any] = {"receiver": DEFAULT_CONTACT_POINT, "group_by": ["grafana_folder", "alertname"]}
        self.provenance: dict[tuple[str, str], str] = {}  # (kind, uid) → "api" | "file" | ""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who made a request: a user (basic auth) or a service account (token), with its org role.

    Grafana records the numeric id on the objects it saves (``dashboard.created_by`` /
    ``updated_by``, ``dashboard_version.created_by``) and shows the login in the API
    (pkg/api/dashboard.go ``getIdentityName``): a user's login, a service account's
    ``sa-<org>-<name>`` login.
    """

    user_id: int
    login: str
    role: str


class ServerBase:
    """What the concern mixins (dashboards, alerting, notifications) need from the server."""

    state: GrafanaState
    legacy_provenance_errors: bool

    @staticmethod
    def _require(role: str, needed: str, permission: str) -> None:
        if ROLES[role] < ROLES[needed]:
            raise ApiError(403, f"You'll need additional permissions to perform this action. Permissions needed: {permission}",
                           accessErrorId="ACE0000000001", title="Access denied")

    def _check_rule_provenance(self, uid: str, new: str, operation: str) -> None:
        """A rule may be written only with the provenance it was stored with (or any, if none).

        Mirrors grafana/grafana pkg/services/ngalert/provisioning/alert_rules.go (Update/Delete
        AlertRule, ReplaceRuleGroup): ``errProvenanceMismatch`` is an errutil.StatusConflict, so
        the API answers 409 with messageId ``alerting.provenanceMismatch``; older releases
        returned a plain ``fmt.Errorf`` that api_provisioning.go turns into a 500.
        """
        stored = self.state.provenance.get(("rule", uid), "")
        if stored != new and stored != "":
            if self.legacy_provenance_errors:
                raise ApiError(500, f"cannot changed provenance from '{stored}' to '{new}'")
            raise ApiError(409, f"cannot {operation} with provided provenance '{new}', needs '{stored}'",
                           messageId="alerting.provenanceMismatch", statusCode=409)

    def _check_provenance(self, kind: str, uid: str, new: str) -> None:
        """Contact points and the policy tree: only a change *to* "no provenance" is refused.

        Mirrors grafana/grafana pkg/services/ngalert/provisioning/validation/provenance.go
        (ValidateProvenanceRelaxed) and validation/errors.go: ErrProvenanceChangeNotAllowed is
        an errutil.Forbidden, i.e. a 403 whose messageId names the provenance (not a missing
        permission), so a client must not read it as a rejected credential.
        """
        if kind == "rule":
            self._check_rule_provenance(uid, new, "update")
            return
        stored = self.state.provenance.get((kind, uid), "")
        if stored != "" and new == "":
            raise ApiError(403, f"Resource with provenance status '{stored}' cannot be managed via API that handles "
                                f"resources with provenance status '{new}'",
                           messageId="alerting.notifications.invalidProvenance", statusCode=403)
