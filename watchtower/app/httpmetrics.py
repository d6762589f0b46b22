"""The /metrics body: the store's exposition, cached per generation, plus the server's own live counters.

The collectors' metrics change only when a run completes, so their rendering (and its gzip) is
cached per store generation. The HTTP server's counters (open connections, refusals) change with
every client, so they are rendered on each scrape and appended: a few lines. OpenMetrics ends
the cached part's ``# EOF`` before the live part; gzip continues the cached compressor's stream
(``zlib`` ``copy()``), so one valid gzip member goes out without compressing the cached part again.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from watchtower.app import families as fam
from watchtower.app.httpproto import ServerStats
from watchtower.app.store import SnapshotStore

GZIP_LEVEL = 6  # a few per cent larger than level 9, several times faster; once per generation
_EOF = b"# EOF\n"


class ServerMetrics(Collector):
    """``watchtower_http_*``: the server's limits at work, read at scrape time."""

    def __init__(self, stats: Callable[[], ServerStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self._stats()
        yield fam.HTTP_OPEN_CONNECTIONS.gauge(s.open_connections)
        yield fam.HTTP_MAX_CONNECTIONS.gauge(s.max_connections)
        yield fam.HTTP_REQUESTS_IN_FLIGHT.gauge(s.in_flight)
        yield fam.HTTP_MAX_IN_FLIGHT.gauge(s.max_in_flight)
        yield fam.HTTP_CONNECTIONS.counter(s.connections_total)
        rejected = fam.HTTP_REJECTED.counter()
        for reason, count in s.rejected:
            rejected.add_metric([reason], count)
        yield rejected


class _Cached:
    """One generation's rendering in one content type: plain, and gzip as a resumable stream."""

    def __init__(self, body: bytes) -> None:
        self.head = body.removesuffix(_EOF)
        self._gz: tuple[bytes, zlib._Compress] | None = None
        self._lock = threading.Lock()

    def plain(self, tail: bytes) -> bytes:
        return self.head + tail if tail else self.head

    def gzipped(self, tail: bytes) -> bytes:
        with self._lock:
            if self._gz is None:
                compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
                self._gz = (compressor.compress(self.head) + compressor.flush(zlib.Z_SYNC_FLUSH), compressor)
            head, compressor = self._gz
            rest = compressor.copy()
        return head + rest.compress(tail) + rest.flush()


class MetricsCache:
    """The store's exposition per (generation, content type), at most one generation kept, plus
    ``live`` (the server's counters) rendered on each call.

    Scrapes between collector runs cost a dictionary lookup and the live part, plain or gzip.
    """

    def __init__(self, store: SnapshotStore, registry: CollectorRegistry, live: CollectorRegistry | None = None) -> None:
        self._store = store
        self._registry = registry
        self._live = live or CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._generation = -1
        self._bodies: dict[str, _Cached] = {}

    def _compose(self, part: _Cached, encoder: Callable[[CollectorRegistry], bytes], gzipped: bool) -> bytes:
        tail = encoder(self._live)
        return part.gzipped(tail) if gzipped else part.plain(tail)

    def cached(self, accept: str | None, gzipped: bool = False) -> tuple[bytes, str] | None:
        """The body if this generation's is already rendered, else None (never renders the store)."""
        encoder, content_type = choose_encoder(accept or "")
        generation = self._store.view().generation
        with self._lock:
            part = self._bodies.get(content_type) if generation == self._generation else None
        return None if part is None else (self._compose(part, encoder, gzipped), content_type)

    def render(self, accept: str | None, gzipped: bool = False) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        generation = self._store.view().generation
        with self._lock:
            if generation != self._generation:
                self._generation, self._bodies = generation, {}
            part = self._bodies.get(content_type)
        if part is None:
            part = _Cached(encoder(self._registry))
            with self._lock:
                if self._generation == generation:
                    part = self._bodies.setdefault(content_type, part)
        return self._compose(part, encoder, gzipped), content_type


__all__ = ["GZIP_LEVEL", "MetricsCache", "ServerMetrics"]
