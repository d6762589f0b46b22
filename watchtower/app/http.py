"""The HTTP endpoint: /metrics, /healthz, /readyz, the status page and /api/status.

Every handler only reads the snapshot store. The rendered exposition is cached per store
generation and format, so repeated scrapes between collector runs cost a dictionary lookup.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from watchtower.app import report
from watchtower.app.statuspage import render_page
from watchtower.app.store import SnapshotStore, StoreExposition

log = logging.getLogger(__name__)


class MetricsCache:
    """Exposition bytes per (store generation, content type); at most one generation kept."""

    def __init__(self, store: SnapshotStore, registry: CollectorRegistry) -> None:
        self._store = store
        self._registry = registry
        self._lock = threading.Lock()
        self._generation = -1
        self._bodies: dict[str, bytes] = {}

    def render(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        generation = self._store.view().generation
        with self._lock:
            if generation != self._generation:
                self._generation, self._bodies = generation, {}
            body = self._bodies.get(content_type)
        if body is None:
            body = encoder(self._registry)
            with self._lock:
                if self._generation == generation:
                    self._bodies[content_type] = body
        return body, content_type


class App:
    """What the handler needs: the store, liveness and readiness, optional basic auth."""

    def __init__(
        self,
        store: SnapshotStore,
        alive: Callable[[], bool],
        expected_collectors: tuple[str, ...],
        basic_auth: tuple[str, str] | None = None,
        cluster: str = "",
    ) -> None:
        self.store = store
        self.alive = alive
        self.expected_collectors = expected_collectors
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreExposition(store))
        self.metrics = MetricsCache(store, self.registry)
        self._basic_auth = basic_auth
        self.cluster = cluster

    def not_ready(self) -> list[str]:
        """Enabled collectors that have not completed a run yet."""
        states = self.store.view().states
        return [n for n in self.expected_collectors if n not in states or states[n].last_run is None]

    def authorized(self, header: str | None) -> bool:
        if self._basic_auth is None:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        want_user, want_password = self._basic_auth
        # compare both in constant time, and always both, so timing tells nothing
        ok_user = hmac.compare_digest(user.encode(), want_user.encode())
        ok_password = hmac.compare_digest(password.encode(), want_password.encode())
        return ok_user and ok_password

    def status(self) -> dict[str, Any]:
        return report.status_document(self.store.view(), cluster=self.cluster)


PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})  # probes stay reachable without credentials


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "watchtower"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            path = self.path.split("?", 1)[0]
            if path not in PUBLIC_PATHS and not app.authorized(self.headers.get("Authorization")):
                self._send(401, b"unauthorized\n", "text/plain; charset=utf-8",
                           {"WWW-Authenticate": 'Basic realm="watchtower"'})
                return
            if path == "/metrics":
                body, content_type = app.metrics.render(self.headers.get("Accept"))
                self._send(200, body, content_type)
            elif path == "/healthz":
                ok = app.alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"scheduler not running\n",
                           "text/plain; charset=utf-8")
            elif path == "/readyz":
                waiting = app.not_ready()
                if waiting:
                    self._send(503, ("waiting for first run of: " + ", ".join(waiting) + "\n").encode(),
                               "text/plain; charset=utf-8")
                else:
                    self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/api/status":
                self._send(200, json.dumps(app.status(), indent=2).encode(), "application/json")
            elif path == "/":
                self._send(200, render_page(app.status()).encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

    return Handler


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed TLS handshakes and dropped clients are the client's problem: log, don't print."""
        log.debug("request from %s failed", client_address, exc_info=True)


def serve(
    app: App, host: str, port: int, tls_cert_file: str | None = None, tls_key_file: str | None = None
) -> tuple[HTTPServer, threading.Thread]:
    """Bind and serve on a background thread; returns the server (``server_address`` has the port)."""
    server = HTTPServer((host, port), make_handler(app))
    if tls_cert_file and tls_key_file:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls_cert_file, tls_key_file)
        # handshake lazily in the per-connection thread, so a slow client cannot stall accept()
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
    thread.start()
    return server, thread
