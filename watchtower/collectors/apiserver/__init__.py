"""Probe each kube-apiserver, each VIP and the control-plane endpoint: /livez, /readyz, /version.

Cluster role. Every (endpoint, path) probe runs concurrently on a bounded pool with a bounded
timeout, so one slow or dead endpoint costs the run at most one probe timeout, never the sum.
TLS is verified against the cluster CA; credentials are a bearer token, a client certificate,
or none (kubeadm lets anonymous clients read these three paths).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from watchtower.collectors.apiserver.settings import ApiserverSettings, default_ca_file
from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons, threads
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult, ItemError
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import SecretUnavailable

if TYPE_CHECKING:
    from watchtower.collectors.apiserver import export, parse
    from watchtower.io import netprobe
else:  # loaded by the first run: a daemon that does not run the apiserver collector never imports them
    export = lazy_module("watchtower.collectors.apiserver.export")
    parse = lazy_module("watchtower.collectors.apiserver.parse")
    netprobe = lazy_module("watchtower.io.netprobe")


@dataclasses.dataclass(frozen=True)
class _Options:
    """What every probe of one run sends: TLS files and headers (Accept, the bearer token)."""

    tls: netprobe.TLSClientConfig
    headers: Mapping[str, str]


class ApiserverCollector(Collector[ApiserverSettings]):
    name: ClassVar[str] = "apiserver"
    title: ClassVar[str] = "API servers"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_vip_reachable", "watchtower_apiserver_")
    Settings: ClassVar[type[CollectorSettings]] = ApiserverSettings

    def __init__(self, settings: ApiserverSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self._error_counts: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None  # made by the first run, then kept

    @classmethod
    def unavailable_reason(cls, settings: ApiserverSettings, context: CollectorContext) -> str | None:
        cp = context.config.control_plane
        if not (cp.apiservers or cp.vips or cp.endpoint):
            return "no control_plane.apiservers, vips or endpoint configured"
        return None

    def _targets(self) -> tuple[parse.Target, ...]:
        cp = self.context.config.control_plane
        return parse.plan_targets(
            cp.apiservers, cp.vips if self.settings.probe_vips else (), cp.endpoint if self.settings.probe_endpoint else None,
            self.settings.port,
        )

    def _request_options(self, errors: list[ItemError]) -> _Options:
        cert, key = self.settings.client_cert_file, self.settings.client_key_file
        tls = netprobe.TLSClientConfig(ca_file=self.settings.ca_file or default_ca_file(),  # None: the default trust
                              cert_file=cert if cert and key else None, key_file=key if cert and key else None)
        headers = {"Accept": "application/json, */*"}
        if self.settings.token is not None:
            try:
                headers["Authorization"] = f"Bearer {self.settings.token.read()}"
            except SecretUnavailable as exc:
                errors.append(ItemError("collectors.apiserver.token", reasons.SECRET_UNAVAILABLE, f"{exc}; probing anonymously"))
        return _Options(tls, headers)

    def _get(self, target: parse.Target, path: str, options: _Options) -> parse.Probe:
        """One GET over the shared bounded GET: connect and each read within the probe timeout, the
        whole answer within twice it (a trickling body is cut off there)."""
        url = f"https://{target.endpoint}/{parse._QUERY[path]}"
        timeout = float(self.settings.probe_timeout)
        start = self.context.monotonic()
        try:
            fetched = netprobe.http_get(url, timeout, options.tls, max_bytes=parse.MAX_BODY_BYTES, total=2 * timeout,
                               headers=options.headers)
        except netprobe.ProbeError as exc:
            failed = parse.classify_error(exc.cause) if exc.cause is not None else exc.reason
            why = parse._short(exc.cause) if exc.cause is not None else exc.detail.removeprefix(f"{url}: ")
            status = exc.status if failed == reasons.RESPONSE_TOO_LARGE else None
            return parse.Probe(target, path, self.context.monotonic() - start, status=status, error_reason=failed, error_detail=why)
        body = fetched.body.decode("utf-8", errors="replace")
        reason = parse.http_error_reason(path, fetched.status, body)
        detail = f"HTTP {fetched.status}: {body.strip()[:120]}" if reason else ""
        return parse.Probe(target, path, self.context.monotonic() - start, status=fetched.status, body=body, error_reason=reason,
                     error_detail=detail)

    def probe_all(self, targets: Sequence[parse.Target], errors: list[ItemError]) -> list[parse.EndpointStatus]:
        """Probe every (target, path) on a bounded pool; a probe that outlives its bound is a timeout."""
        options = self._request_options(errors)
        jobs = [(t, p) for t in targets for p in parse.PATHS]
        if not jobs:
            return []
        workers = min(self.settings.max_concurrency, len(jobs))
        probe_timeout = float(self.settings.probe_timeout)
        # each GET ends within twice the probe timeout; this bound also holds when the pool has
        # more jobs than workers, and the run always ends before the collector timeout
        waves = math.ceil(len(jobs) / workers)
        budget = min(probe_timeout * 2 * waves, float(self.settings.timeout) - 0.5)
        with self._lock:  # one pool for the collector's life: no threads started per run
            if self._pool is None:
                self._pool = threads.named_pool(workers, "apiserver-probe")
            pool = self._pool
        futures = {pool.submit(self._get, t, p, options): (t, p) for t, p in jobs}
        try:
            done, _ = concurrent.futures.wait(futures, timeout=budget)
        finally:
            for future in futures:
                future.cancel()  # probes not started by the deadline never start
        results: dict[parse.Target, dict[str, parse.Probe]] = {t: {} for t in targets}
        for future, (target, path) in futures.items():
            if future in done and future.exception() is None:
                results[target][path] = future.result()
            else:
                results[target][path] = parse.Probe(target, path, budget, error_reason=reasons.TIMEOUT,
                                              error_detail=f"no complete answer within {budget:g}s")
        statuses = [parse.judge(t, results[t]) for t in targets]
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
            metrics=tuple(export.apiserver_metrics(statuses, counts)),
            errors=tuple(errors),
            findings=tuple(export.apiserver_findings(statuses)),
            details=export.ApiserverDetails.build(statuses),
        )
