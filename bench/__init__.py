"""Benchmarks: each measures watchtower and a baseline in the same run and prints a ratio.

Machines here are noisy, so absolute timings mean little; a ratio against a baseline measured
moments earlier on the same machine does. Each benchmark module exposes ``run() -> list[Line]``
and is listed in ``BENCHMARKS`` (name → module path), in the order ``python -m bench`` runs them.
"""

from __future__ import annotations

BENCHMARKS: dict[str, str] = {
    "metrics": "bench.metrics_exposition",
    "http_scrape": "bench.http_scrape",
    "startup": "bench.startup",
    "startup_idle": "bench.startup_idle",
    "certs_scan": "bench.certs_scan",
    "certs_cold": "bench.certs_cold",
    "endpoint_probe": "bench.endpoint_probe",
    "certs_secrets": "bench.certs_secrets",
    "haproxy_csv": "bench.haproxy_csv",
    "grafana": "bench.grafana_reconcile",
    "controlplane": "bench.controlplane",
    "nodes": "bench.nodes",
    "removed_apis": "bench.removed_apis",
    "soak": "bench.soak",
}

# Run only when named (``python -m bench soak``): an hour by default.
ON_REQUEST = frozenset({"soak"})
