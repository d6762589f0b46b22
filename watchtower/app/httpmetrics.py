"""The /metrics body: the store's exposition, cached per generation, plus the server's own live counters.

The collectors' metrics change only when a run completes, so their rendering (and its gzip) is
cached per store generation. The HTTP server's counters (open connections, refusals) change with
every client, so they are rendered on each scrape and appended: a few lines. OpenMetrics ends
the cached part's ``# EOF`` before the live part; gzip continues the cached compressor's stream
(``zlib`` ``copy()``), so one valid gzip member goes out without compressing the cached part again.

A large exposition (over ``PLAIN_KEEP_BYTES``: 50k certificates make about 50 MB) is written by
``exposition.chunks`` a piece at a time into the gzip compressor, and only the gzip is kept
(about 1/15 of the text); a scrape without gzip gets the text inflated from it piece by piece
while it is sent. The whole text is never in memory at once, let alone twice.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from watchtower.app import exposition
from watchtower.app import families as fam
from watchtower.app.httpproto import Chunked, ServerStats
from watchtower.app.store import SnapshotStore
from watchtower.core import threads

GZIP_LEVEL = 6  # a few per cent larger than level 9, several times faster; once per generation
PLAIN_KEEP_BYTES = 8 * 1024 * 1024  # up to this the text is kept as it is, beyond it only its gzip
_INFLATE_PIECE = 256 * 1024  # text inflated per piece while a large plain body is sent
Body = bytes | Chunked


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


def _gzip() -> zlib._Compress:
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip header and trailer


class _Cached:
    """One generation's rendering in one format: the text if small, gzip as a resumable stream."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        kept: list[bytes] = []
        zipped: list[bytes] = []
        compressor: zlib._Compress | None = None
        length = 0
        for piece in pieces:
            length += len(piece)
            if compressor is not None:
                zipped.append(compressor.compress(piece))
                continue
            kept.append(piece)
            if length > PLAIN_KEEP_BYTES:  # too large to keep twice: from here on only the gzip
                compressor = _gzip()
                zipped = [compressor.compress(k) for k in kept]
                kept = []
        self.length = length
        self.text: bytes | None = None
        self._gz: tuple[tuple[bytes, ...], zlib._Compress] | None = None
        if compressor is None:
            self.text = b"".join(kept)
        else:
            zipped.append(compressor.flush(zlib.Z_SYNC_FLUSH))
            self._gz = (tuple(z for z in zipped if z), compressor)
        self._lock = threading.Lock()

    def _zipped(self) -> tuple[tuple[bytes, ...], zlib._Compress]:
        with self._lock:
            if self._gz is None:
                assert self.text is not None
                compressor = _gzip()
                self._gz = ((compressor.compress(self.text) + compressor.flush(zlib.Z_SYNC_FLUSH),), compressor)
            return self._gz

    def plain(self, tail: bytes) -> Body:
        if self.text is not None:
            return self.text + tail if tail else self.text
        zipped, _compressor = self._zipped()

        def inflate() -> Iterator[bytes]:
            inflater = zlib.decompressobj(31)
            for data in zipped:
                while data:
                    piece = inflater.decompress(data, _INFLATE_PIECE)
                    data = inflater.unconsumed_tail
                    if piece:
                        yield piece
            if tail:
                yield tail

        return Chunked(self.length + len(tail), inflate)

    def gzipped(self, tail: bytes) -> Body:
        zipped, compressor = self._zipped()
        with self._lock:
            rest = compressor.copy()
        end = rest.compress(tail) + rest.flush()
        if len(zipped) == 1:
            return zipped[0] + end
        return Chunked(sum(map(len, zipped)) + len(end), lambda: iter((*zipped, end)))


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

    def _compose(self, part: _Cached, fmt: exposition.Format, gzipped: bool) -> Body:
        tail = exposition.render(self._live.collect(), fmt)
        return part.gzipped(tail) if gzipped else part.plain(tail)

    def cached_body(self, accept: str | None, gzipped: bool = False) -> tuple[Body, str] | None:
        """The body if this generation's is already rendered, else None (never renders the store)."""
        fmt = exposition.negotiate(accept)
        generation = self._store.view().generation
        with self._lock:
            part = self._bodies.get(fmt.content_type) if generation == self._generation else None
        return None if part is None else (self._compose(part, fmt, gzipped), fmt.content_type)

    def body(self, accept: str | None, gzipped: bool = False) -> tuple[Body, str]:
        """The body, rendering this generation's exposition first if no scrape has yet."""
        fmt = exposition.negotiate(accept)
        generation = self._store.view().generation
        with self._lock:
            if generation != self._generation:
                self._generation, self._bodies = generation, {}
            part = self._bodies.get(fmt.content_type)
        if part is None:
            part = _Cached(exposition.chunks(self._registry.collect(), fmt, eof=False))
            if part.text is None:  # a large one: its lines' memory back to the kernel, not kept for the peak
                threads.trim_malloc()
            with self._lock:
                if self._generation == generation:
                    part = self._bodies.setdefault(fmt.content_type, part)
        return self._compose(part, fmt, gzipped), fmt.content_type

    def cached(self, accept: str | None, gzipped: bool = False) -> tuple[bytes, str] | None:
        """``cached_body`` as one bytes object (tests, benches)."""
        hit = self.cached_body(accept, gzipped)
        return None if hit is None else (bytes(hit[0]), hit[1])

    def render(self, accept: str | None, gzipped: bool = False) -> tuple[bytes, str]:
        """``body`` as one bytes object (tests, benches)."""
        body, content_type = self.body(accept, gzipped)
        return bytes(body), content_type


__all__ = ["GZIP_LEVEL", "PLAIN_KEEP_BYTES", "Body", "MetricsCache", "ServerMetrics"]
