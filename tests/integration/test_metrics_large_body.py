"""A /metrics too large to keep twice: only its gzip is kept, plain scrapes are inflated while sent.

The same bytes as a small exposition (and as prometheus_client's own encoders), over a real
server on loopback: plain, gzip, OpenMetrics, HEAD and keep-alive, with the Content-Length right.
"""

from __future__ import annotations

import gzip
import http.client
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from watchtower.app import httpmetrics
from watchtower.app.http import App, serve
from watchtower.app.httpproto import Chunked
from watchtower.app.store import RunRecord, SnapshotStore, StoreExposition
from watchtower.core.results import CollectResult

OPENMETRICS = "application/openmetrics-text;version=1.0.0"


def _store(series: int = 20_000) -> SnapshotStore:
    gauge = GaugeMetricFamily("watchtower_test_expiry", 'Expiry "of" each\\one.', labels=["path", "cn"])
    counter = CounterMetricFamily("watchtower_test_checks", "Checks.", labels=["path", "check"])
    for i in range(series):
        gauge.add_metric([f"/etc/kubernetes/pki/leaf-{i:06d}.crt", f'cn "{i}"\n'], 1.7e9 + i * 0.25)
        counter.add_metric([f"/etc/kubernetes/pki/leaf-{i:06d}.crt", "chain_valid"], i % 3)
    store = SnapshotStore(["c"])
    store.record("c", RunRecord(started_at=1.0, duration_seconds=0.1, success=True,
                                result=CollectResult(metrics=(gauge, counter))))
    return store


def _reference(store: SnapshotStore, accept: str | None) -> bytes:
    """prometheus_client's own encoder over the same collector (no live server part: none attached)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreExposition(store))
    encoder, _ = choose_encoder(accept or "")
    return encoder(registry)


@pytest.fixture
def small_keep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(httpmetrics, "PLAIN_KEEP_BYTES", 64 * 1024)
    yield


@pytest.mark.parametrize("accept", [None, OPENMETRICS])
def test_large_body_same_bytes_and_only_gzip_kept(small_keep: None, accept: str | None) -> None:
    store = _store()
    app = App(store, alive=lambda: True, expected_collectors=("c",))
    body, _content_type = app.metrics.body(accept)
    assert isinstance(body, Chunked) and len(body) > 10 * httpmetrics.PLAIN_KEEP_BYTES
    want = _reference(store, accept)
    assert bytes(body) == want and len(body) == len(want)
    assert len(list(body)) > 2  # inflated in pieces
    zipped, _ = app.metrics.render(accept, gzipped=True)
    assert gzip.decompress(zipped) == want
    part = next(iter(app.metrics._bodies.values()))
    assert part.text is None  # the text itself is not kept
    hit = app.metrics.cached(accept, True)
    assert hit is not None and hit[0] == zipped


def test_small_body_kept_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(200)
    app = App(store, alive=lambda: True, expected_collectors=("c",))
    body, _ = app.metrics.body(None)
    assert isinstance(body, bytes) and body == _reference(store, None)
    zipped, _ = app.metrics.body(None, gzipped=True)
    assert isinstance(zipped, bytes) and gzip.decompress(zipped) == body


def _fetch(conn: http.client.HTTPConnection, method: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, "/metrics", headers=headers)
    response = conn.getresponse()
    return response, response.read()


def test_large_body_over_a_real_server(small_keep: None) -> None:
    store = _store()
    app = App(store, alive=lambda: True, expected_collectors=("c",))
    server, _thread = serve(app, "127.0.0.1", 0)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        # keep-alive: several answers on one connection, each exactly as long as it says
        response, plain = _fetch(conn, "GET", {})
        assert response.status == 200 and int(response.headers["Content-Length"]) == len(plain)
        names = {f.name for f in parse_text(plain.decode())}
        assert {"watchtower_test_expiry", "watchtower_test_checks", "watchtower_http_open_connections"} <= names
        assert plain.startswith(_reference(store, None)[:100_000])
        response, zipped = _fetch(conn, "GET", {"Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip"
        assert int(response.headers["Content-Length"]) == len(zipped)
        unzipped = gzip.decompress(zipped)
        assert unzipped.split(b"watchtower_http_")[0] == plain.split(b"watchtower_http_")[0]
        response, om = _fetch(conn, "GET", {"Accept": OPENMETRICS})
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.endswith(b"# EOF\n") and om.count(b"# EOF") == 1
        assert len(list(parse_openmetrics(om.decode()))) >= 3  # raises on an invalid exposition
        response, head = _fetch(conn, "HEAD", {})
        assert head == b"" and int(response.headers["Content-Length"]) >= len(plain) - 200
        # a client that stops reading part way does not stall the server for the next one
        other = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
        other.request("GET", "/metrics")
        other.getresponse().read(1000)
        other.close()
        started = time.monotonic()
        response, _again = _fetch(conn, "GET", {"Accept-Encoding": "gzip"})
        assert response.status == 200 and time.monotonic() - started < 10
    finally:
        conn.close()
        server.shutdown()
        server.server_close()


def test_medium_body_kept_as_text_is_sent_with_the_live_part_without_a_copy() -> None:
    """Over 64 KiB but under ``PLAIN_KEEP_BYTES``: the kept text and the live counters go out part after part."""
    store = _store(2_000)
    app = App(store, alive=lambda: True, expected_collectors=("c",))
    server, _thread = serve(app, "127.0.0.1", 0)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        for headers in ({}, {"Accept-Encoding": "gzip"}, {"Accept": OPENMETRICS}):
            response, body = _fetch(conn, "GET", headers)
            assert response.status == 200 and int(response.headers["Content-Length"]) == len(body)
            text = gzip.decompress(body) if headers.get("Accept-Encoding") else body
            parse = parse_openmetrics if "Accept" in headers else parse_text
            names = {f.name for f in parse(text.decode())}
            assert {"watchtower_test_expiry", "watchtower_http_open_connections"} <= names
        part = next(iter(app.metrics._bodies.values()))
        assert part.text is not None and len(part.text) > 64 * 1024
        assert isinstance(part.plain(b"x 1\n"), Chunked)
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
