"""Bounded HTTP(S) and unix-socket reads for probe-style collectors, with failure reasons.

Collectors that talk to a local service (HAProxy stats, etcd) need the same two things: a
read that cannot hang past its timeout, and a short, stable reason token for every way it can
fail (``connection_refused``, ``timeout``, ``tls_bad_certificate``...) to use as an
``ItemError.reason`` and a metric label. Reasons never include secrets; details name the
endpoint and the underlying error text only.
"""

from __future__ import annotations

import base64
import dataclasses
import errno
import http.client
import io
import os
import socket
import ssl
import stat
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from watchtower.core import reasons
from watchtower.core.formatting import resolver_host
from watchtower.core.regularfile import open_regular
from watchtower.io.tlscontext import client_context

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_BODY_BYTES = 32 * 1024 * 1024
USER_AGENT = "watchtower"


class ProbeError(Exception):
    """A read failed; ``reason`` is a short label-safe token, ``detail`` a sentence for people.

    ``cause`` is the transport or TLS exception behind it (None when watchtower itself gave up:
    deadline, size cap, unreadable file); ``status`` the HTTP status if the headers had arrived.
    """

    def __init__(self, reason: str, detail: str, *, cause: BaseException | None = None,
                 status: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.cause = cause
        self.status = status


@dataclasses.dataclass(frozen=True)
class TLSClientConfig:
    """How to verify the server (CA file or system roots) and which client certificate to show."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False


@dataclasses.dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes
    elapsed_seconds: float


def _check_readable(path: str, what: str, reason: str) -> None:
    try:  # never open a FIFO for a blocking read: it would hang the probe for ever
        fd, _info = open_regular(path)
        os.close(fd)
    except OSError as exc:
        raise ProbeError(reason, f"{what} {path}: {exc.strerror or exc}") from None


def _default_ca_bundle() -> str | None:
    """certifi's bundle when no CA file is given (what these probes always trusted), else the system store."""
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def _context(tls: TLSClientConfig) -> ssl.SSLContext:
    """The cached client context for ``tls``; unreadable files are ProbeErrors, load errors propagate."""
    verify = not tls.insecure_skip_verify
    ca_file = tls.ca_file
    if verify and ca_file:
        _check_readable(ca_file, "CA file", reasons.CA_UNREADABLE)
    elif verify:
        ca_file = _default_ca_bundle()
    if tls.cert_file or tls.key_file:
        if not (tls.cert_file and tls.key_file):
            raise ProbeError(reasons.CLIENT_CERT_UNREADABLE, "a client certificate needs both cert_file and key_file")
        _check_readable(tls.cert_file, "client certificate", reasons.CLIENT_CERT_UNREADABLE)
        _check_readable(tls.key_file, "client key", reasons.CLIENT_CERT_UNREADABLE)
    return client_context(ca_file, tls.cert_file, tls.key_file, verify)


class _DeadlineReader(io.RawIOBase):
    """The socket as a file whose every read waits at most ``per_read`` and never past ``deadline``:
    a server trickling headers or body bytes cannot hold a probe beyond its total time."""

    def __init__(self, sock: socket.socket, deadline: float, per_read: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._per_read = per_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the total deadline passed")
        self._sock.settimeout(min(self._per_read, remaining))
        return self._sock.recv_into(buffer)


class _Source:
    """What ``http.client.HTTPResponse`` reads from: it only calls ``makefile``."""

    def __init__(self, reader: io.BufferedReader) -> None:
        self._reader = reader

    def makefile(self, mode: str) -> io.BufferedReader:
        return self._reader


def _request_head(url: str, headers: Mapping[str, str]) -> tuple[str, int, bool, bytes]:
    """(host, port, https, request head bytes) for a GET of ``url``; ValueError for a URL that is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:80]!r}")
    https = parts.scheme == "https"
    host, default_port = parts.hostname, (443 if https else 80)
    port = parts.port or default_port
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c in target for c in " \r\n\t"):
        raise ValueError(f"a URL path with white space: {target[:60]!r}")
    host_header = f"[{host}]" if ":" in host else host
    fields = {"Host": host_header if port == default_port else f"{host_header}:{port}", "User-Agent": USER_AGENT,
              "Accept": "*/*", "Connection": "close", **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return host, port, https, f"GET {target} HTTP/1.1\r\n{head}\r\n".encode("latin-1")


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection`` with an ASCII host handed to the resolver as bytes (``resolver_host``:
    no idna codec loaded for it); the host goes to ``getaddrinfo`` unchanged, which takes bytes."""
    return socket.create_connection((resolver_host(host), port), timeout=timeout)  # type: ignore[arg-type]


def _basic(auth: tuple[str, str]) -> str:
    user, password = auth
    try:
        raw = f"{user}:{password}".encode("latin-1")  # what requests sent for str credentials
    except UnicodeEncodeError:
        raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def http_get(
    url: str,
    timeout: float,
    tls: TLSClientConfig | None = None,
    auth: tuple[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    *,
    total: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Fetched:
    """GET ``url`` and read the whole body within ``total`` seconds (default ``timeout``).

    The connect, the TLS handshake and every read wait at most ``timeout``, and no read starts
    after the total deadline, so a server trickling bytes is cut off there. No proxies, no
    redirects followed, one connection per GET (``Connection: close``). Raises ``ProbeError``;
    an HTTP error status is returned, not raised.
    """
    tls = tls or TLSClientConfig()
    start = time.monotonic()
    deadline = start + (timeout if total is None else total)
    sock: socket.socket | None = None
    status: int | None = None
    try:
        extra = dict(headers or {})
        if auth is not None:
            extra["Authorization"] = _basic(auth)
        host, port, https, head = _request_head(url, extra)
        context = _context(tls) if https else None
        sock = connect(host, port, max(0.001, min(timeout, deadline - time.monotonic())))
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=resolver_host(host))
        sock.settimeout(max(0.001, min(timeout, deadline - time.monotonic())))
        sock.sendall(head)
        reader = io.BufferedReader(_DeadlineReader(sock, deadline, timeout), 65536)
        response = http.client.HTTPResponse(_Source(reader), method="GET")  # type: ignore[arg-type]
        response.begin()
        status = response.status
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read1(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise ProbeError(reasons.RESPONSE_TOO_LARGE, f"{url}: more than {max_bytes} bytes", status=status)
        return Fetched(status=status, body=b"".join(chunks), elapsed_seconds=time.monotonic() - start)
    except ProbeError:
        raise
    except TimeoutError as exc:
        what = "no complete answer" if status is None else "body not complete"
        raise ProbeError(reasons.TIMEOUT, f"{url}: {what} within {deadline - start:g}s", cause=exc) from None
    except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
        raise ProbeError(classify(exc), f"{url}: {describe(exc)}", cause=exc) from None
    finally:
        if sock is not None:
            sock.close()


def unix_socket_exchange(path: str, command: bytes, timeout: float, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """Send ``command`` to a unix stream socket and read until the peer closes it.

    The total time is bounded by ``timeout`` (each recv gets the remaining time).
    """
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command)
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError(reasons.TIMEOUT, f"{path}: no complete answer within {timeout:g}s")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise ProbeError(reasons.RESPONSE_TOO_LARGE, f"{path}: more than {max_bytes} bytes")
    except ProbeError:
        raise
    except OSError as exc:
        reason = classify(exc)
        if reason == reasons.CONNECTION_REFUSED and os.path.exists(path) and not _is_socket(path):
            reason, text = "not_a_socket", "exists but is not a socket"
        else:
            text = describe(exc)
        raise ProbeError(reason, f"{path}: {text}") from None
    finally:
        sock.close()


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


_TLS_PEER_REJECTED = (
    "alert bad certificate", "alert unknown ca", "alert certificate required", "alert certificate unknown",
    "alert access denied", "alert decrypt error", "alert handshake failure",
    "bad_certificate", "unknown_ca", "certificate_required", "certificate_unknown",
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 12:
        seen.append(current)
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        reason = getattr(current, "reason", None)
        current = current.__cause__ or current.__context__ or (reason if isinstance(reason, BaseException) else nested)
    return seen


def classify(exc: BaseException) -> str:
    """A short reason token for a connection/TLS/timeout failure."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "certificate_verify_failed" in text \
            or "certificate verify failed" in text:
        return reasons.TLS_VERIFY_FAILED
    if any(marker in text for marker in _TLS_PEER_REJECTED):
        return reasons.TLS_BAD_CERTIFICATE
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return reasons.CONNECTION_REFUSED
    if any(isinstance(e, ConnectionResetError) for e in chain) or "connection reset" in text:
        return reasons.CONNECTION_RESET
    # urllib3's NewConnectionError subclasses its timeout error: refused/reset are tested first
    if any(isinstance(e, (*_library_errors("Timeout", "TimeoutError"), socket.timeout, TimeoutError))
           for e in chain) or "timed out" in text:
        return reasons.TIMEOUT
    if any(isinstance(e, PermissionError) for e in chain):
        return reasons.PERMISSION_DENIED
    if any(isinstance(e, FileNotFoundError) for e in chain):
        return reasons.NOT_FOUND
    if any(isinstance(e, (ssl.SSLError, *_library_errors("SSLError", None))) for e in chain):
        return reasons.TLS_ERROR
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return reasons.DNS_ERROR
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return reasons.UNREACHABLE
    return reasons.CONNECTION_ERROR


def _library_errors(requests_name: str, urllib3_name: str | None) -> tuple[type[BaseException], ...]:
    """requests' and urllib3's exception classes of those names, if those libraries are loaded at all
    (an exception cannot be theirs otherwise, and importing them just to ask costs ~10 MB)."""
    found: list[type[BaseException]] = []
    requests = sys.modules.get("requests")
    if requests is not None:
        found.append(getattr(requests.exceptions, requests_name))
    urllib3 = sys.modules.get("urllib3")
    if urllib3 is not None and urllib3_name is not None:
        found.append(getattr(urllib3.exceptions, urllib3_name))
    return tuple(found)


def describe(exc: BaseException) -> str:
    """The innermost useful message of an exception chain, without URL noise from requests."""
    chain = _chain(exc)
    for e in reversed(chain):
        if isinstance(e, (ssl.SSLError, OSError)) and str(e):
            return f"{type(e).__name__}: {e}"
    return f"{type(exc).__name__}: {exc}"
