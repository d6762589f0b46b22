"""Certificate expiry everywhere kubeadm hides one, and the checks no exporter does.

Sources (``certsources``): files/globs, kubeadm discovery, kubeconfigs, TLS endpoints and
Kubernetes TLS Secrets. Every certificate becomes a not-before/not-after pair of gauges; every
check (chain, issuer outliving, key match, SAN coverage, kubeconfig CA, served vs disk) a 1/0
gauge and, when it fails, a finding. Urgency is judged relative to lifetime: warning below
min(30d, 20 %), critical below min(7d, 5 %) by default. ``watchtower check certs PATH...``
runs the same collector on ad-hoc inputs without a config file.

The daemon rescans the same files every interval, so a collector keeps what does not change
between its runs: the records of unchanged files (``certsources.cache``, by file stamp),
signature results (by certificate fingerprints), and series, chain verdicts and samples whose
certificate is the same object as last time. Everything that depends on the clock (urgency,
issuer expiry, the report's time left) is judged afresh every run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.certs.settings import CertsSettings
from watchtower.collectors.kubeadm_files import kubeadm_present
from watchtower.core import progress, reasons, threads
from watchtower.core.lazy import lazy_module
from watchtower.core.results import CollectResult, ItemError
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import SecretUnavailable

if TYPE_CHECKING:
    from watchtower.collectors import certsources
    from watchtower.collectors.certs import accumulate, model
else:  # loaded by the first run: a daemon that does not run the certs collector never imports them
    accumulate = lazy_module("watchtower.collectors.certs.accumulate")
    model = lazy_module("watchtower.collectors.certs.model")
    certsources = lazy_module("watchtower.collectors.certsources")


def _passphrase_tag(passphrase: bytes | None) -> str | None:
    """A digest telling cached PKCS#12 results apart when the passphrase file changes (kept in memory only)."""
    if passphrase is None:
        return None
    return hashlib.blake2b(passphrase, digest_size=16, person=b"wt-certs-cache").hexdigest()


def _kubeadm_sans(context: CollectorContext) -> tuple[str, ...]:
    plane = context.config.control_plane
    names = list(plane.vips)
    if plane.endpoint:
        try:
            names.append(certsources.Endpoint.parse(plane.endpoint).host)  # "host:port" or "[v6]:port"
        except ValueError:
            names.append(plane.endpoint.strip("[]"))  # a bare host name or address
    return tuple(names)


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False
_gc_scans = 0
GC_FULL_EVERY = 16  # scans between full collections of what earlier scans froze


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic garbage collection off while a scan allocates, and its survivors frozen after it.

    A cold scan of 10k certificates makes millions of short-lived objects and no reference cycles;
    with the collector on, its passes over everything alive cost a quarter of the scan at 50k, and
    the first pass after the scan walks every object the scan keeps. ``gc.freeze()`` at the end
    moves the survivors out of the collector's sight (refcounting still frees them). Every
    ``GC_FULL_EVERY``-th scan starts by unfreezing and collecting everything once, so a reference
    cycle that died while frozen is freed after at most that many scans. Nested and concurrent
    pauses are counted; the last one out restores the state the first one in found.
    """
    global _gc_pauses, _gc_was_enabled, _gc_scans
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
            _gc_scans += 1
            if _gc_scans % GC_FULL_EVERY == 0 and gc.get_freeze_count():
                gc.unfreeze()
                gc.collect()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.freeze()
                gc.enable()


class _Recorder:
    """What a scan on another thread reports, kept under a lock and replayed into the accumulator
    once (so a scan still hung after its deadline can add nothing more)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, tuple[Any, ...]]] = []
        self._open = True

    def add(self, kind: str, record: object) -> None:
        with self._lock:
            if self._open:
                self._events.append(("add", (kind, record)))

    def begin_input(self, start: certsources.InputStart | None) -> None:
        with self._lock:
            if self._open:
                self._events.append(("begin_input", (start,)))

    def replay(self, acc: accumulate._Accumulator) -> None:
        with self._lock:
            self._open = False
            events = self._events
        for method, args in events:
            getattr(acc, method)(*args)


