"""/metrics with 10,000 series: watchtower's cached snapshot exposition vs a plain registry.

Baseline: prometheus_client's ``generate_latest`` over a ``CollectorRegistry`` holding the same
10,000 series as ordinary Gauges, measured in the same run. Both sides are measured in-process,
so the ratio compares exposition cost rather than socket overhead; a separate line reports the
HTTP round trip through watchtower's real endpoint for context.
"""

from __future__ import annotations

import time
import urllib.request

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily

from bench.harness import Line, median_seconds
from watchtower.app.http import App, serve
from watchtower.app.store import RunRecord, SnapshotStore
from watchtower.core.results import CollectResult

SERIES = 10_000
FAMILIES = 10
LABELS = ("source", "location", "subject_cn")


def _label_values(i: int) -> list[str]:
    return ["file", f"/etc/kubernetes/pki/cert-{i:05d}.crt", f"subject-{i % 97}"]


def plain_registry(series: int = SERIES, families: int = FAMILIES) -> CollectorRegistry:
    registry = CollectorRegistry()
    per_family = series // families
    for f in range(families):
        gauge = Gauge(f"bench_family_{f}", "Bench family.", LABELS, registry=registry)
        for i in range(per_family):
            gauge.labels(*_label_values(f * per_family + i)).set(1.7e9 + i)
    return registry


def snapshot_store(series: int = SERIES, families: int = FAMILIES) -> SnapshotStore:
    per_family = series // families
    metrics = []
    for f in range(families):
        family = GaugeMetricFamily(f"bench_family_{f}", "Bench family.", labels=LABELS)
        for i in range(per_family):
            family.add_metric(_label_values(f * per_family + i), 1.7e9 + i)
        metrics.append(family)
    store = SnapshotStore(["bench"])
    store.record("bench", RunRecord(started_at=time.time(), duration_seconds=0.1, success=True,
                                    result=CollectResult(metrics=tuple(metrics))))
    return store


def run() -> list[Line]:
    baseline_registry = plain_registry()
    store = snapshot_store()
    app = App(store, alive=lambda: True, expected_collectors=("bench",))

    baseline = median_seconds(lambda: generate_latest(baseline_registry), repeat=7)
    # cold: every scrape right after a collector run (cache invalidated each time)
    def cold() -> None:
        app.metrics._generation = -1
        app.metrics.render(None)
    cold_seconds = median_seconds(cold, repeat=7)
    warm_first = median_seconds(lambda: app.metrics.render(None), repeat=3, number=20)
    warm_last = median_seconds(lambda: app.metrics.render(None), repeat=3, number=200)

    body, _ = app.metrics.render(None)
    baseline_body = generate_latest(baseline_registry)

    server, _thread = serve(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        http_seconds = median_seconds(lambda: urllib.request.urlopen(url, timeout=10).read(), repeat=7)
    finally:
        server.shutdown()
        server.server_close()

    return [
        Line("metrics_cold_render_10k", cold_seconds * 1000, "ms", baseline * 1000, "ms", "<= 1.2"),
        Line("metrics_cached_scrape_10k", warm_first * 1000, "ms", baseline * 1000, "ms", "<= 1.2"),
        Line("metrics_cached_flat_over_200_scrapes", warm_last * 1000, "ms", warm_first * 1000, "ms", "<= 1.5"),
        Line("metrics_size_10k", len(body) / 1024, "KiB", len(baseline_body) / 1024, "KiB", "<= 1.2"),
        Line("metrics_http_round_trip_10k", http_seconds * 1000, "ms"),
    ]
