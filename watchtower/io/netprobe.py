"""Bounded HTTP(S) and unix-socket reads for probe-style collectors, with failure reasons.

Collectors that talk to a local service (HAProxy stats, etcd) need the same two things: a
read that cannot hang past its timeout, and a short, stable reason token for every way it can
fail (``connection_refused``, ``timeout``, ``tls_bad_certificate``...) to use as an
``ItemError.reason`` and a metric label. Reasons never include secrets; details name the
endpoint and the underlying error text only.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import ssl
import stat
import sys
import time

from watchtower.core import reasons
from watchtower.core.regularfile import open_regular

MAX_BODY_BYTES = 32 * 1024 * 1024


class ProbeError(Exception):
    """A read failed; ``reason`` is a short label-safe token, ``detail`` a sentence for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


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


def http_get(
    url: str,
    timeout: float,
    tls: TLSClientConfig | None = None,
    auth: tuple[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> Fetched:
    """GET ``url`` and read the whole body, giving up after about ``timeout`` seconds.

    Connect and each socket read are bounded by ``timeout``, and reading stops once the overall
    deadline passes, so a server trickling bytes costs at most about twice ``timeout``.
    Raises ``ProbeError``; an HTTP error status is returned, not raised.
    """
    tls = tls or TLSClientConfig()
    verify: bool | str = True
    cert: tuple[str, str] | None = None
    if url.startswith("https://"):
        if tls.insecure_skip_verify:
            verify = False
        elif tls.ca_file:
            _check_readable(tls.ca_file, "CA file", reasons.CA_UNREADABLE)
            verify = tls.ca_file
        if tls.cert_file or tls.key_file:
            if not (tls.cert_file and tls.key_file):
                raise ProbeError(reasons.CLIENT_CERT_UNREADABLE, "a client certificate needs both cert_file and key_file")
            _check_readable(tls.cert_file, "client certificate", reasons.CLIENT_CERT_UNREADABLE)
            _check_readable(tls.key_file, "client key", reasons.CLIENT_CERT_UNREADABLE)
            cert = (tls.cert_file, tls.key_file)
    # requests and urllib3 cost ~10 MB and ~0.1 s at import: only when a probe runs
    import requests
    import urllib3

    start = time.monotonic()
    deadline = start + timeout
    try:
        session = requests.Session()
        session.trust_env = False  # probes go straight to the service: no $HTTP_PROXY, no .netrc
        response = session.get(
            url, timeout=(timeout, timeout), verify=verify, cert=cert, auth=auth, stream=True, allow_redirects=False,
        )
        with session, response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise ProbeError(reasons.RESPONSE_TOO_LARGE, f"{url}: more than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise ProbeError(reasons.TIMEOUT, f"{url}: body not complete within {timeout:g}s")
            return Fetched(status=response.status_code, body=b"".join(chunks),
                           elapsed_seconds=time.monotonic() - start)
    except ProbeError:
        raise
    except (requests.RequestException, OSError, ssl.SSLError, urllib3.exceptions.HTTPError) as exc:
        raise ProbeError(classify(exc), f"{url}: {describe(exc)}") from None


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
