"""The HTTP endpoint: /metrics, /healthz, /readyz, the status page and /api/status.

Every handler only reads the snapshot store. The rendered exposition is cached per store
generation and format, so repeated scrapes between collector runs cost a dictionary lookup
(plus the server's own few live counters, ``watchtower.app.httpmetrics``).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from watchtower.app import report
from watchtower.app.httpmetrics import Body, MetricsCache, ServerMetrics
from watchtower.app.httpproto import Limits, Request, Response
from watchtower.app.httpserver import BoundedHTTPServer
from watchtower.app.statuspage import SECTIONS, render_page
from watchtower.app.store import CollectorPlan, SnapshotStore, StoreExposition

log = logging.getLogger(__name__)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """``Accept-Encoding`` names gzip (or ``*``) with a non-zero quality (RFC 9110 12.5.3)."""
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = params.strip().lower()
        if quality.startswith("q="):
            try:
                if float(quality[2:]) <= 0:
                    continue
            except ValueError:
                continue
        return True
    return False


class App:
    """What the handler needs: the store, liveness and readiness, optional basic auth."""

    def __init__(
        self,
        store: SnapshotStore,
        alive: Callable[[], bool],
        expected_collectors: tuple[str, ...],
        basic_auth: tuple[str, str] | None = None,
        cluster: str = "",
        plan: Sequence[CollectorPlan] = (),
        skipped: Mapping[str, str] | None = None,
        passive: Sequence[str] = (),
        sections: Mapping[str, str] = SECTIONS,
    ) -> None:
        self.store = store
        self.alive = alive
        self.expected_collectors = expected_collectors
        self.skipped = dict(skipped or {})  # collectors not running, and why: the blind page lists them
        self.passive = tuple(passive)  # collectors that write rather than watch
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreExposition(store, plan=plan))
        self.live = CollectorRegistry(auto_describe=False)  # rendered on every scrape (the server's counters)
        self.metrics = MetricsCache(store, self.registry, self.live)
        self._basic_auth = basic_auth
        self.cluster = cluster
        self.sections = sections  # status page: collector name → title, in page order

    def attach_server(self, server: BoundedHTTPServer) -> None:
        """Export the server's own counters (``watchtower_http_*``) with every scrape."""
        self.live.register(ServerMetrics(server.stats))

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
        return report.status_document(self.store.view(), cluster=self.cluster, skipped=self.skipped,
                                      passive=self.passive)


PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})  # probes stay reachable without credentials
TEXT = "text/plain; charset=utf-8"
UNAUTHORIZED = Response(401, b"unauthorized\n", TEXT, (("WWW-Authenticate", 'Basic realm="watchtower"'),))


def _metrics_response(body: Body, content_type: str, gzipped: bool) -> Response:
    headers = (("Vary", "Accept-Encoding"), ("Content-Encoding", "gzip")) if gzipped else (("Vary", "Accept-Encoding"),)
    return Response(200, body, content_type, headers)


def make_handlers(app: App) -> tuple[Callable[[Request], Response], Callable[[Request], Response | None]]:
    """The request handler (run on a worker thread) and the fast path (run on the event loop).

    The fast path answers only what costs a lookup: a ``/metrics`` body already rendered for this
    snapshot generation (or a refusal of credentials); everything else goes to the handler.
    """

    def fast(request: Request) -> Response | None:
        if request.path != "/metrics":
            return None
        if not app.authorized(request.headers.get("authorization")):
            return UNAUTHORIZED
        gzipped = accepts_gzip(request.headers.get("accept-encoding"))
        hit = app.metrics.cached_body(request.headers.get("accept"), gzipped)
        return None if hit is None else _metrics_response(*hit, gzipped)

    def handle(request: Request) -> Response:
        path = request.path
        if path not in PUBLIC_PATHS and not app.authorized(request.headers.get("authorization")):
            return UNAUTHORIZED
        if path == "/metrics":
            gzipped = accepts_gzip(request.headers.get("accept-encoding"))
            body, content_type = app.metrics.body(request.headers.get("accept"), gzipped)
            return _metrics_response(body, content_type, gzipped)
        if path == "/healthz":
            ok = app.alive()
            return Response(200 if ok else 503, b"ok\n" if ok else b"scheduler not running\n", TEXT)
        if path == "/readyz":
            waiting = app.not_ready()
            if waiting:
                return Response(503, ("waiting for first run of: " + ", ".join(waiting) + "\n").encode(), TEXT)
            return Response(200, b"ok\n", TEXT)
        if path == "/api/status":
            return Response(200, json.dumps(app.status(), indent=2).encode(), "application/json")
        if path == "/":
            return Response(200, render_page(app.status(), app.sections).encode(), "text/html; charset=utf-8")
        return Response(404, b"not found\n", TEXT)

    return handle, fast


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context. Raises OSError/ssl.SSLError naming nothing: the caller names the files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def serve(
    app: App, host: str, port: int, tls_cert_file: str | None = None, tls_key_file: str | None = None,
    limits: Limits | None = None,
) -> tuple[BoundedHTTPServer, threading.Thread]:
    """Bind and serve on a background thread; returns the server (``server_address`` has the port).

    Raises OSError when the address cannot be bound, before any thread starts.
    """
    context = tls_context(tls_cert_file, tls_key_file) if tls_cert_file and tls_key_file else None
    handle, fast = make_handlers(app)
    server = BoundedHTTPServer(handle, host, port, limits=limits, ssl_context=context, fast=fast)
    app.attach_server(server)
    server.start()
    return server, server.thread
