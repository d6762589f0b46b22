"""/metrics under 20 concurrent scrapers, 8,000 series: watchtower's server vs prometheus_client's own.

Each server runs in its own child process holding the same 8,000 series (watchtower as one
collector snapshot, prometheus_client as ordinary Gauges served by ``start_http_server``). 20
scraper threads in this process each open a new connection per scrape and send what Prometheus
sends (its ``Accept`` header and ``Accept-Encoding: gzip``), timing from connect to the last byte.
Lines: p99 latency (target <= 0.05x prometheus_client's, measured moments before in the same run)
and bytes on the wire with gzip (target <= 1.1x prometheus_client's).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.harness import Line

SERIES = 8_000
FAMILIES = 8
SCRAPERS = 20
SCRAPES_EACH = 10
ACCEPT = ("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
          "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
REPO = Path(__file__).resolve().parents[1]


def _serve_watchtower() -> int:
    from bench.metrics_exposition import snapshot_store
    from watchtower.app.http import App, serve

    app = App(snapshot_store(SERIES, FAMILIES), alive=lambda: True, expected_collectors=("bench",))
    server, _thread = serve(app, "127.0.0.1", 0)
    return int(server.server_address[1])


def _serve_prometheus_client() -> int:
    from prometheus_client import start_http_server

    from bench.metrics_exposition import plain_registry

    server, _thread = start_http_server(0, "127.0.0.1", registry=plain_registry(SERIES, FAMILIES))
    return int(server.server_address[1])


def child_main(kind: str) -> None:
    """In the child: serve, print the port, exit when stdin closes."""
    port = _serve_watchtower() if kind == "watchtower" else _serve_prometheus_client()
    print(port, flush=True)
    sys.stdin.read()


def _scrape(port: int) -> tuple[float, int]:
    """One scrape on a new connection: (seconds from connect to last byte, body bytes)."""
    request = (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {ACCEPT}\r\n"
               "Accept-Encoding: gzip\r\nUser-Agent: Prometheus/2.42.0\r\nConnection: close\r\n\r\n").encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(262144):
            chunks.append(chunk)
    elapsed = time.perf_counter() - start
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1") and b" 200 " in head.split(b"\r\n")[0], head[:100]
    assert b"content-encoding: gzip" in head.lower(), head
    return elapsed, len(body)


def measure(kind: str) -> tuple[list[float], int]:
    """Latencies of SCRAPERS x SCRAPES_EACH concurrent scrapes, and the gzip body size."""
    child = subprocess.Popen([sys.executable, "-m", "bench.http_scrape", kind], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        _elapsed, size = _scrape(port)  # warm: the first render, and the cache
        latencies: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(SCRAPERS)

        def scraper() -> None:
            barrier.wait()
            for _ in range(SCRAPES_EACH):
                elapsed, _size = _scrape(port)
                with lock:
                    latencies.append(elapsed)

        threads = [threading.Thread(target=scraper) for _ in range(SCRAPERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        return latencies, size
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def run() -> list[Line]:
    base_latencies, base_size = measure("prometheus_client")
    latencies, size = measure("watchtower")
    return [
        Line("http_scrape_p99_20_scrapers_8k", p99(latencies) * 1000, "ms",
             p99(base_latencies) * 1000, "ms", "<= 0.05"),
        Line("http_scrape_gzip_bytes_8k", size / 1024, "KiB", base_size / 1024, "KiB", "<= 1.1"),
        Line("http_scrape_median_20_scrapers_8k", statistics.median(latencies) * 1000, "ms",
             statistics.median(base_latencies) * 1000, "ms"),
    ]


if __name__ == "__main__":
    child_main(sys.argv[1])
