"""The HTTP server's own counters on /metrics: each refusal counted under its reason, open connections.

Real sockets on loopback against a real ``BoundedHTTPServer``; every client socket is closed and
the server shut down at the end.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import wait_for
from watchtower.app.httpmetrics import ServerMetrics
from watchtower.app.httpproto import REJECT_REASONS, Limits, Request, Response
from watchtower.app.httpserver import BoundedHTTPServer


class Blocking:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, request: Request) -> Response:
        if request.path == "/block":
            self.entered.release()
            self.release.wait(10)
        return Response(200, b"done\n")


def _send(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@contextlib.contextmanager
def _idle(port: int, n: int) -> Iterator[list[socket.socket]]:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(n)]
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


def test_every_refusal_is_counted_under_its_reason_and_open_connections_are_a_gauge() -> None:
    blocking = Blocking()
    limits = Limits(max_connections=8, max_in_flight=1, handler_threads=2, header_timeout=0.5)
    server = BoundedHTTPServer(blocking, "127.0.0.1", 0, limits=limits).start()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerMetrics(server.stats))
    port = server.server_address[1]
    try:
        start = _samples(registry)
        assert {r: start[("watchtower_http_rejected_total", (("reason", r),))] for r in REJECT_REASONS} == dict.fromkeys(REJECT_REASONS, 0)
        answers = {
            "header_too_large": _send(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"),
            "request_body": _send(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
            "bad_request": _send(port, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
            "method_not_allowed": _send(port, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n"),
            "header_timeout": _send(port, b"GET / HTTP/1.1\r\nHo"),  # the rest never comes: 408
        }
        holder = threading.Thread(target=_send, args=(port, b"GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10))
        holder.start()
        assert blocking.entered.acquire(timeout=5)
        answers["max_in_flight"] = _send(port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        blocking.release.set()
        holder.join(5)
        codes = {reason: answer.split(b" ", 2)[1].decode() for reason, answer in answers.items()}
        assert codes == {"header_too_large": "431", "request_body": "413", "bad_request": "400",
                         "method_not_allowed": "405", "header_timeout": "408", "max_in_flight": "503"}
        with _idle(port, 8):
            wait_for(lambda: server.open_connections == 8, 5, what="8 idle connections held")
            assert _samples(registry)[("watchtower_http_open_connections", ())] == 8
            assert _send(port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
        wait_for(lambda: server.open_connections == 0, 5, what="connections closed")
        end = _samples(registry)
        rejected = {r: end[("watchtower_http_rejected_total", (("reason", r),))] for r in REJECT_REASONS}
        assert rejected == {**dict.fromkeys(REJECT_REASONS, 0), **dict.fromkeys(codes, 1), "max_connections": 1}
        assert end[("watchtower_http_open_connections", ())] == 0
        assert end[("watchtower_http_connections_total", ())] == 6 + 1 + 8 + 1
        assert end[("watchtower_http_max_connections", ())] == 8
        assert end[("watchtower_http_max_in_flight", ())] == 1
        assert end[("watchtower_http_requests_in_flight", ())] == 0
    finally:
        blocking.release.set()
        server.shutdown()
        server.server_close()


def _get(port: int, headers: str) -> tuple[bytes, bytes]:
    answer = _send(port, f"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_metrics_carry_the_live_server_counters_in_every_format_and_encoding() -> None:
    from prometheus_client.core import GaugeMetricFamily

    from watchtower.app.http import App, serve
    from watchtower.app.store import RunRecord, SnapshotStore
    from watchtower.core.results import CollectResult

    store = SnapshotStore(["c"])
    family = GaugeMetricFamily("watchtower_test_value", "x", labels=["i"])
    for i in range(300):
        family.add_metric([str(i)], i)
    store.record("c", RunRecord(started_at=1.0, duration_seconds=0.1, success=True,
                                result=CollectResult(metrics=(family,))))
    app = App(store, alive=lambda: True, expected_collectors=("c",))
    server, _thread = serve(app, "127.0.0.1", 0)
    port = server.server_address[1]
    openmetrics = "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
    try:
        for _ in range(2):  # the second scrape comes from the cache: the counters must still be live
            assert _send(port, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 405")
            _head, plain = _get(port, "")
            _head, om = _get(port, openmetrics)
            head, zipped = _get(port, openmetrics + "Accept-Encoding: gzip\r\n")
            assert b"Content-Encoding: gzip" in head
            unzipped = gzip.decompress(zipped)  # one gzip member: the cached stream continued with the live part
            for text in (om.decode(), unzipped.decode()):
                assert text.endswith("# EOF\n") and text.count("# EOF") == 1
                names = {f.name for f in parse_openmetrics(text)}  # raises on an invalid exposition
                assert {"watchtower_test_value", "watchtower_http_rejected", "watchtower_http_open_connections"} <= names
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for f in text_string_to_metric_families(plain.decode()) for s in f.samples}
            assert samples[("watchtower_test_value", (("i", "299"),))] == 299
            assert samples[("watchtower_http_open_connections", ())] == 1  # this scrape's own connection
        assert samples[("watchtower_http_rejected_total", (("reason", "method_not_allowed"),))] == 2
        assert samples[("watchtower_http_connections_total", ())] == 6  # counted from the first scrape on
    finally:
        server.shutdown()
        server.server_close()
