"""Issue 17, defect 1: no client can make /metrics unanswerable.

A real ``watchtower run`` child under ``ulimit -n 1024``, real sockets on loopback: 1,100 idle
connections, 400 slow-header clients, and a new client whose ``/metrics`` must answer within
1 s while the process stays under half a core. Every client socket is closed and the child is
stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import resource
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml

from tests.support.processes import REPO, python_env, stop
from tests.support.services import free_port, wait_for
from watchtower.app.httpproto import Limits, Request, Response
from watchtower.app.httpserver import BoundedHTTPServer

CLIENT_FDS_NEEDED = 1_100 + 400 + 200


@pytest.fixture(autouse=True, scope="module")
def _enough_fds_for_the_clients() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < CLIENT_FDS_NEEDED:
        if hard != resource.RLIM_INFINITY and hard < CLIENT_FDS_NEEDED:
            pytest.fail(f"the test process needs {CLIENT_FDS_NEEDED} fds, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (CLIENT_FDS_NEEDED * 2 if hard == resource.RLIM_INFINITY
                                                    else min(hard, CLIENT_FDS_NEEDED * 2), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _limit_fds_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


class Child:
    """``watchtower run`` with ``ulimit -n 1024``, stopped by PID."""

    def __init__(self, tmp_path: Path, server: dict | None = None) -> None:
        self.port = free_port()
        config = tmp_path / "wt.yaml"
        config.write_text(yaml.safe_dump({"server": {"listen": f"127.0.0.1:{self.port}", **(server or {})}}))
        self.log = tmp_path / "wt.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "watchtower", "run", "--config", str(config)], cwd=REPO, env=python_env(),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_limit_fds_1024,  # noqa: PLW1509 - only setrlimit between fork and exec
            )
        wait_for(lambda: _get(self.port, "/healthz", timeout=0.5)[0] == 200 or self.process.poll() is not None,
                 20, what="watchtower /healthz")
        assert self.process.poll() is None, self.log.read_text()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def threads(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))

    def stop(self) -> None:
        stop(self.process)


def _get(port: int, path: str, timeout: float, headers: str = "") -> tuple[int, bytes, dict[str, str]]:
    """One GET on a new connection with a raw socket: (status, body, headers); (0, b"", {}) on failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return 0, b"", {}
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), body, fields


def _timed_metrics(port: int) -> float:
    start = time.monotonic()
    status, body, _ = _get(port, "/metrics", timeout=5)
    elapsed = time.monotonic() - start
    assert status == 200 and b"watchtower_build_info" in body, (status, body[:200])
    return elapsed