class CertsCollector(Collector[CertsSettings]):
    name: ClassVar[str] = "certs"
    title: ClassVar[str] = "Certificates"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster", "node"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_cert_",)
    Settings: ClassVar[type[CollectorSettings]] = CertsSettings

    def __init__(self, settings: CertsSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.cache = certsources.ScanCache()  # the daemon rescans the same files: unchanged ones cost a stat
        self._reuse = model.Reuse()
        self._lock = threading.Lock()
        self._endpoint_pool: Executor | None = None  # made by the first run with endpoints, then kept

    @classmethod
    def unavailable_reason(cls, settings: CertsSettings, context: CollectorContext) -> str | None:
        if settings.paths or settings.kubeconfigs or settings.endpoints or settings.secrets.enabled:
            return None
        if settings.kubeadm is True:
            return None
        if settings.kubeadm == "auto" and kubeadm_present(settings.kubeadm_root, settings.kubelet_pki_dir):
            return None
        return (f"no certificate source: no kubeadm PKI in {settings.kubeadm_root} or {settings.kubelet_pki_dir}, "
                "and no paths, kubeconfigs, endpoints or secrets configured")

    @property
    def certs_settings(self) -> CertsSettings:
        return self.settings

    def sources(self) -> Iterator[certsources.CertSource | ItemError]:
        s = self.certs_settings
        use_kubeadm = s.kubeadm is True or (s.kubeadm == "auto" and kubeadm_present(s.kubeadm_root, s.kubelet_pki_dir))
        if use_kubeadm:
            yield certsources.KubeadmSource(s.kubeadm_root, s.kubelet_pki_dir, san_names=_kubeadm_sans(self.context),
                                served_endpoints=s.apiserver_endpoints, timeout=float(s.endpoint_timeout),
                                max_bytes=s.max_file_size, cache=self.cache)
        if s.paths:
            passphrase = None
            if s.pkcs12_passphrase is not None:
                try:
                    passphrase = s.pkcs12_passphrase.read().encode()
                except SecretUnavailable as exc:
                    yield ItemError(s.pkcs12_passphrase.describe(), "passphrase_unavailable", str(exc))
            yield certsources.FileSource(s.paths, max_bytes=s.max_file_size, passphrase=passphrase, cache=self.cache,
                             passphrase_tag=_passphrase_tag(passphrase))
        if s.kubeconfigs:
            yield certsources.KubeconfigSource(s.kubeconfigs, max_bytes=s.max_file_size, cache=self.cache)
        if s.endpoints:
            endpoints = [certsources.Endpoint.parse(e) if isinstance(e, str) else certsources.Endpoint.parse(e.address, e.server_name, e.ca_file)
                         for e in s.endpoints]
            source = certsources.EndpointSource(endpoints, timeout=float(s.endpoint_timeout), concurrency=s.endpoint_concurrency)
            with self._lock:  # one pool for the collector's life: no threads started per run
                if self._endpoint_pool is None:
                    self._endpoint_pool = threads.named_pool(source.workers(), "certs-endpoint")
                source.pool = self._endpoint_pool
            yield source
        if s.secrets.enabled:
            kube = self.context.config.kubernetes
            yield certsources.SecretSource(self.context.kube.api_client, s.secrets.namespaces, s.secrets.types, s.secrets.keys,
                               page_size=kube.page_size, request_timeout=kube.request_timeout)

    def collect(self, budget: float | None = None) -> CollectResult:
        """One scan. With a ``budget`` (seconds), what was read by then is judged and reported,
        and the item the scan was still waiting on is a ``timeout`` error (``check certs --deadline``)."""
        with gc_paused():
            return self._collect(budget)

    def _collect(self, budget: float | None) -> CollectResult:
        acc = accumulate._Accumulator(self.context.clock(), self.certs_settings.thresholds, self.cache.signatures, self._reuse)
        self.cache.begin_run()
        try:
            if budget is None:
                self._scan(acc)
            else:
                self._scan_within(acc, budget)
        finally:
            self.cache.end_run()
        acc.begin_input(None)  # closes the last named input
        acc.judge_chains()
        metrics = acc.metrics()
        self._reuse = acc.reuse()
        return CollectResult(
            metrics=metrics,
            errors=tuple(e for _, e in acc.errors),
            findings=tuple(acc.findings),
            details=acc.details(),
        )

    def _scan(self, acc: accumulate._Accumulator | _Recorder) -> None:
        for source in self.sources():
            acc.begin_input(None)
            if isinstance(source, ItemError):
                acc.add("file", source)
                continue
            if isinstance(source, certsources.KubeadmSource):
                acc.begin_input(certsources.InputStart(source.root, "kubeadm"))
            elif isinstance(source, certsources.SecretSource):
                acc.begin_input(certsources.InputStart("kubernetes secrets", "secrets"))
            add, kind = acc.add, source.kind
            try:
                for record in source.read():
                    add(kind, record)
            except Exception as exc:  # noqa: BLE001 - one broken source must not lose the others
                acc.add(source.kind, ItemError(source.kind, "source_failed", f"{type(exc).__name__}: {exc}"))

    def _scan_within(self, acc: accumulate._Accumulator, budget: float) -> None:
        """``_scan`` on a worker thread for at most ``budget`` seconds; a hung read is left behind."""
        recorder = _Recorder()

        def work() -> None:
            try:
                self._scan(recorder)
            finally:
                progress.clear()

        worker = threading.Thread(target=work, name="certs-scan", daemon=True)
        worker.start()
        worker.join(budget)
        recorder.replay(acc)
        if worker.is_alive():
            item = progress.current(worker) or "certificate scan"
            acc.add("file", ItemError(item, reasons.TIMEOUT, f"no answer within the {budget:g}s deadline; "
                                                       "what was read before it is reported"))
