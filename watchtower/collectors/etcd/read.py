"""I/O: one probe of one endpoint (/health, then /metrics) over the bounded HTTP(S) GET."""

from __future__ import annotations

import dataclasses

from watchtower.collectors.etcd.parse import EtcdMetrics, Health, MalformedAnswer, parse_etcd_metrics, parse_health
from watchtower.collectors.etcd.settings import EtcdSettings
from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.io.netprobe import ProbeError, http_get

# --------------------------------------------------------------------------------------------
# One probe and its judgement


@dataclasses.dataclass(frozen=True)
class Probe:
    """What one endpoint told us; ``error`` set means it could not be asked at all."""

    endpoint: str
    health: Health | None = None
    metrics: EtcdMetrics | None = None
    duration_seconds: float | None = None
    error: ItemError | None = None  # /health failed: the endpoint counts as down
    metrics_error: ItemError | None = None  # /health fine, /metrics not

    @property
    def up(self) -> bool:
        return self.health is not None


def probe_endpoint(endpoint: str, settings: EtcdSettings) -> Probe:
    base = endpoint.rstrip("/")
    timeout = float(settings.request_timeout)
    tls = settings.tls()
    try:
        answer = http_get(f"{base}/health", timeout, tls)
        if answer.status not in (200, 503):  # etcd answers 503 with {"health":"false"}
            raise ProbeError(reasons.HTTP_ERROR, f"{base}/health: HTTP {answer.status}")
        health = parse_health(answer.body)
    except ProbeError as exc:
        return Probe(endpoint, error=ItemError(f"{base}/health", exc.reason, exc.detail))
    except MalformedAnswer as exc:
        return Probe(endpoint, error=ItemError(f"{base}/health", "malformed_health", str(exc)))
    try:
        fetched = http_get(f"{base}/metrics", timeout, tls)
        if fetched.status != 200:
            raise ProbeError(reasons.HTTP_ERROR, f"{base}/metrics: HTTP {fetched.status}")
        metrics = parse_etcd_metrics(fetched.body.decode("utf-8", errors="replace"))
    except ProbeError as exc:
        return Probe(endpoint, health=health, duration_seconds=answer.elapsed_seconds,
                     metrics_error=ItemError(f"{base}/metrics", exc.reason, exc.detail))
    except MalformedAnswer as exc:
        return Probe(endpoint, health=health, duration_seconds=answer.elapsed_seconds,
                     metrics_error=ItemError(f"{base}/metrics", "malformed_metrics", str(exc)))
    return Probe(endpoint, health=health, metrics=metrics, duration_seconds=answer.elapsed_seconds)
