"""``io.netprobe.http_get`` against real sockets and TLS servers on 127.0.0.1: every way a GET can
fail gets the reason it always had (the reason tokens are metric label values, public API).

The expected reasons were recorded by running this file against the previous, requests-based
implementation before it was replaced by the standard library's http.client + ssl. Two lines
differ on purpose: an unresolvable name is ``dns_error`` as docs/metrics.md documents (requests
reported ``timeout``: urllib3's NewConnectionError subclasses its timeout error), and a CA file
replaced in place is trusted on the next probe (the cached context is stamped by the file).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from watchtower.io.netprobe import ProbeError, TLSClientConfig, http_get

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def server(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """A listener on 127.0.0.1 running ``handler`` per connection (over TLS if ``tls``); its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            if tls is None:
                handler(conn)
                return
            with tls.wrap_socket(conn, server_side=True) as wrapped:
                handler(wrapped)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                conn, _ = listener.accept()
                threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def answer(body: bytes = b"ok", status: bytes = b"200 OK", extra: bytes = b"") -> Handler:
    def handle(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra
                     + b"\r\n" + body)
    return handle


def chunked(parts: list[bytes]) -> Handler:
    def handle(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in parts:
            conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
    return handle


def until_close(body: bytes) -> Handler:
    def handle(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + body)
    return handle


def silent(conn: socket.socket) -> None:
    _read_request(conn)
    time.sleep(3)


def trickle(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        time.sleep(0.05)
        conn.sendall(b"x")


def hang_up(conn: socket.socket) -> None:
    _read_request(conn)


def plain_400(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def garbage(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("netprobe")
    ca, other_ca = trustme.CA(), trustme.CA()
    files: dict[str, object] = {"ca": ca, "other_ca": other_ca}
    ca.cert_pem.write_to_path(str(root / "ca.crt"))
    other_ca.cert_pem.write_to_path(str(root / "other-ca.crt"))
    client = ca.issue_cert("watchtower-client")
    client.cert_chain_pems[0].write_to_path(str(root / "client.crt"))
    client.private_key_pem.write_to_path(str(root / "client.key"))
    stranger = other_ca.issue_cert("intruder")
    stranger.cert_chain_pems[0].write_to_path(str(root / "stranger.crt"))
    stranger.private_key_pem.write_to_path(str(root / "stranger.key"))
    (root / "garbage.pem").write_text("not a certificate\n")
    files["dir"] = root
    return files


def tls_server_context(ca: trustme.CA, name: str = "127.0.0.1", client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    return context


def reason_of(url: str, timeout: float = 2.0, tls: TLSClientConfig | None = None, **kw: object) -> str:
    try:
        fetched = http_get(url, timeout, tls, **kw)  # type: ignore[arg-type]
    except ProbeError as exc:
        assert "Traceback" not in exc.detail
        return exc.reason
    return f"status {fetched.status} {len(fetched.body)}"


def test_plain_http_answers_and_transport_failures(pki: dict[str, object]) -> None:
    with server(answer(b"hello", b"503 Service Unavailable")) as port:
        fetched = http_get(f"http://127.0.0.1:{port}/health", 2.0)
        assert (fetched.status, fetched.body) == (503, b"hello") and fetched.elapsed_seconds < 2
    with server(chunked([b"a" * 70000, b"b" * 10, b"c"])) as port:
        assert http_get(f"http://127.0.0.1:{port}/", 2.0).body == b"a" * 70000 + b"b" * 10 + b"c"
    with server(until_close(b"x" * 100000)) as port:
        assert len(http_get(f"http://127.0.0.1:{port}/", 2.0).body) == 100000
    with server(answer(b"")) as port:
        assert reason_of(f"http://[::ffff:127.0.0.1]:{port}/") in ("status 200 0", "connection_refused",
                                                                  "connection_error", "unreachable")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = unused.getsockname()[1]
    assert reason_of(f"http://127.0.0.1:{refused}/") == "connection_refused"
    assert reason_of("http://watchtower-test.invalid:1/") == "dns_error"
    with server(silent) as port:
        start = time.monotonic()
        assert reason_of(f"http://127.0.0.1:{port}/", timeout=0.5) == "timeout"
        assert time.monotonic() - start < 2.0
    with server(trickle) as port:  # every byte within the read timeout: only the total deadline stops it
        start = time.monotonic()
        assert reason_of(f"http://127.0.0.1:{port}/", timeout=0.5) == "timeout"
        assert time.monotonic() - start < 2.0
    with server(answer(b"y" * 5000)) as port:
        assert reason_of(f"http://127.0.0.1:{port}/", max_bytes=1000) == "response_too_large"
    with server(hang_up) as port:
        assert reason_of(f"http://127.0.0.1:{port}/") == "connection_reset"
    with server(garbage) as port:  # not HTTP (requests on urllib3-future said connection_reset)
        assert reason_of(f"http://127.0.0.1:{port}/") in ("connection_error", "connection_reset")


def test_basic_auth_is_sent(pki: dict[str, object]) -> None:
    seen: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        seen.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with server(handle) as port:
        http_get(f"http://127.0.0.1:{port}/stats;csv", 2.0, auth=("admin", "s3cret"))
    request = seen[0].decode()
    assert request.startswith("GET /stats;csv HTTP/1.1\r\n")
    assert "Authorization: Basic YWRtaW46czNjcmV0" in request


def test_tls_verification_and_client_certificates(pki: dict[str, object]) -> None:
    ca, other_ca, root = pki["ca"], pki["other_ca"], pki["dir"]
    assert isinstance(ca, trustme.CA) and isinstance(other_ca, trustme.CA) and isinstance(root, Path)
    trusted = TLSClientConfig(ca_file=str(root / "ca.crt"))
    with server(answer(b"secure"), tls_server_context(ca)) as port:
        url = f"https://127.0.0.1:{port}/"
        assert reason_of(url, tls=trusted) == "status 200 6"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "other-ca.crt"))) == "tls_verify_failed"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "other-ca.crt"), insecure_skip_verify=True)) \
            == "status 200 6"
        assert reason_of(url) == "tls_verify_failed"  # the default trust store does not know a test CA
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "missing.crt"))) == "ca_unreadable"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "garbage.pem"))) == "tls_error"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "ca.crt"), cert_file=str(root / "client.crt"))) \
            == "client_cert_unreadable"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "ca.crt"), cert_file=str(root / "client.crt"),
                                                  key_file=str(root / "missing.key"))) == "client_cert_unreadable"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "ca.crt"), cert_file=str(root / "client.crt"),
                                                  key_file=str(root / "stranger.key"))) == "tls_error"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(root / "ca.crt"), cert_file=str(root / "garbage.pem"),
                                                  key_file=str(root / "client.key"))) == "tls_error"
        assert reason_of(f"http://127.0.0.1:{port}/") in ("connection_error", "connection_reset")
    with server(answer(), tls_server_context(ca, name="apiserver.example")) as port:  # a name that is not the host
        assert reason_of(f"https://127.0.0.1:{port}/", tls=trusted) == "tls_verify_failed"
    with server(plain_400) as port:  # TLS spoken to a plain HTTP server
        assert reason_of(f"https://127.0.0.1:{port}/", tls=trusted) == "tls_error"

    mutual = tls_server_context(ca, client_ca=ca)
    with server(answer(b"member"), mutual) as port:
        url = f"https://127.0.0.1:{port}/"
        with_cert = TLSClientConfig(ca_file=str(root / "ca.crt"), cert_file=str(root / "client.crt"),
                                    key_file=str(root / "client.key"))
        assert reason_of(url, tls=with_cert) == "status 200 6"
        # no certificate, or one the server's client CA did not sign: rejected by the server. With TLS 1.3
        # the client learns it on its first read: as the alert, or (this Python server closes at once) as an
        # EOF or reset, also with the requests-based implementation. Real etcd: tls_bad_certificate (its test).
        rejected = ("tls_bad_certificate", "tls_error", "connection_reset", "connection_error")
        assert reason_of(url, tls=trusted) in rejected
        stranger = TLSClientConfig(ca_file=str(root / "ca.crt"), cert_file=str(root / "stranger.crt"),
                                   key_file=str(root / "stranger.key"))
        assert reason_of(url, tls=stranger) in rejected


def test_a_renewed_ca_file_is_picked_up(pki: dict[str, object], tmp_path: Path) -> None:
    ca, other_ca, root = pki["ca"], pki["other_ca"], pki["dir"]
    assert isinstance(ca, trustme.CA) and isinstance(other_ca, trustme.CA) and isinstance(root, Path)
    ca_file = tmp_path / "ca.crt"
    other_ca.cert_pem.write_to_path(str(ca_file))
    with server(answer(), tls_server_context(ca)) as port:
        url = f"https://127.0.0.1:{port}/"
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(ca_file))) == "tls_verify_failed"
        ca.cert_pem.write_to_path(str(ca_file))  # the CA file is replaced in place (same size is possible)
        assert reason_of(url, tls=TLSClientConfig(ca_file=str(ca_file))) == "status 200 2"
