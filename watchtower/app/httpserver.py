"""A small HTTP/1.1 server whose every resource is bounded, so no client can blind the monitor.

Why not socketserver, waitress or cheroot: socketserver spends a thread per connection with no
timeout and a listen backlog of 5; waitress speaks no TLS; cheroot reads request headers on a
fixed pool of worker threads (``cheroot/workers/threadpool.py``), so a few hundred slow-header
clients hold every worker. Here one asyncio event loop owns every socket, and:

- the listen backlog is ``backlog`` (node_exporter and Go use the kernel's ``somaxconn``);
- at most ``max_connections`` sockets are held (never more than the fd limit allows); a new
  connection beyond that evicts the connection idle the longest, so idle or slow clients can
  never make the endpoint unanswerable for a new one. If every held connection is busy, the new
  one gets ``503`` at once;
- at most ``max_in_flight`` requests are handled or written at a time; the excess gets ``503``
  with ``Retry-After`` at once (node_exporter's ``--web.max-requests``);
- a TLS handshake plus the request headers must arrive within ``header_timeout`` (Go's
  ``ReadHeaderTimeout``), a kept-alive connection may idle ``idle_timeout`` (Go's
  ``IdleTimeout``), a response must be taken within ``write_timeout``;
- request headers may be at most ``max_header_bytes`` (``431``); bodies are refused (``413``):
  every endpoint is GET/HEAD.

Handlers run on a small thread pool; a ``fast`` callback answers on the loop itself (a cached
``/metrics`` body is a dictionary lookup). Bodies are written in chunks under the transport's
flow control, so a slow reader holds at most a chunk or two of memory.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import functools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from watchtower.app.httpconn import _Connection
from watchtower.app.httpproto import REFUSING_EXTRA, REJECT_REASONS, Limits, Request, Response, ServerStats
from watchtower.core import threads
from watchtower.core.formatting import resolver_host

log = logging.getLogger(__name__)

class _RateLimitedLog:
    """At most one warning a minute per reason, with the count since the last one."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.last: dict[str, float] = {}
        self.pending: collections.Counter[str] = collections.Counter()

    def note(self, reason: str, message: str) -> None:
        self.pending[reason] += 1
        now = time.monotonic()
        if now - self.last.get(reason, -self.every) >= self.every:
            log.warning("HTTP server: %s (%d since the last warning)", message, self.pending[reason])
            self.last[reason] = now
            self.pending[reason] = 0


_REJECT_MESSAGES = {
    "max_connections": "connection limit reached; closed the longest idle connection or answered 503",
    "max_in_flight": "in-flight request limit reached; answered 503",
    "header_timeout": "a client did not send its request headers in time; closed",
    "header_too_large": "request headers over the size limit; answered 431",
    "request_body": "a request with a body; answered 413",
    "bad_request": "malformed request; answered 400",
    "method_not_allowed": "a method other than GET or HEAD; answered 405",
    "write_timeout": "a client did not take its response in time; closed",
}


