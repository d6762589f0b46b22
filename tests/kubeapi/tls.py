"""The HTTPS listener: TLS handshakes in worker threads, and a stop that really closes everything.

``ThreadingHTTPServer`` over a socket wrapped at ``accept()`` would handshake in the accept loop,
so one slow or broken client would stall every other; here the raw socket is wrapped in the
connection's own thread. The official client keeps connections alive in a pool, so ``close_all``
shuts open connections down (on the raw fd, leaving the SSL object to its thread) and joins
their threads with a bound, so ``stop()`` leaves no thread or socket behind.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

IDLE_TIMEOUT_SECONDS = 30.0
JOIN_TIMEOUT_SECONDS = 2.0


class TLSThreadingServer(ThreadingHTTPServer):
    """An HTTPS ``ThreadingHTTPServer`` that knows its live connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext, app: Any) -> None:
        self.ssl_context = context
        self.app = app
        self._live: dict[threading.Thread, ssl.SSLSocket | None] = {}
        self._live_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake here, in the connection's thread, then serve it until it closes."""
        me = threading.current_thread()
        with self._live_lock:
            self._live[me] = None
        try:
            request.settimeout(IDLE_TIMEOUT_SECONDS)
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self._forget(me)
            return
        with self._live_lock:
            self._live[me] = conn
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            self._forget(me)
            conn.close()

    def _forget(self, thread: threading.Thread) -> None:
        with self._live_lock:
            self._live.pop(thread, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request is normal in tests (timeouts, stop()); stay quiet about it."""
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    def close_all(self) -> None:
        """Shut down every open connection and wait (bounded) for its thread to finish."""
        with self._live_lock:
            live = dict(self._live)
        for conn in live.values():
            if conn is not None:
                try:
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in live:
            thread.join(JOIN_TIMEOUT_SECONDS)
