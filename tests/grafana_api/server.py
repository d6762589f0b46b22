"""The test Grafana's HTTP server: lifecycle knobs, authentication, routing, the request log."""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from tests.grafana_api.common import ApiError, GrafanaState, Identity, LoggedRequest
from tests.grafana_api.dashboards import DashboardsMixin
from tests.grafana_api.fileprov import FileProvisioningMixin
from tests.grafana_api.notifications import NotificationsMixin
from tests.grafana_api.ui import UIMixin
from tests.support.services import free_port

SERVICE_ACCOUNT_ID_BASE = 1000


class GrafanaAPIServer(DashboardsMixin, FileProvisioningMixin, NotificationsMixin, UIMixin):
    """``with GrafanaAPIServer() as grafana:`` → ``grafana.url``, ``grafana.token``.

    ``tokens`` maps a service-account token to its role, ``users`` a login to (password, role).
    Each token is a service account with its own login (``token_logins``, default
    ``sa-1-watchtower`` for ``token``), so what it saves shows who saved it; the user
    ``oncall`` (an Editor) is there for UI-style edits (see ``ui.py``).
    """

    def __init__(self, tokens: Mapping[str, str] | None = None,
                 users: Mapping[str, tuple[str, str]] | None = None, version: str = "11.3.0",
                 tls_cert_file: str | None = None, tls_key_file: str | None = None,
                 token_logins: Mapping[str, str] | None = None) -> None:
        self.token = "glsa_watchtower_test_token_0123456789"
        self.viewer_token = "glsa_viewer_token_abcdef"
        self.tokens = dict(tokens or {self.token: "Admin", self.viewer_token: "Viewer"})
        self.token_logins = {self.token: "sa-1-watchtower", self.viewer_token: "sa-1-viewer", **(token_logins or {})}
        self.users = dict(users or {"admin": ("admin-password", "Admin"), "oncall": ("oncall-password", "Editor")})
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


    def _authenticate(self, headers: Mapping[str, str]) -> Identity:
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
            role = self.tokens.get(token)
            if role is None:
                raise ApiError(401, "Invalid API key", messageId="api-keys.invalid-key", statusCode=401, traceID="")
            index = list(self.tokens).index(token)
            return Identity(SERVICE_ACCOUNT_ID_BASE + index, self.token_logins.get(token, f"sa-1-token-{index}"), role)
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                raise ApiError(401, "Unauthorized") from None
            known = self.users.get(user)
            if known is None or known[0] != password:
                raise ApiError(401, "invalid username or password", messageId="password-auth.failed", statusCode=401, traceID="")
            return Identity(list(self.users).index(user) + 1, user, known[1])
        raise ApiError(401, "Unauthorized", messageId="auth.unauthorized", statusCode=401, traceID="")

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str],
               payload: Any, disable_provenance: bool) -> tuple[int, Any]:
        if path == "/api/health" and method == "GET":
            return 200, {"commit": "0000000", "database": "ok", "version": self.version}
        who = self._authenticate(headers)
        role = who.role
        prov = "" if disable_provenance else "api"
        m = re.fullmatch(r"/api/folders(?:/([^/]+))?", path)
        if m:
            return self._folders(method, m.group(1), payload, role)
        if path == "/api/dashboards/db" and method == "POST":
            self._require(role, "Editor", "dashboards:write")
            return self._save_dashboard(payload, who)
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if m:
            return self._dashboard(method, m.group(1), role)
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)/versions(?:/([^/]+))?", path)
        if m and method == "GET":
            return self._version(m.group(1), m.group(2)) if m.group(2) else self._versions(m.group(1), query)
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)/restore", path)
        if m and method == "POST":
            return self._restore(m.group(1), payload, who)
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