class BoundedHTTPServer:
    """Serve ``handler`` on ``(host, port)`` from a background event loop until ``shutdown()``.

    ``server_address`` is the bound address (the port when 0 was asked for). Binding happens in
    the constructor, so a port in use or an address not on this host raises ``OSError`` there.
    """

    def __init__(
        self,
        handler: Callable[[Request], Response],
        host: str,
        port: int,
        limits: Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        fast: Callable[[Request], Response | None] | None = None,
    ) -> None:
        self.handler = handler
        self.fast = fast
        self.limits = limits or Limits()
        self.ssl_context = ssl_context
        self.max_connections = self.limits.effective_max_connections()
        self.rejected: collections.Counter[str] = collections.Counter({r: 0 for r in REJECT_REASONS})
        self.connections_total = 0
        self._connections: dict[int, _Connection] = {}
        self._in_flight = 0
        self._warn = _RateLimitedLog()
        self._sock = _bind(host, port, self.limits.backlog)
        self.server_address: tuple[Any, ...] = self._sock.getsockname()
        self.pool = threads.named_pool(self.limits.handler_threads, "http-handler", start=False)
        self.loop = asyncio.new_event_loop()
        self._accept_paused = False
        self.thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._stopped = threading.Event()

    # -- public ----------------------------------------------------------------------------
    def start(self) -> BoundedHTTPServer:
        threads.prestart(self.pool, self.limits.handler_threads)  # a fixed thread count from the start
        self.thread.start()
        return self

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def stats(self) -> ServerStats:
        """The counters now (read from any thread: plain ints and a dict with fixed keys)."""
        return ServerStats(
            open_connections=len(self._connections), connections_total=self.connections_total,
            in_flight=self._in_flight, max_connections=self.max_connections,
            max_in_flight=self.limits.max_in_flight,
            rejected=tuple((reason, self.rejected[reason]) for reason in REJECT_REASONS),
        )

    def shutdown(self) -> None:
        """Stop accepting, close every connection, stop the loop and the handler threads."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop)
            self.thread.join(10)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def server_close(self) -> None:
        self._sock.close()
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()

    # -- loop side -------------------------------------------------------------------------
    def _run(self) -> None:
        threads.name_os_thread()
        asyncio.set_event_loop(self.loop)
        self.loop.add_reader(self._sock.fileno(), self._accept)
        try:
            self.loop.run_forever()
        finally:
            self._stopped.set()

    def _stop(self) -> None:
        try:
            self.loop.remove_reader(self._sock.fileno())
        except (ValueError, OSError):
            pass
        for conn in list(self._connections.values()):
            conn.close(abort=True)
            conn.forget()
        self.loop.call_later(0.05, self.loop.stop)

    def _accept(self) -> None:
        for _ in range(64):  # a bounded batch per wake-up: evictions keep pace with accepts
            try:
                sock, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._warn.note("max_connections", f"accept failed ({exc.strerror}); pausing 100 ms")
                    self._evict_one()
                    self._pause_accept(0.1)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            sock.setblocking(False)
            self.connections_total += 1
            refuse = len(self._connections) >= self.max_connections and not self._evict_one()
            if refuse and len(self._connections) >= self.max_connections + REFUSING_EXTRA:
                self.count_reject("max_connections")
                sock.close()  # far over the cap and nothing to evict: no answer at all
                continue
            conn = _Connection(self, sock, refuse=refuse)
            self._connections[id(conn)] = conn
            conn.arm(min(self.limits.header_timeout, 1.0) if refuse else self.limits.header_timeout, "header_timeout")
            conn.task = self.loop.create_task(self._connect(conn, sock))
            conn.task.add_done_callback(functools.partial(self._connected, conn))

    async def _connect(self, conn: _Connection, sock: socket.socket) -> None:
        await self.loop.connect_accepted_socket(
            lambda: conn, sock, ssl=self.ssl_context,
            ssl_handshake_timeout=self.limits.header_timeout if self.ssl_context else None,
        )

    def _connected(self, conn: _Connection, task: asyncio.Task[Any]) -> None:
        """A failed or cancelled setup (TLS handshake) closes the socket; asyncio unregistered it."""
        conn.task = None
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                log.debug("connection setup failed: %s", task.exception())
            conn.sock.close()
            conn.closing = True
            conn.forget()

    def _pause_accept(self, seconds: float) -> None:
        if self._accept_paused:
            return
        self._accept_paused = True
        self.loop.remove_reader(self._sock.fileno())

        def resume() -> None:
            self._accept_paused = False
            if self._sock.fileno() >= 0:
                self.loop.add_reader(self._sock.fileno(), self._accept)

        self.loop.call_later(seconds, resume)

    def _evict_one(self) -> bool:
        """Close the connection idle the longest (no request being answered); False if none."""
        idle = [c for c in self._connections.values() if not c.busy and not c.closing]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.last_activity)
        self.count_reject("max_connections")
        victim.close(abort=True)
        return True

    def forget(self, conn: _Connection) -> None:
        self._connections.pop(id(conn), None)

    def take_slot(self) -> bool:
        if self._in_flight >= self.limits.max_in_flight:
            return False
        self._in_flight += 1
        return True

    def release_slot(self) -> None:
        self._in_flight -= 1

    def count_reject(self, reason: str) -> None:
        self.rejected[reason] += 1
        self._warn.note(reason, _REJECT_MESSAGES.get(reason, reason))


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening, non-blocking socket; raises OSError (EADDRINUSE, EADDRNOTAVAIL, ...)."""
    infos = socket.getaddrinfo(resolver_host(host) if host else None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _canon, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
