"""HTTP/1.1 for the bounded server: limits, request parsing, responses and their heads; pure."""

from __future__ import annotations

import dataclasses
import resource
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus

CHUNK_BYTES = 64 * 1024
REFUSING_EXTRA = 32  # connections over the cap held just long enough to read a request and answer 503
FD_RESERVE = 128  # fds left for collectors, files, the state file and log handlers
# Why the server refused or dropped a client, and how (exported as watchtower_http_rejected_total):
REJECT_REASONS = {
    "max_connections": "503, or closed (an idle connection evicted, or far over the cap)",
    "max_in_flight": "503",
    "header_timeout": "408, or closed when nothing was sent",
    "header_too_large": "431",
    "request_body": "413",
    "bad_request": "400 (505 for an HTTP version other than 1.0/1.1)",
    "method_not_allowed": "405",
    "write_timeout": "closed",
}


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
class ServerStats:
    """The server's own counters at one moment: what /metrics exports about the server itself."""

    open_connections: int
    connections_total: int
    in_flight: int
    max_connections: int
    max_in_flight: int
    rejected: tuple[tuple[str, int], ...]  # (reason, count) for every reason in REJECT_REASONS


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    target: str
    path: str
    version: str
    headers: Mapping[str, str]  # lower-case names; repeated fields joined with ", "


class Chunked:
    """A body made piece by piece while it is written (a large /metrics, inflated from its gzip):
    its length is known before the first piece, so the answer still has a Content-Length."""

    def __init__(self, length: int, pieces: Callable[[], Iterator[bytes]]) -> None:
        self._length = length
        self._pieces = pieces

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces()

    def __bytes__(self) -> bytes:
        return b"".join(self._pieces())


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes | Chunked
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class RequestError(Exception):
    """A request this server refuses; the connection is closed after the answer."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


# RFC 9110 5.6.2: a method is a token; none this server answers is longer than this
_TOKEN_BYTES = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MAX_METHOD_BYTES = 16
TLS_HANDSHAKE_RECORD = 0x16  # RFC 8446 5.1: ContentType handshake, the first byte of a ClientHello


def early_refusal(received: bytes) -> RequestError | None:
    """Why the first bytes of a request cannot start one (RFC 9112 3: method token, then SP), or None.

    Lets the server answer non-HTTP traffic, above all a TLS ClientHello sent to the plain-HTTP
    port, at once: it carries no line end, so it would otherwise hold a connection until the
    header timeout while the client's TLS library waits for a ServerHello.
    """
    start = len(received) - len(received.lstrip(b"\r\n"))  # RFC 9112 2.2: empty lines first are allowed
    head = received[start:start + _MAX_METHOD_BYTES + 1]
    space = head.find(b" ")
    method = head if space < 0 else head[:space]
    if head and head[0] == TLS_HANDSHAKE_RECORD:
        return RequestError(400, "bad_request", "a TLS handshake sent to the plain-HTTP port (use http://)")
    if space == 0 or any(byte not in _TOKEN_BYTES for byte in method) or len(method) > _MAX_METHOD_BYTES:
        return RequestError(400, "bad_request", "malformed request line")
    return None


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
    hosts = 0
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise RequestError(400, "bad_request", "obsolete line folding")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or any(c in name for c in " \t"):
            raise RequestError(400, "bad_request", "malformed header field")
        key = name.lower()
        hosts += key == "host"
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("0", ""):
        raise RequestError(413, "request_body", "request bodies are not accepted")
    if not target.startswith("/"):
        raise RequestError(400, "bad_request", "the request target must be a path")
    if hosts > 1 or (hosts == 0 and version == "HTTP/1.1"):  # RFC 9112 3.2: MUST answer 400
        raise RequestError(400, "bad_request", "an HTTP/1.1 request carries exactly one Host header")
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
