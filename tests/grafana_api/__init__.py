"""A test Grafana HTTP API server (no Grafana runs here), strict about the documented API.

It implements the parts watchtower's provisioner uses — folders, dashboards, the alerting
provisioning API (alert rules, contact points, notification policies) and /api/health —
with Grafana's validation and error shapes (``{"message": ...}``): uids of at most 40
characters, rules only in an existing folder, 412 on a dashboard version mismatch without
``overwrite``, 409 for an existing folder, provenance recorded per object and enforced the
way Grafana does (an object provisioned through the API cannot be changed with
``X-Disable-Provenance`` or from the UI), secrets redacted on read. Knobs: ``down()``/``up()``
stop and restart the listener (connection refused in between), ``restart_empty()`` is a
Grafana pod restart without persistence. ``requests`` logs every request for assertions.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.services import free_port

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


_EXPANDER_RE = re.compile(r"\$__(\w+)\{(.*?)\}")
_SHELL_SPECIAL = set("*#$@!?-0123456789")


def _go_expand_env(text: str, env: Mapping[str, str]) -> str:
    """Go's ``os.ExpandEnv``: ``$NAME``/``${NAME}`` → value or ""; bad ``${`` syntax is eaten;
    a ``$`` followed by anything else stays (``$1`` is the special variable "1", so "")."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        rest = text[i + 1:]
        if rest[0] == "{":
            if len(rest) > 2 and rest[1] in _SHELL_SPECIAL and rest[2] == "}":
                name, width = rest[1], 3
            else:
                end = rest.find("}")
                name, width = (rest[1:end], end + 1) if end > 1 else ("", 2 if end == 1 else 1)
        elif rest[0] in _SHELL_SPECIAL:
            name, width = rest[0], 1
        else:
            m = re.match(r"[A-Za-z0-9_]*", rest)
            name = m.group(0) if m else ""
            width = len(name)
        if name:
            out.append(env.get(name, ""))
        elif width == 0:
            out.append("$")
        i += 1 + width
    return "".join(out)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """One interpolated provisioning string, as Grafana reads it from a file.

    Mirrors grafana/grafana pkg/services/provisioning/values/values.go (interpolateValue): the
    text is split on ``$$`` (a literal ``$``), each part gets ``$__env{}``/``$__file{}``
    (pkg/setting ExpandVar) and then ``os.ExpandEnv``, and the parts are joined with ``$``.
    """
    def expander(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "env":
            return env.get(arg, "")
        if kind == "file":
            with open(arg, encoding="utf-8") as fh:
                return fh.read().strip()
        return m.group(0)

    return "$".join(_go_expand_env(_EXPANDER_RE.sub(expander, part), env) for part in value.split("$$"))


def _interpolate_tree(value: Any, env: Mapping[str, str]) -> Any:
    """values.JSONValue.Value(): every string in a nested structure interpolated."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {k: _interpolate_tree(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(v, env) for v in value]
    return value


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
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid → {"dashboard", "folderUid", "version", "id"}
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


class GrafanaAPIServer:
    """``with GrafanaAPIServer() as grafana:`` → ``grafana.url``, ``grafana.token``."""

    def __init__(self, tokens: Mapping[str, str] | None = None,
                 users: Mapping[str, tuple[str, str]] | None = None, version: str = "11.3.0",
                 tls_cert_file: str | None = None, tls_key_file: str | None = None) -> None:
        self.token = "glsa_watchtower_test_token_0123456789"
        self.tokens = dict(tokens or {self.token: "Admin", "glsa_viewer_token_abcdef": "Viewer"})
        self.users = dict(users or {"admin": ("admin-password", "Admin")})
        self.version = version
        self.state = GrafanaState()
        self.requests: list[LoggedRequest] = []
        self.restarts = 0
        self.internal_errors: list[str] = []
        self.secrets_readable = True  # False: the account lacks alert.provisioning.secrets:read
        self.legacy_provenance_errors = False  # True: a rule provenance conflict is a 500, as before Grafana's 409
        self._lock = threading.RLock()
        self.port = free_port()
        self._tls = (tls_cert_file, tls_key_file) if tls_cert_file and tls_key_file else None
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle knobs ---------------------------------------------------------------

    def start(self) -> GrafanaAPIServer:
        self.up()
        return self

    def up(self) -> None:
        """Listen (again) on the same port."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        if self._tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"grafana-api-{self.port}", daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: clients get "connection refused" until ``up()``."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        self.down()

    def restart_empty(self) -> None:
        """A Grafana pod restart without persistent storage: back to a fresh install."""
        with self._lock:
            self.state = GrafanaState()
            self.restarts += 1

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection helpers for tests --------------------------------------------------

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method != "GET"]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def provenance(self, kind: str, uid: str) -> str | None:
        return self.state.provenance.get((kind, uid))

    def ui_edit_rule(self, uid: str, **changes: Any) -> None:
        """What Grafana's UI (ruler API) allows: editing a rule only if it has no provenance."""
        with self._lock:
            prov = self.state.provenance.get(("rule", uid), "")
            if prov:
                raise ApiError(400, f"cannot edit a provisioned rule (provenance '{prov}') from the UI")
            self.state.rules[uid].update(changes)

    # ---- file provisioning -------------------------------------------------------------

    def provision_file(self, text: str, env: Mapping[str, str] | None = None) -> None:
        """Load an alerting provisioning file the way Grafana does at start-up (provenance "file").

        Mirrors grafana/grafana pkg/services/provisioning/alerting/rules_types.go: group name,
        folder, interval and every rule field are interpolated (values.StringValue /
        StringMapValue ``.Value()``), except ``annotations`` and each query's ``model``, which
        are taken raw (``.Raw``; newer releases expand only braced ``${VAR}`` in annotations, so a
        Go template such as ``{{ $labels.x }}`` is kept as written either way). Contact points
        (contact_point_types.go) and policies (notification_policy_types.go) are interpolated.
        Queries then go through PreSave like every other rule write.
        """
        import yaml

        env = dict(env or {})
        doc = yaml.safe_load(text) or {}
        with self._lock:
            st = self.state
            for group in doc.get("groups") or []:
                name = interpolate(str(group["name"]), env)
                folder_title = interpolate(str(group["folder"]), env)
                interval = int(prometheus_duration_seconds(interpolate(str(group.get("interval") or "1m"), env)))
                folder = next((f for f in st.folders.values() if f["title"] == folder_title), None)
                if folder is None:  # the file provisioner creates a missing folder by title
                    uid = f"f{next(st.ids):08d}"
                    folder = {"id": next(st.ids), "uid": uid, "title": folder_title, "version": 1,
                              "created": _now(), "updated": _now()}
                    st.folders[uid] = folder
                for raw in group.get("rules") or []:
                    rule = {
                        "uid": interpolate(str(raw["uid"]), env),
                        "title": interpolate(str(raw["title"]), env),
                        "ruleGroup": name, "folderUID": folder["uid"],
                        "condition": interpolate(str(raw["condition"]), env),
                        "noDataState": interpolate(str(raw.get("noDataState") or "NoData"), env),
                        "execErrState": interpolate(str(raw.get("execErrState") or "Alerting"), env),
                        "for": interpolate(str(raw.get("for") or "0s"), env),
                        "labels": {k: interpolate(str(v), env) for k, v in (raw.get("labels") or {}).items()},
                        "annotations": {k: str(v) for k, v in (raw.get("annotations") or {}).items()},  # raw
                        "isPaused": bool(raw.get("isPaused", False)),
                        "data": [{
                            "refId": interpolate(str(q["refId"]), env),
                            "queryType": interpolate(str(q.get("queryType") or ""), env),
                            "relativeTimeRange": copy.deepcopy(q.get("relativeTimeRange") or {"from": 0, "to": 0}),
                            "datasourceUid": interpolate(str(q["datasourceUid"]), env),
                            "model": copy.deepcopy(q["model"]),  # raw
                        } for q in raw.get("data") or []],
                    }
                    stored = self._validate_rule(rule, rule["uid"])
                    stored["id"] = st.rules[rule["uid"]]["id"] if rule["uid"] in st.rules else next(st.ids)
                    st.rules[rule["uid"]] = stored
                    st.provenance[("rule", rule["uid"])] = "file"
                st.group_intervals[(folder["uid"], name)] = interval
            for point in doc.get("contactPoints") or []:
                point_name = interpolate(str(point["name"]), env)
                for receiver in point.get("receivers") or []:
                    uid = interpolate(str(receiver["uid"]), env)
                    st.contact_points[uid] = {
                        "uid": uid, "name": point_name, "type": interpolate(str(receiver["type"]), env),
                        "settings": _interpolate_tree(receiver.get("settings") or {}, env),
                        "disableResolveMessage": bool(receiver.get("disableResolveMessage", False)),
                    }
                    st.provenance[("contact-point", uid)] = "file"
            for policy in doc.get("policies") or []:
                st.policy = {k: v for k, v in _interpolate_tree(policy, env).items() if k != "orgId"}
                st.provenance[("policy", "root")] = "file"

    # ---- request handling --------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
        disable_provenance = bool(headers.get("x-disable-provenance", ""))
        payload: Any = None
        try:
            if body:
                try:
                    payload = json.loads(body)
                except ValueError:
                    raise ApiError(400, "bad request data") from None
            with self._lock:
                status, answer = self._route(method, path, query, headers, payload, disable_provenance)
        except ApiError as exc:
            status, answer = exc.code, exc.body
        except Exception as exc:  # noqa: BLE001 - a bug in this server shows up as Grafana's 500
            status, answer = 500, {"message": f"internal server error: {type(exc).__name__}: {exc}"}
            self.internal_errors.append(repr(exc))
        with self._lock:
            self.requests.append(LoggedRequest(method, raw_path, status, disable_provenance, payload))
        return status, answer

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            role = self.tokens.get(auth[len("Bearer "):])
            if role is None:
                raise ApiError(401, "Invalid API key", messageId="api-keys.invalid-key", statusCode=401, traceID="")
            return role
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                raise ApiError(401, "Unauthorized") from None
            known = self.users.get(user)
            if known is None or known[0] != password:
                raise ApiError(401, "invalid username or password", messageId="password-auth.failed", statusCode=401, traceID="")
            return known[1]
        raise ApiError(401, "Unauthorized", messageId="auth.unauthorized", statusCode=401, traceID="")

    @staticmethod
    def _require(role: str, needed: str, permission: str) -> None:
        if ROLES[role] < ROLES[needed]:
            raise ApiError(403, f"You'll need additional permissions to perform this action. Permissions needed: {permission}",
                           accessErrorId="ACE0000000001", title="Access denied")

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str],
               payload: Any, disable_provenance: bool) -> tuple[int, Any]:
        if path == "/api/health" and method == "GET":
            return 200, {"commit": "0000000", "database": "ok", "version": self.version}
        role = self._authenticate(headers)
        prov = "" if disable_provenance else "api"
        m = re.fullmatch(r"/api/folders(?:/([^/]+))?", path)
        if m:
            return self._folders(method, m.group(1), payload, role)
        if path == "/api/dashboards/db" and method == "POST":
            self._require(role, "Editor", "dashboards:write")
            return self._save_dashboard(payload)
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if m:
            return self._dashboard(method, m.group(1), role)
        if path.startswith("/api/v1/provisioning/"):
            self._require(role, "Admin", "alert.provisioning:read" if method == "GET" else "alert.provisioning:write")
            m = re.fullmatch(r"/api/v1/provisioning/alert-rules(?:/([^/]+))?", path)
            if m:
                return self._rules(method, m.group(1), payload, prov)
            m = re.fullmatch(r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", path)
            if m:
                return self._rule_group(method, unquote(m.group(1)), unquote(m.group(2)), payload, prov)
            if path == "/api/v1/provisioning/contact-points/export" and method == "GET":
                return self._export_contact_points(query)
            m = re.fullmatch(r"/api/v1/provisioning/contact-points(?:/([^/]+))?", path)
            if m:
                return self._contact_points(method, m.group(1), payload, prov, query)
            if path == "/api/v1/provisioning/policies":
                return self._policies(method, payload, prov)
        raise ApiError(404, "Not found")

    # ---- folders -----------------------------------------------------------------------

    def _folder_view(self, folder: dict[str, Any]) -> dict[str, Any]:
        return {**folder, "url": f"/dashboards/f/{folder['uid']}/{_slug(folder['title'])}"}

    def _folders(self, method: str, uid: str | None, payload: Any, role: str) -> tuple[int, Any]:
        st = self.state
        if method == "GET" and uid is None:
            return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in st.folders.values()]
        if method == "GET":
            if uid not in st.folders:
                raise ApiError(404, "folder not found", status="not-found")
            return 200, self._folder_view(st.folders[uid])
        self._require(role, "Editor", "folders:create" if method == "POST" else "folders:write")
        if method == "POST" and uid is None:
            if not isinstance(payload, dict):
                raise ApiError(400, "bad request data")
            title = payload.get("title")
            if not isinstance(title, str) or not title.strip():
                raise ApiError(400, "folder title cannot be empty")
            new_uid = payload.get("uid") or f"f{next(st.ids):08d}"
            error = _uid_error(new_uid, "folder")
            if error:
                raise error
            if new_uid in st.folders:
                raise ApiError(409, "a folder with the same uid already exists")
            if any(f["title"] == title for f in st.folders.values()):
                raise ApiError(409, "a folder or dashboard in the general folder with the same name already exists")
            folder = {"id": next(st.ids), "uid": new_uid, "title": title, "version": 1, "created": _now(), "updated": _now()}
            st.folders[new_uid] = folder
            return 200, self._folder_view(folder)
        if uid not in st.folders:
            raise ApiError(404, "folder not found", status="not-found")
        folder = st.folders[uid]
        if method == "PUT":
            if not isinstance(payload, dict):
                raise ApiError(400, "bad request data")
            if not payload.get("overwrite") and payload.get("version") != folder["version"]:
                raise ApiError(412, "the folder has been changed by someone else", status="version-mismatch")
            if payload.get("title"):
                folder.update(title=payload["title"])
            folder.update(version=folder["version"] + 1, updated=_now())
            return 200, self._folder_view(folder)
        if method == "DELETE":
            if any(r["folderUID"] == uid for r in st.rules.values()):
                raise ApiError(400, "folder cannot be deleted: folder contains alert rules")
            for duid in [d for d, v in st.dashboards.items() if v["folderUid"] == uid]:
                del st.dashboards[duid]
            del st.folders[uid]
            return 200, {"message": "Folder deleted", "id": folder["id"], "title": folder["title"]}
        raise ApiError(405, "Method not allowed")

    # ---- dashboards --------------------------------------------------------------------

    def _save_dashboard(self, payload: Any) -> tuple[int, Any]:
        st = self.state
        if not isinstance(payload, dict) or not isinstance(payload.get("dashboard"), dict):
            raise ApiError(400, "bad request data: dashboard is required")
        dashboard = copy.deepcopy(payload["dashboard"])
        title = dashboard.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ApiError(400, "Dashboard title cannot be empty", status="empty-name")
        uid = dashboard.get("uid") or f"d{next(st.ids):08d}"
        if not isinstance(uid, str):
            raise ApiError(400, "bad request data: uid must be a string")
        if len(uid) > UID_MAX:
            raise ApiError(400, "uid too long, max 40 characters", status="uid-too-long")
        if not _UID_RE.match(uid):
            raise ApiError(400, "uid contains illegal characters", status="invalid-uid")
        folder_uid = payload.get("folderUid") or ""
        if folder_uid and folder_uid not in st.folders:
            raise ApiError(400, "folder not found", status="folder-not-found")
        overwrite = bool(payload.get("overwrite"))
        existing = st.dashboards.get(uid)
        if existing is not None and not overwrite and dashboard.get("version") != existing["version"]:
            raise ApiError(412, "The dashboard has been changed by someone else", status="version-mismatch")
        for other_uid, other in st.dashboards.items():
            if other_uid != uid and other["folderUid"] == folder_uid and other["dashboard"]["title"] == title and not overwrite:
                raise ApiError(412, "A dashboard with the same name in the folder already exists", status="name-exists")
        version = existing["version"] + 1 if existing else 1
        dash_id = existing["id"] if existing else next(st.ids)
        dashboard.update(id=dash_id, uid=uid, version=version)
        st.dashboards[uid] = {"dashboard": dashboard, "folderUid": folder_uid, "version": version, "id": dash_id,
                              "updated": _now(), "message": payload.get("message", "")}
        return 200, {"id": dash_id, "uid": uid, "url": f"/d/{uid}/{_slug(title)}", "status": "success",
                     "version": version, "slug": _slug(title), "folderUid": folder_uid}

    def _dashboard(self, method: str, uid: str, role: str) -> tuple[int, Any]:
        st = self.state
        if uid not in st.dashboards:
            raise ApiError(404, "Dashboard not found")
        stored = st.dashboards[uid]
        if method == "GET":
            folder = st.folders.get(stored["folderUid"])
            title = stored["dashboard"]["title"]
            return 200, {"dashboard": copy.deepcopy(stored["dashboard"]), "meta": {
                "type": "db", "slug": _slug(title), "url": f"/d/{uid}/{_slug(title)}", "version": stored["version"],
                "folderUid": stored["folderUid"], "folderTitle": folder["title"] if folder else "General",
                "provisioned": False, "updated": stored["updated"], "canSave": ROLES[role] >= 1,
            }}
        if method == "DELETE":
            self._require(role, "Editor", "dashboards:delete")
            del st.dashboards[uid]
            return 200, {"title": stored["dashboard"]["title"], "message": "Dashboard deleted", "id": stored["id"]}
        raise ApiError(405, "Method not allowed")

    # ---- provenance --------------------------------------------------------------------

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

    # ---- alert rules -------------------------------------------------------------------

    def _validate_rule(self, rule: Any, uid: str) -> dict[str, Any]:
        st = self.state
        if not isinstance(rule, dict):
            raise ApiError(400, "bad request data")
        error = _uid_error(uid, "invalid alert rule")
        if error:
            raise error
        title = rule.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 190:
            raise ApiError(400, "invalid alert rule: title is empty or longer than 190 characters")
        group = rule.get("ruleGroup")
        if not isinstance(group, str) or not group.strip() or len(group) > 190:
            raise ApiError(400, "invalid alert rule: rule group name is empty or longer than 190 characters")
        folder_uid = rule.get("folderUID")
        if not folder_uid:
            raise ApiError(400, "invalid alert rule: folderUID must be set")
        if folder_uid not in st.folders:
            raise ApiError(400, f"invalid alert rule: folder '{folder_uid}' does not exist")
        data = rule.get("data")
        if not isinstance(data, list) or not data:
            raise ApiError(400, "invalid alert rule: no queries or expressions are found")
        refs = []
        for item in data:
            if not isinstance(item, dict) or not item.get("refId") or not item.get("datasourceUid") or not isinstance(item.get("model"), dict):
                raise ApiError(400, "invalid alert rule: each query needs refId, datasourceUid and a model")
            refs.append(item["refId"])
        if len(set(refs)) != len(refs):
            raise ApiError(400, "invalid alert rule: refIds must be unique")
        if rule.get("condition") not in refs:
            raise ApiError(400, f"invalid alert rule: condition {rule.get('condition')!r} does not exist in the queries")
        if rule.get("noDataState") not in NO_DATA_STATES:
            raise ApiError(400, f"invalid alert rule: unknown noDataState {rule.get('noDataState')!r}")
        if rule.get("execErrState") not in EXEC_ERR_STATES:
            raise ApiError(400, f"invalid alert rule: unknown execErrState {rule.get('execErrState')!r}")
        try:
            for_seconds = prometheus_duration_seconds(rule.get("for") or "0s")
        except ValueError as exc:
            raise ApiError(400, f"invalid alert rule: {exc}") from None
        for field in ("labels", "annotations"):
            values = rule.get(field) or {}
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise ApiError(400, f"invalid alert rule: {field} must map names to strings")
        for other in st.rules.values():
            if other["uid"] != uid and other["folderUID"] == folder_uid and other["title"] == title:
                # api_provisioning.go maps ErrAlertRuleUniqueConstraintViolation to 400 (not 409)
                raise ApiError(400, "failed to save alert rule: a conflicting alert rule is found: "
                                    "rule title under the same organisation and folder should be unique")
        return {
            "uid": uid, "orgID": 1, "folderUID": folder_uid, "ruleGroup": group, "title": title,
            "condition": rule["condition"], "data": [pre_save(q) for q in data], "updated": _now(),
            "noDataState": rule["noDataState"], "execErrState": rule["execErrState"],
            "for": format_prometheus_duration(for_seconds), "annotations": dict(rule.get("annotations") or {}),
            "labels": dict(rule.get("labels") or {}), "isPaused": bool(rule.get("isPaused", False)),
        }

    def _rule_view(self, rule: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(rule)
        prov = self.state.provenance.get(("rule", rule["uid"]), "")
        if prov:
            view["provenance"] = prov
        return view

    def _rules(self, method: str, uid: str | None, payload: Any, prov: str) -> tuple[int, Any]:
        st = self.state
        if method == "GET" and uid is None:
            return 200, [self._rule_view(r) for r in st.rules.values()]
        if method == "POST" and uid is None:
            new_uid = (payload or {}).get("uid") or f"r{next(st.ids):08d}"
            if new_uid in st.rules:
                raise ApiError(409, f"an alert rule with uid '{new_uid}' already exists")
            rule = self._validate_rule(payload, new_uid)
            rule["id"] = next(st.ids)
            st.group_intervals.setdefault((rule["folderUID"], rule["ruleGroup"]), 60)
            st.rules[new_uid] = rule
            st.provenance[("rule", new_uid)] = prov
            return 201, self._rule_view(rule)
        if method == "DELETE" and uid is not None and uid not in st.rules:
            # api_provisioning.go RouteDeleteAlertRule: DeleteAlertRule finds no stored provenance
            # and deletes nothing without an error, so a missing rule is 204 like a deleted one
            return 204, None
        if uid is None or uid not in st.rules:
            raise ApiError(404, "rule not found")
        if method == "GET":
            return 200, self._rule_view(st.rules[uid])
        if method == "PUT":
            self._check_rule_provenance(uid, prov, "update")
            rule = self._validate_rule(payload, uid)
            rule["id"] = st.rules[uid]["id"]
            st.group_intervals.setdefault((rule["folderUID"], rule["ruleGroup"]), 60)
            st.rules[uid] = rule
            st.provenance[("rule", uid)] = prov
            return 200, self._rule_view(rule)
        if method == "DELETE":
            self._check_rule_provenance(uid, prov, "delete")
            gone = st.rules.pop(uid)
            st.provenance.pop(("rule", uid), None)
            if not any(r["folderUID"] == gone["folderUID"] and r["ruleGroup"] == gone["ruleGroup"] for r in st.rules.values()):
                st.group_intervals.pop((gone["folderUID"], gone["ruleGroup"]), None)
            return 204, None
        raise ApiError(405, "Method not allowed")

    def _rule_group(self, method: str, folder_uid: str, group: str, payload: Any, prov: str) -> tuple[int, Any]:
        """GET/PUT a whole rule group: its evaluation interval and its rules (PUT replaces them)."""
        st = self.state
        members = [r for r in st.rules.values() if r["folderUID"] == folder_uid and r["ruleGroup"] == group]
        if method == "GET":
            if not members:
                raise ApiError(404, "rule group does not exist")
            return 200, {"title": group, "folderUid": folder_uid, "interval": st.group_intervals[(folder_uid, group)],
                         "rules": [self._rule_view(r) for r in members]}
        if method != "PUT":
            raise ApiError(405, "Method not allowed")
        if folder_uid not in st.folders:
            raise ApiError(400, f"invalid alert rule: folder '{folder_uid}' does not exist")
        if not isinstance(payload, dict) or not isinstance(payload.get("rules"), list):
            raise ApiError(400, "bad request data")
        interval = payload.get("interval")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0 or interval % 10:
            raise ApiError(400, "invalid rule group: interval must be a positive multiple of the base interval 10s")
        validated = []
        for body in payload["rules"]:
            uid = (body or {}).get("uid") or f"r{next(st.ids):08d}"
            if uid in st.rules:
                self._check_provenance("rule", uid, prov)
            rule = self._validate_rule({**body, "folderUID": folder_uid, "ruleGroup": group}, uid)
            rule["id"] = st.rules[uid]["id"] if uid in st.rules else next(st.ids)
            validated.append(rule)
        keep = {r["uid"] for r in validated}
        for old in members:
            if old["uid"] not in keep:
                self._check_provenance("rule", old["uid"], prov)
        for old in members:
            if old["uid"] not in keep:
                del st.rules[old["uid"]]
                st.provenance.pop(("rule", old["uid"]), None)
        for rule in validated:
            st.rules[rule["uid"]] = rule
            st.provenance[("rule", rule["uid"])] = prov
        st.group_intervals[(folder_uid, group)] = interval
        return 200, {"title": group, "folderUid": folder_uid, "interval": interval,
                     "rules": [self._rule_view(r) for r in validated]}

    # ---- contact points ----------------------------------------------------------------

    def _contact_view(self, point: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(point)
        for key in SECURE_FIELDS.get(point["type"], ()):
            if key in view["settings"]:
                view["settings"][key] = REDACTED
        prov = self.state.provenance.get(("contact-point", point["uid"]), "")
        if prov:
            view["provenance"] = prov
        return view

    def _export_contact_points(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """The file-provisioning export; ``decrypt=true`` (admins only) includes the secrets."""
        decrypt = (query.get("decrypt") or ["false"])[0] == "true"
        if decrypt and not self.secrets_readable:
            raise ApiError(403, "You'll need additional permissions to perform this action. "
                                "Permissions needed: alert.provisioning.secrets:read", title="Access denied")
        if (query.get("format") or ["yaml"])[0] != "json":
            raise ApiError(400, "this test server exports only format=json")
        by_name: dict[str, list[dict[str, Any]]] = {}
        for point in self.state.contact_points.values():
            view = copy.deepcopy(point) if decrypt else self._contact_view(point)
            by_name.setdefault(point["name"], []).append({
                "uid": view["uid"], "type": view["type"], "settings": view["settings"],
                "disableResolveMessage": view["disableResolveMessage"]})
        return 200, {"apiVersion": 1, "contactPoints": [
            {"orgId": 1, "name": name, "receivers": receivers} for name, receivers in by_name.items()]}

    def _validate_contact_point(self, payload: Any, uid: str, stored: dict[str, Any] | None) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ApiError(400, "bad request data")
        error = _uid_error(uid, "invalid object specification")
        if error:
            raise error
        name, kind, settings = payload.get("name"), payload.get("type"), payload.get("settings")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "invalid object specification: contact point name must not be empty")
        if kind not in KNOWN_INTEGRATIONS:
            raise ApiError(400, f"invalid object specification: unknown contact point type {kind!r}")
        if not isinstance(settings, dict):
            raise ApiError(400, "invalid object specification: settings must be an object")
        settings = copy.deepcopy(settings)
        for key in SECURE_FIELDS.get(kind, ()):
            if settings.get(key) == REDACTED:  # Grafana keeps the stored secret
                if stored is None or stored["type"] != kind or key not in stored["settings"]:
                    raise ApiError(400, f"invalid object specification: {key} is redacted but nothing is stored")
                settings[key] = stored["settings"][key]
        if kind == "email" and not settings.get("addresses"):
            raise ApiError(400, "invalid object specification: could not find addresses in settings")
        if kind == "slack":
            if not settings.get("url") and not settings.get("token"):
                raise ApiError(400, "invalid object specification: token must be specified when using the Slack chat API")
            if settings.get("url") and not re.match(r"^https?://", settings["url"]):
                # echoes the value, as some Grafana validation errors do: clients must scrub secrets
                raise ApiError(400, f"invalid object specification: invalid URL {settings['url']!r}")
        return {"uid": uid, "name": name, "type": kind, "settings": settings,
                "disableResolveMessage": bool(payload.get("disableResolveMessage", False))}

    def _contact_points(self, method: str, uid: str | None, payload: Any, prov: str,
                        query: dict[str, list[str]]) -> tuple[int, Any]:
        st = self.state
        if method == "GET" and uid is None:
            name = (query.get("name") or [None])[0]
            return 200, [self._contact_view(p) for p in st.contact_points.values() if name is None or p["name"] == name]
        if method == "POST" and uid is None:
            new_uid = (payload or {}).get("uid") or f"c{next(st.ids):08d}"
            if new_uid in st.contact_points:
                raise ApiError(409, f"contact point with uid '{new_uid}' already exists")
            point = self._validate_contact_point(payload, new_uid, None)
            st.contact_points[new_uid] = point
            st.provenance[("contact-point", new_uid)] = prov
            return 202, self._contact_view(point)
        if uid is None or uid not in st.contact_points:
            raise ApiError(404, "contact point not found")
        if method == "PUT":
            self._check_provenance("contact-point", uid, prov)
            point = self._validate_contact_point(payload, uid, st.contact_points[uid])
            old_name = st.contact_points[uid]["name"]
            if old_name != point["name"] and self._last_of_name_in_use(uid, old_name):
                raise ApiError(409, f"contact point '{old_name}' is used by a notification policy")
            st.contact_points[uid] = point
            st.provenance[("contact-point", uid)] = prov
            return 202, {"message": "contactpoint updated"}
        if method == "DELETE":
            self._check_provenance("contact-point", uid, prov)
            name = st.contact_points[uid]["name"]
            if self._last_of_name_in_use(uid, name):
                raise ApiError(409, f"contact point '{name}' is used by a notification policy")
            del st.contact_points[uid]
            st.provenance.pop(("contact-point", uid), None)
            return 202, {"message": "contactpoint deleted"}
        raise ApiError(405, "Method not allowed")

    def _receivers_in(self, route: dict[str, Any]) -> set[str]:
        names = {route["receiver"]} if route.get("receiver") else set()
        for child in route.get("routes") or []:
            names |= self._receivers_in(child)
        return names

    def _last_of_name_in_use(self, uid: str, name: str) -> bool:
        others = [p for u, p in self.state.contact_points.items() if u != uid and p["name"] == name]
        return not others and name in self._receivers_in(self.state.policy)

    # ---- notification policies ---------------------------------------------------------

    def _policies(self, method: str, payload: Any, prov: str) -> tuple[int, Any]:
        st = self.state
        if method == "GET":
            view = copy.deepcopy(st.policy)
            stored = st.provenance.get(("policy", "root"), "")
            if stored:
                view["provenance"] = stored
            return 200, view
        if method == "PUT":
            if not isinstance(payload, dict) or not payload.get("receiver"):
                raise ApiError(400, "invalid object specification: root route must specify a default receiver")
            names = {p["name"] for p in st.contact_points.values()}
            for receiver in sorted(self._receivers_in(payload)):
                if receiver not in names:
                    raise ApiError(400, f"invalid object specification: receiver '{receiver}' does not exist")
            for field in ("group_wait", "group_interval", "repeat_interval"):
                if field in payload:
                    try:
                        prometheus_duration_seconds(payload[field])
                    except (ValueError, TypeError):
                        raise ApiError(400, f"invalid object specification: {field}: not a duration") from None
            self._check_provenance("policy", "root", prov)
            st.policy = {k: v for k, v in copy.deepcopy(payload).items() if k != "provenance"}
            st.provenance[("policy", "root")] = prov
            return 202, {"message": "policies updated"}
        if method == "DELETE":
            self._check_provenance("policy", "root", prov)
            st.policy = GrafanaState().policy
            st.provenance.pop(("policy", "root"), None)
            return 202, {"message": "policies resetted"}
        raise ApiError(405, "Method not allowed")


def _handler_for(api: GrafanaAPIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Grafana"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = api.handle(self.command, self.path, headers, body)
            data = b"" if answer is None or status == 204 else json.dumps(answer).encode()
            self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")  # so down() really cuts every client off
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    return Handler


__all__ = ["REDACTED", "ApiError", "GrafanaAPIServer", "LoggedRequest", "interpolate", "pre_save"]
