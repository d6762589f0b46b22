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
import dataclasses
import errno
import functools
import logging
import resource
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
REFUSING_EXTRA = 32  # connections over the cap held just long enough to read a request and answer 503
FD_RESERVE = 128  # fds left for collectors, files, the state file and log handlers
REJECT_REASONS = ("max_connections", "max_in_flight", "header_timeout", "header_too_large", "bad_request",
                  "write_timeout")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Every bound of the server; ``server:`` in the config file sets them (see the README)."""

    backlog: int = 1024
    max_connections: int = 512
    max_in_flight: int = 40
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    write_timeout: float = 30.0
    max_header_bytes: int = 8192
    handler_threads: int = 4

    def effective_max_connections(self) -> int:
        """``max_connections`` capped below the soft fd limit, so accept() never sees EMFILE."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, soft - FD_RESERVE - REFUSING_EXTRA))


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    target: str
    path: str
    version: str
    headers: Mapping[str, str]  # lower-case names; repeated fields joined with ", "


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class RequestError(Exception):
    """A request this server refuses; the connection is closed after the answer."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def parse_request_head(head: bytes) -> Request:
    """Parse a request line and header fields (RFC 9112 sections 3 and 5). Raises RequestError.

    Strict where leniency enables smuggling: no whitespace before a field's colon (5.1), no
    obsolete line folding (5.2), no body at all (every endpoint is GET/HEAD).
    """
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise RequestError(400, "bad_request", "undecodable request") from None
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[0] == "":  # RFC 9112 2.2: ignore empty lines before the request line
        lines.pop(0)
    if not lines:
        raise RequestError(400, "bad_request", "empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not all(parts):
        raise RequestError(400, "bad_request", "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise RequestError(505, "bad_request", "only HTTP/1.0 and HTTP/1.1")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise RequestError(400, "bad_request", "obsolete line folding")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or any(c in name for c in " \t"):
            raise RequestError(400, "bad_request", "malformed header field")
        key = name.lower()
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("0", ""):
        raise RequestError(413, "bad_request", "request bodies are not accepted")
    if not target.startswith("/"):
        raise RequestError(400, "bad_request", "the request target must be a path")
    return Request(method=method, target=target, path=target.split("?", 1)[0], version=version,
                   headers=headers)


def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n"


def _plain(status: int, text: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (text + "\n").encode(), headers=extra)


class _Connection(asyncio.Protocol):
    """One client connection: read a head, answer it, keep alive or close; every wait timed.

    It stays registered with the server (and counts against ``max_connections``) until its
    socket is really closed; ``closing`` ones are aborted at the latest ``write_timeout`` later.
    """

    def __init__(self, server: BoundedHTTPServer, sock: socket.socket, refuse: bool = False) -> None:
        self.server = server
        self.refuse = refuse  # over the connection cap with every held one busy: 503 to its request
        self.sock = sock
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[Any] | None = None
        self.buffer = bytearray()
        self.busy = False  # a request is being handled or written: not evictable
        self.closing = False
        self.last_activity = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_reason = ""
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._reading_paused = False

    # -- lifecycle -------------------------------------------------------------------------
    def arm(self, seconds: float, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_reason = reason
        self._timer = self.server.loop.call_later(seconds, self._expire, reason)

    def _expire(self, reason: str) -> None:
        if self.closing:
            self.close(abort=True)
            return
        if reason == "header_timeout" and self.buffer and self.transport is not None:
            self.server.count_reject(reason)
            self._write_and_close(_plain(408, "request header timeout"))
            return
        if reason in ("write_timeout", "header_timeout") and (reason == "write_timeout" or self.buffer):
            self.server.count_reject(reason)
        self.close(abort=True)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.closing:  # evicted during the TLS handshake
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._can_write.set()
        self.forget()

    def forget(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.server.forget(self)

    def close(self, abort: bool = False) -> None:
        """Close (flushing what is buffered, for at most ``write_timeout``) or abort."""
        first = not self.closing
        self.closing = True
        self._can_write.set()
        if self.transport is None:  # still connecting (TLS handshake): the task cleans up
            if self.task is not None:
                self.task.cancel()
            return
        if abort:
            self.transport.abort()
        else:
            self.transport.close()
            if first:
                self.arm(self.server.limits.write_timeout, "write_timeout")

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- reading ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if not self.buffer and not self.busy and self._timer_reason == "idle_timeout":
            # first byte of a kept-alive connection's next request: the header deadline starts now
            self.arm(self.server.limits.header_timeout, "header_timeout")
        self.buffer += data
        self.last_activity = time.monotonic()
        if self.busy:
            if len(self.buffer) > self.server.limits.max_header_bytes and self.transport is not None:
                self.transport.pause_reading()  # pipelined too far ahead: wait for the answer
                self._reading_paused = True
            return
        self._maybe_dispatch()

    def _maybe_dispatch(self) -> None:
        limit = self.server.limits.max_header_bytes
        end, size = self.buffer.find(b"\r\n\r\n"), 4
        if end < 0:
            end, size = self.buffer.find(b"\n\n"), 2
        if end < 0 or end + size > limit:
            if end >= 0 or len(self.buffer) > limit:
                self.server.count_reject("header_too_large")
                self._write_and_close(_plain(431, "request header fields too large"))
            return
        head = bytes(self.buffer[:end + size])
        del self.buffer[:end + size]
        try:
            request = parse_request_head(head)
        except RequestError as exc:
            self.server.count_reject(exc.reason)
            self._write_and_close(_plain(exc.status, str(exc)))
            return
        if self.refuse:
            self.server.count_reject("max_connections")
            self._write_and_close(_plain(503, "too many connections", (("Retry-After", "1"),)))
            return
        if request.method not in ("GET", "HEAD"):
            self._write_and_close(_plain(405, "method not allowed", (("Allow", "GET, HEAD"),)))
            return
        if not self.server.take_slot():
            self.server.count_reject("max_in_flight")
            self._write_and_close(_plain(503, "too many requests in flight", (("Retry-After", "1"),)))
            return
        self.busy = True
        if self._timer is not None:
            self._timer.cancel()
        self.server.loop.create_task(self._answer(request))

    # -- answering -------------------------------------------------------------------------
    async def _answer(self, request: Request) -> None:
        keep_alive = _keep_alive(request)
        try:
            response = self.server.fast(request) if self.server.fast is not None else None
            if response is None:
                response = await self.server.loop.run_in_executor(self.server.pool, self.server.handler, request)
            await self._write(response, request.method == "HEAD", keep_alive)
        except Exception:  # a handler bug answers 500, never kills the loop
            log.exception("HTTP handler failed for %s", request.path)
            keep_alive = False
            if not self.closing:
                await self._write(_plain(500, "internal error"), False, False)
        finally:
            self.server.release_slot()
        if self.closing:
            return
        if not keep_alive:
            self.close()
            return
        self.busy = False
        self.last_activity = time.monotonic()
        self.arm(self.server.limits.idle_timeout, "idle_timeout")
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        if self.buffer:  # a pipelined request arrived while this one was answered
            self.arm(self.server.limits.header_timeout, "header_timeout")
            self._maybe_dispatch()

    async def _write(self, response: Response, head_only: bool, keep_alive: bool) -> None:
        if self.transport is None or self.closing:
            return
        self.arm(self.server.limits.write_timeout, "write_timeout")
        head = _head(response, keep_alive)
        if head_only or len(response.body) <= CHUNK_BYTES:  # one write, one segment for small answers
            self.transport.write(head if head_only else head + response.body)
            return
        self.transport.write(head)
        view = memoryview(response.body)
        for start in range(0, len(view), CHUNK_BYTES):
            await self._can_write.wait()
            if self.closing:
                return
            self.transport.write(view[start:start + CHUNK_BYTES])

    def _write_and_close(self, response: Response) -> None:
        """An immediate refusal: answer with ``Connection: close``, then close."""
        self.busy = True
        if self.transport is not None and not self.closing:
            self.transport.write(_head(response, False) + response.body)
        self.close()


def _head(response: Response, keep_alive: bool) -> bytes:
    headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
               *response.headers]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return (_status_line(response.status) + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


def _keep_alive(request: Request) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    if request.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


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
    "bad_request": "malformed request; answered 4xx",
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
        self.pool = ThreadPoolExecutor(max_workers=self.limits.handler_threads, thread_name_prefix="http-handler")
        self.loop = asyncio.new_event_loop()
        self._accept_paused = False
        self.thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._stopped = threading.Event()

    # -- public ----------------------------------------------------------------------------
    def start(self) -> BoundedHTTPServer:
        self.thread.start()
        return self

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    @property
    def in_flight(self) -> int:
        return self._in_flight

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
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
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
