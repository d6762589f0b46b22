"""One client connection of the bounded HTTP server: read a head, answer, keep alive or close; every wait timed."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from watchtower.app.httpproto import (
    CHUNK_BYTES,
    Limits,
    Request,
    RequestError,
    Response,
    _head,
    _keep_alive,
    _plain,
    early_refusal,
    parse_request_head,
)

log = logging.getLogger("watchtower.app.httpserver")


class _Server(Protocol):
    """What a connection needs from ``httpserver.BoundedHTTPServer`` (kept apart to avoid an import cycle)."""

    handler: Callable[[Request], Response]
    fast: Callable[[Request], Response | None] | None
    limits: Limits
    loop: asyncio.AbstractEventLoop
    pool: ThreadPoolExecutor

    def forget(self, conn: _Connection) -> None: ...

    def take_slot(self) -> bool: ...

    def release_slot(self) -> None: ...

    def count_reject(self, reason: str) -> None: ...


class _Connection(asyncio.Protocol):
    """One client connection: read a head, answer it, keep alive or close; every wait timed.

    It stays registered with the server (and counts against ``max_connections``) until its
    socket is really closed; ``closing`` ones are aborted at the latest ``write_timeout`` later.
    """

    def __init__(self, server: _Server, sock: socket.socket, refuse: bool = False) -> None:
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
        # before the head is complete (a ClientHello never completes one) and after: a malformed
        # method gets the same 400 however the bytes were segmented
        if (refusal := early_refusal(bytes(self.buffer[:64]))) is not None:
            self.server.count_reject(refusal.reason)
            self._write_and_close(_plain(refusal.status, str(refusal)))
            return
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
            self.server.count_reject("method_not_allowed")
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
        body = response.body
        if head_only or (isinstance(body, bytes) and len(body) <= CHUNK_BYTES):  # one write, one segment
            self.transport.write(head if head_only else head + bytes(body))
            return
        self.transport.write(head)
        for piece in (body,) if isinstance(body, bytes) else body:  # Chunked: made while the client reads
            view = memoryview(piece)
            for start in range(0, len(view), CHUNK_BYTES):
                await self._can_write.wait()
                if self.closing:
                    return
                self.transport.write(view[start:start + CHUNK_BYTES])

    def _write_and_close(self, response: Response) -> None:
        """An immediate refusal: answer with ``Connection: close``, then close."""
        self.busy = True
        if self.transport is not None and not self.closing:
            self.transport.write(_head(response, False) + bytes(response.body))
        self.close()
