"""Probe each kube-apiserver, each VIP and the control-plane endpoint: /livez, /readyz, /version.

Cluster role. Every (endpoint, path) probe runs concurrently on a bounded pool with a bounded
timeout, so one slow or dead endpoint costs the run at most one probe timeout, never the sum.
TLS is verified against the cluster CA; credentials are a bearer token, a client certificate,
or none (kubeadm lets anonymous clients read these three paths).
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from watchtower.collectors.apiserver.export import ApiserverDetails, apiserver_findings, apiserver_metrics
from watchtower.collectors.apiserver.parse import (
    _QUERY,
    MAX_BODY_BYTES,
    PATHS,
    EndpointStatus,
    Probe,
    Target,
    _short,
    classify_error,
    http_error_reason,
    judge,
    plan_targets,
)
from watchtower.collectors.apiserver.settings import ApiserverSettings, default_ca_file
from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons
from watchtower.core.results import CollectResult, ItemError
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import SecretUnavailable


class ApiserverCollector(Collector[ApiserverSettings]):
    name: ClassVar[str] = "apiserver"
    title: ClassVar[str] = "API servers"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_vip_reachable", "watchtower_apiserver_")
    Settings: ClassVar[type[CollectorSettings]] = ApiserverSettings

    def __init__(self, settings: ApiserverSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        import requests
        from requests.adapters import HTTPAdapter

        self._session = requests.Session()
        self._session.trust_env = False  # no proxies from the environment between us and the apiservers
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=settings.max_concurrency)
        self._session.mount("https://", adapter)
        self._error_counts: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def unavailable_reason(cls, settings: ApiserverSettings, context: CollectorContext) -> str | None:
        cp = context.config.control_plane
        if not (cp.apiservers or cp.vips or cp.endpoint):
            return "no control_plane.apiservers, vips or endpoint configured"
        return None

    def _targets(self) -> tuple[Target, ...]:
        cp = self.context.config.control_plane
        return plan_targets(
            cp.apiservers, cp.vips if self.settings.probe_vips else (), cp.endpoint if self.settings.probe_endpoint else None,
            self.settings.port,
        )

    def _request_options(self, errors: list[ItemError]) -> dict[str, Any]:
        verify: str | bool = self.settings.ca_file or default_ca_file() or True
        options: dict[str, Any] = {"verify": verify, "headers": {"Accept": "application/json, */*"}}
        if self.settings.client_cert_file and self.settings.client_key_file:
            options["cert"] = (self.settings.client_cert_file, self.settings.client_key_file)
        if self.settings.token is not None:
            try:
                options["headers"]["Authorization"] = f"Bearer {self.settings.token.read()}"
            except SecretUnavailable as exc:
                errors.append(ItemError("collectors.apiserver.token", reasons.SECRET_UNAVAILABLE, f"{exc}; probing anonymously"))
        return options

    def _get(self, target: Target, path: str, options: Mapping[str, Any]) -> Probe:
        url = f"https://{target.endpoint}/{_QUERY[path]}"
        timeout = float(self.settings.probe_timeout)
        start = self.context.monotonic()
        deadline = start + 2 * timeout  # connect + a read; a trickling body is cut off here
        chunks: list[bytes] = []
        try:
            with self._session.get(url, timeout=(timeout, timeout), allow_redirects=False, stream=True, **options) as response:
                status = response.status_code
                # read through iter_content so a complete body returns the connection to the
                # session's pool (keep-alive); closing a half-read raw stream would drop it
                size = 0
                for chunk in response.iter_content(chunk_size=16384):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES or self.context.monotonic() > deadline:
                        why = "too large" if size > MAX_BODY_BYTES else f"not complete within {2 * timeout:g}s"
                        cut = reasons.RESPONSE_TOO_LARGE if size > MAX_BODY_BYTES else reasons.TIMEOUT
                        return Probe(target, path, self.context.monotonic() - start, status=status,
                                     error_reason=cut, error_detail=f"body {why}")
        except (OSError, ValueError) as exc:  # requests' exceptions are OSErrors (IOError)
            return Probe(target, path, self.context.monotonic() - start, error_reason=classify_error(exc), error_detail=_short(exc))
        body = b"".join(chunks).decode("utf-8", errors="replace")
        reason = http_error_reason(path, status, body)
        detail = f"HTTP {status}: {body.strip()[:120]}" if reason else ""
        return Probe(target, path, self.context.monotonic() - start, status=status, body=body, error_reason=reason, error_detail=detail)

    def probe_all(self, targets: Sequence[Target], errors: list[ItemError]) -> list[EndpointStatus]:
        """Probe every (target, path) on a bounded pool; a probe that outlives its bound is a timeout."""
        options = self._request_options(errors)
        jobs = [(t, p) for t in targets for p in PATHS]
        if not jobs:
            return []
        workers = min(self.settings.max_concurrency, len(jobs))
        probe_timeout = float(self.settings.probe_timeout)
        # requests' timeout bounds the connect and each read, not the whole answer; a server
        # trickling bytes is cut off here, and the run always ends before the collector timeout
        waves = math.ceil(len(jobs) / workers)
        budget = min(probe_timeout * 2 * waves, float(self.settings.timeout) - 0.5)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apiserver-probe")
        try:
            futures = {pool.submit(self._get, t, p, options): (t, p) for t, p in jobs}
            done, _ = concurrent.futures.wait(futures, timeout=budget)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        results: dict[Target, dict[str, Probe]] = {t: {} for t in targets}
        for future, (target, path) in futures.items():
            if future in done and future.exception() is None:
                results[target][path] = future.result()
            else:
                results[target][path] = Probe(target, path, budget, error_reason=reasons.TIMEOUT,
                                              error_detail=f"no complete answer within {budget:g}s")
        statuses = [judge(t, results[t]) for t in targets]
        with self._lock:
            for status in statuses:
                for probe in status.probes.values():
                    if probe.error_reason:
                        key = (status.target.endpoint, probe.path, probe.error_reason)
                        self._error_counts[key] = self._error_counts.get(key, 0) + 1
        return statuses

    def collect(self) -> CollectResult:
        errors: list[ItemError] = []
        try:
            targets = self._targets()
        except ValueError as exc:
            raise ValueError(f"control_plane: {exc}") from None
        statuses = self.probe_all(targets, errors)
        for status in statuses:
            errors.extend(status.errors)
        with self._lock:
            counts = dict(self._error_counts)
        return CollectResult(
            metrics=tuple(apiserver_metrics(statuses, counts)),
            errors=tuple(errors),
            findings=tuple(apiserver_findings(statuses)),
            details=ApiserverDetails.build(statuses),
        )