@contextlib.contextmanager
def _open_idle(port: int, count: int) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.slow
def test_1100_idle_connections_under_ulimit_1024_do_not_blind_metrics(tmp_path: Path) -> None:
    child = Child(tmp_path)
    try:
        with _open_idle(child.port, 1_100):
            # the server holds as many as its cap allows (ulimit 1024: 512) and evicts the longest idle
            wait_for(lambda: child.fds() >= 500, 15, what="the server to hold its cap of idle connections")
            cpu0, t0 = child.cpu_seconds(), time.monotonic()
            latencies = [_timed_metrics(child.port) for _ in range(5)]
            time.sleep(1.0)
            cpu = (child.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            print(f"1,100 idle connections: /metrics max {max(latencies) * 1000:.1f} ms, {cpu:.3f} cores")
            assert max(latencies) < 1.0, latencies
            assert cpu < 0.5, f"{cpu:.2f} cores with 1,100 idle connections"
            assert child.process.poll() is None
        assert "connection limit reached" in child.log.read_text()  # logged, not silent
    finally:
        child.stop()


@pytest.mark.slow
def test_400_slow_header_clients_do_not_blind_metrics(tmp_path: Path) -> None:
    child = Child(tmp_path, {"header_timeout": "3s"})
    try:
        threads_before = child.threads()
        with _open_idle(child.port, 400) as socks:
            time.sleep(0.3)
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            cpu0, t0 = child.cpu_seconds(), time.monotonic()
            latencies = []
            for i in range(4):  # a header byte a second from every slow client, a new scrape between
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.send(b"X-Slow-%d: 1\r\n" % i)
                latencies.append(_timed_metrics(child.port))
                time.sleep(1.0)
            cpu = (child.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            print(f"400 slow-header clients: /metrics max {max(latencies) * 1000:.1f} ms, {cpu:.3f} cores, "
                  f"threads {threads_before} -> {child.threads()}")
            assert max(latencies) < 1.0, latencies
            assert cpu < 0.5, f"{cpu:.2f} cores with 400 slow-header clients"
            assert child.threads() <= threads_before + 4, "slow clients must not cost a thread each"
            # after the 3 s header timeout every slow client was answered 408 and closed
            time.sleep(0.5)
            answered = 0
            for sock in socks:
                sock.setblocking(True)
                sock.settimeout(0.5)
                with contextlib.suppress(OSError):
                    answered += sock.recv(100).startswith(b"HTTP/1.1 408")
            assert answered >= 390, f"only {answered} of 400 slow clients were timed out"
    finally:
        child.stop()


# -- the server on its own: limits answered quickly, strict parsing, keep-alive, gzip, TLS -------


class Blocking:
    """A handler that holds each request until released: to fill the in-flight slots."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, request: Request) -> Response:
        if request.path == "/block":
            self.entered.release()
            self.release.wait(10)
        return Response(200, b"done\n")


@contextlib.contextmanager
def _server(limits: Limits, handler=None, ssl_context=None) -> Iterator[tuple[BoundedHTTPServer, Blocking]]:
    blocking = handler or Blocking()
    server = BoundedHTTPServer(blocking, "127.0.0.1", 0, limits=limits, ssl_context=ssl_context).start()
    try:
        yield server, blocking
    finally:
        blocking.release.set()
        server.shutdown()
        server.server_close()


def _send_raw(port: int, data: bytes, timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


def test_excess_in_flight_requests_get_503_at_once() -> None:
    with _server(Limits(max_in_flight=2, handler_threads=2)) as (server, blocking):
        port = server.server_address[1]
        holders = [threading.Thread(target=_get, args=(port, "/block", 10)) for _ in range(2)]
        for t in holders:
            t.start()
        assert blocking.entered.acquire(timeout=5) and blocking.entered.acquire(timeout=5)
        start = time.monotonic()
        status, _body, headers = _get(port, "/other", timeout=2)
        assert status == 503 and headers.get("retry-after") == "1"
        assert time.monotonic() - start < 0.5
        assert server.rejected["max_in_flight"] == 1
        blocking.release.set()
        for t in holders:
            t.join(5)
        assert _get(port, "/other", timeout=2)[0] == 200


def test_connection_cap_evicts_the_longest_idle_and_503s_when_all_are_busy() -> None:
    with _server(Limits(max_connections=8, max_in_flight=40, handler_threads=8)) as (server, blocking):
        port = server.server_address[1]
        with _open_idle(port, 8) as idle:
            wait_for(lambda: server.open_connections == 8, 5, what="8 idle connections held")
            assert _get(port, "/x", timeout=2)[0] == 200  # an idle one was evicted for it
            assert server.open_connections <= 8
            closed = sum(1 for s in idle if _peer_closed(s))
            assert closed >= 1
        wait_for(lambda: server.open_connections == 0, 5, what="connections closed")
        holders = [threading.Thread(target=_get, args=(port, "/block", 10)) for _ in range(8)]
        for t in holders:
            t.start()
        for _ in range(8):
            assert blocking.entered.acquire(timeout=5)
        start = time.monotonic()
        status, _body, _headers = _get(port, "/x", timeout=2)
        assert status == 503 and time.monotonic() - start < 0.5
        blocking.release.set()
        for t in holders:
            t.join(5)


def _peer_closed(sock: socket.socket) -> bool:
    sock.setblocking(True)
    sock.settimeout(0.5)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError:
        return False


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # RFC 9112 3.2: an HTTP/1.1 request without Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # ... or with two
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello: no line end ever comes
    (b"G\xc3T / HTTP/1.1", 400),  # not a method token, answered before the line ends
    (b"G\xc3T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # ... and the same answer for a whole head (not 405)
])
def test_bad_requests_are_refused_and_closed(request_bytes: bytes, status: int) -> None:
    with _server(Limits()) as (server, _blocking):
        answer = _send_raw(server.server_address[1], request_bytes)
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]
        assert b"Connection: close" in answer


def test_keep_alive_pipelining_head_and_idle_timeout() -> None:
    with _server(Limits(idle_timeout=0.5)) as (server, _blocking):
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.count(b"HTTP/1.1 200 OK") == 3
        assert data.count(b"done\n") == 2  # HEAD has no body
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"done\n"):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
            start = time.monotonic()
            assert sock.recv(10) == b""  # closed by the idle timeout
            assert 0.3 < time.monotonic() - start < 2.0


def test_tls_handshake_that_never_comes_is_closed_and_others_are_served(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with _server(Limits(header_timeout=0.5), ssl_context=server_ctx) as (server, _blocking):
        port = server.server_address[1]
        with _open_idle(port, 50) as silent:
            time.sleep(0.1)
            with socket.create_connection(("127.0.0.1", port), timeout=3) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert tls.recv(1000).startswith(b"HTTP/1.1 200")
            time.sleep(1.0)
            assert all(_peer_closed(s) for s in silent)
        wait_for(lambda: server.open_connections == 0, 5, what="all connections closed")


def test_gzip_is_honoured_and_cached_per_generation() -> None:
    from prometheus_client.core import GaugeMetricFamily

    from watchtower.app.http import App
    from watchtower.app.store import RunRecord, SnapshotStore
    from watchtower.core.results import CollectResult

    store = SnapshotStore(["c"])
    family = GaugeMetricFamily("watchtower_test_value", "x", labels=["i"])
    for i in range(500):
        family.add_metric([str(i)], i)
    store.record("c", RunRecord(started_at=1.0, duration_seconds=0.1, success=True,
                                result=CollectResult(metrics=(family,))))
    app = App(store, alive=lambda: True, expected_collectors=("c",))
    plain, _ = app.metrics.render(None)
    zipped, _ = app.metrics.render(None, gzipped=True)
    assert gzip.decompress(zipped) == plain and len(zipped) < len(plain) / 3
    assert app.metrics.cached(None, True)[0] == zipped  # from the cache: cached() never renders the store
    store.record("c", RunRecord(started_at=2.0, duration_seconds=0.1, success=True,
                                result=CollectResult(metrics=(family,))))
    assert app.metrics.cached(None, True) is None  # a new generation renders again

    from watchtower.app.http import serve
    server, _thread = serve(app, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        status, body, headers = _get(port, "/metrics", 3, "Accept-Encoding: gzip, deflate\r\n")
        assert status == 200 and headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"
        assert b"watchtower_test_value" in gzip.decompress(body)
        status, body, headers = _get(port, "/metrics", 3, "Accept-Encoding: gzip;q=0, identity\r\n")
        assert "content-encoding" not in headers and b"watchtower_test_value" in body
    finally:
        server.shutdown()
        server.server_close()


def test_tls_client_on_the_plain_port_fails_at_once_not_after_the_header_timeout() -> None:
    client_ctx = ssl.create_default_context()
    with _server(Limits(header_timeout=5.0)) as (server, _blocking):
        port = server.server_address[1]
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, pytest.raises(ssl.SSLError):
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1")  # the 400 in clear text is no ServerHello
        assert time.monotonic() - start < 2.0
        assert dict(server.stats().rejected)["bad_request"] == 1
        wait_for(lambda: server.open_connections == 0, 5, what="the connection closed")
