"""Probe each kube-apiserver, each VIP and the control-plane endpoint: /livez, /readyz, /version.

Cluster role. Every (endpoint, path) probe runs concurrently on a bounded pool with a bounded
timeout, so one slow or dead endpoint costs the run at most one probe timeout, never the sum.
TLS is verified against the cluster CA; credentials are a bearer token, a client certificate,
or none (kubeadm lets anonymous clients read these three paths).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import ipaddress
import json
import math
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons
from watchtower.core.formatting import format_table, join_host_port, split_host_port
from watchtower.core.regularfile import open_regular
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef, SecretUnavailable
from watchtower.io import netprobe

SECTION = "apiserver"
PATHS = ("livez", "readyz", "version")
_QUERY = {"livez": "livez", "readyz": "readyz?verbose", "version": "version"}
ROLES = ("apiserver", "vip", "endpoint")
DEFAULT_CA_FILES = ("/etc/kubernetes/pki/ca.crt", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
MAX_BODY_BYTES = 256 * 1024
_CHECK_LINE = re.compile(r"^\[([+-])\](\S+)\s*(.*)$")


# --------------------------------------------------------------------------------------------
# Pure parts


class FormatError(ValueError):
    """A response body that is not what the Kubernetes API documents."""


@dataclasses.dataclass(frozen=True)
class ReadyzCheck:
    """One line of ``/readyz?verbose``: ``[+]etcd ok`` or ``[-]etcd failed: reason withheld``."""

    name: str
    ok: bool
    detail: str


def parse_readyz_verbose(text: str) -> tuple[ReadyzCheck, ...]:
    """Every check line of a verbose /readyz (or /livez) body, in order; other lines ignored."""
    checks = []
    for line in text.splitlines():
        match = _CHECK_LINE.match(line.strip())
        if match:
            sign, name, detail = match.groups()
            checks.append(ReadyzCheck(name=name, ok=sign == "+", detail=detail.strip()))
    return tuple(checks)


def parse_version(text: str) -> tuple[str, str]:
    """(gitVersion, minor digits) from a /version body, e.g. ("v1.30.2", "30"); "28+" → "28"."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"/version is not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("gitVersion"), str):
        raise FormatError("/version has no gitVersion string")
    minor = doc.get("minor")
    minor_digits = re.match(r"\d+", minor) if isinstance(minor, str) else None
    if minor_digits is None:  # fall back to the gitVersion: v1.30.2 → 30
        from_git = re.match(r"v?\d+\.(\d+)", doc["gitVersion"])
        if from_git is None:
            raise FormatError(f"/version minor {minor!r} and gitVersion {doc['gitVersion'][:40]!r} name no minor version")
        return doc["gitVersion"], from_git.group(1)
    return doc["gitVersion"], minor_digits.group(0)


def normalize_endpoint(text: str, default_port: int) -> str:
    """``host:port`` with IPv6 in brackets; the port defaults to ``default_port``.

    Accepts ``10.0.0.1``, ``10.0.0.1:6443``, ``::1``, ``[::1]:6443``, ``api.example.org``,
    ``https://api.example.org:6443``. Raises ValueError for anything else.
    """
    value = text.strip()
    value = re.sub(r"^https://", "", value).rstrip("/")
    if not value or "/" in value or " " in value:
        raise ValueError(f"not a host or host:port: {text!r}")
    host, port = value, default_port
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not [IPv6]:port: {text!r}")
        if rest:
            host, port = split_host_port(value)
    elif value.count(":") == 1:
        host, port = split_host_port(value)
    elif value.count(":") > 1:
        ipaddress.IPv6Address(value)  # a bare IPv6 address, or ValueError
    if not host:
        raise ValueError(f"no host in {text!r}")
    return join_host_port(host, port)


def endpoint_host(endpoint: str) -> str:
    """The host part of a normalized ``host:port``, IPv6 without brackets."""
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


@dataclasses.dataclass(frozen=True)
class Target:
    endpoint: str  # normalized host:port
    role: str  # apiserver | vip | endpoint


def plan_targets(
    apiservers: Sequence[str], vips: Sequence[str], endpoint: str | None, port: int,
) -> tuple[Target, ...]:
    """What to probe, each endpoint once under its first role (apiserver, vip, endpoint order)."""
    wanted = [(a, "apiserver") for a in apiservers] + [(v, "vip") for v in vips]
    if endpoint:
        wanted.append((endpoint, "endpoint"))
    seen: dict[str, Target] = {}
    for raw, role in wanted:
        normalized = normalize_endpoint(raw, port)
        seen.setdefault(normalized, Target(normalized, role))
    return tuple(seen.values())


def classify_error(exc: BaseException) -> str:
    """A short, stable reason label for a failed request (never includes secrets or URLs).

    Transport failures use the project-wide tokens of ``watchtower.io.netprobe.classify``
    (``connection_refused``, ``timeout``, ``dns_error``, ``tls_bad_certificate``...), except
    that a server certificate failing verification is ``tls_verify``; requests' own
    complaints about local files are ``ca_unreadable`` / ``client_cert_unreadable``.
    """
    text = str(exc)
    if "CA certificate bundle" in text:
        return reasons.CA_UNREADABLE  # requests: "Could not find a suitable TLS CA certificate bundle"
    if "TLS certificate file" in text or "TLS key file" in text or "KEY_VALUES_MISMATCH" in text or "PEM lib" in text:
        return reasons.CLIENT_CERT_UNREADABLE
    reason = netprobe.classify(exc)
    return reasons.TLS_VERIFY if reason == reasons.TLS_VERIFY_FAILED else reason


def _short(exc: BaseException) -> str:
    """A one-line detail for people: the innermost useful message, bounded."""
    return re.sub(r"\s+", " ", netprobe.describe(exc))[:200]


@dataclasses.dataclass(frozen=True)
class Probe:
    """One GET: its HTTP status (None if none arrived), body text, wall time, and error if any."""

    target: Target
    path: str
    duration_seconds: float
    status: int | None = None
    body: str = ""
    error_reason: str | None = None
    error_detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclasses.dataclass(frozen=True)
class EndpointStatus:
    """Everything concluded about one target from its three probes."""

    target: Target
    up: bool
    ready: bool
    checks: tuple[ReadyzCheck, ...]
    git_version: str | None
    minor: str | None
    probes: Mapping[str, Probe]
    errors: tuple[ItemError, ...]


def judge(target: Target, probes: Mapping[str, Probe]) -> EndpointStatus:
    """Turn the three probes of one target into its status and its per-item errors."""
    errors: list[ItemError] = []
    for path in PATHS:
        probe = probes[path]
        if probe.error_reason:
            errors.append(ItemError(f"https://{target.endpoint}/{path}", probe.error_reason, probe.error_detail))
    readyz = probes["readyz"]
    checks = parse_readyz_verbose(readyz.body) if readyz.status in (200, 500) else ()
    git_version = minor = None
    version = probes["version"]
    if version.ok:
        try:
            git_version, minor = parse_version(version.body)
        except FormatError as exc:
            errors.append(ItemError(f"https://{target.endpoint}/version", reasons.BAD_RESPONSE, str(exc)))
    return EndpointStatus(
        target=target, up=probes["livez"].ok, ready=readyz.ok, checks=checks,
        git_version=git_version, minor=minor, probes=probes, errors=tuple(errors),
    )


def http_error_reason(path: str, status: int, body: str) -> str | None:
    """The error reason for a non-200 answer, or None when the answer is itself the result
    (a 500 from /readyz or /livez listing failed checks is a not-ready server, not a failed probe)."""
    if status == 200:
        return None
    if path in ("readyz", "livez") and status == 500 and parse_readyz_verbose(body):
        return None
    return f"http_{status}"


# --------------------------------------------------------------------------------------------
# The collector


@dataclasses.dataclass(frozen=True)
class ApiserverSettings(CollectorSettings):
    """Probe settings; the endpoints themselves come from ``control_plane``."""

    interval: Seconds = Seconds(30)
    timeout: Seconds = Seconds(20)
    probe_timeout: Seconds = Seconds(5)  # per request: connect, and each read
    port: int = 6443  # for VIPs and endpoints written without a port
    ca_file: str | None = None  # default: /etc/kubernetes/pki/ca.crt, else the service account's CA
    token: SecretRef | None = None  # token_file / token_env
    client_cert_file: str | None = None
    client_key_file: str | None = None
    probe_vips: bool = True
    probe_endpoint: bool = True
    max_concurrency: int = 16  # probes in flight; 3 per endpoint, so 5 endpoints finish in one wave

    def validate(self, path: str) -> None:
        super().validate(path)
        if not 0 < self.port < 65536:
            raise ConfigError(f"{path}.port", self.port, "a port from 1 to 65535")
        if self.probe_timeout <= 0 or self.probe_timeout >= self.timeout:
            raise ConfigError(f"{path}.probe_timeout", self.probe_timeout, f"above 0 and below timeout ({self.timeout:g}s)")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            missing = "client_key_file" if self.client_key_file is None else "client_cert_file"
            raise ConfigError(f"{path}.{missing}", None, "client_cert_file and client_key_file together")
        if self.token is not None and self.client_cert_file is not None:
            raise ConfigError(f"{path}.token", self.token.describe(), "either a token or a client certificate, not both")
        if not 1 <= self.max_concurrency <= 64:
            raise ConfigError(f"{path}.max_concurrency", self.max_concurrency, "an integer from 1 to 64")


def default_ca_file(candidates: Sequence[str] = DEFAULT_CA_FILES) -> str | None:
    """The first readable cluster CA among the usual places, or None (then: system trust)."""
    for candidate in candidates:
        try:
            fd, _info = open_regular(candidate)
        except OSError:  # missing, unreadable, or not a regular file (a FIFO would block)
            continue
        os.close(fd)
        return candidate
    return None


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
        start = time.monotonic()
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
                    if size > MAX_BODY_BYTES or time.monotonic() > deadline:
                        why = "too large" if size > MAX_BODY_BYTES else f"not complete within {2 * timeout:g}s"
                        cut = reasons.RESPONSE_TOO_LARGE if size > MAX_BODY_BYTES else reasons.TIMEOUT
                        return Probe(target, path, time.monotonic() - start, status=status,
                                     error_reason=cut, error_detail=f"body {why}")
        except (OSError, ValueError) as exc:  # requests' exceptions are OSErrors (IOError)
            return Probe(target, path, time.monotonic() - start, error_reason=classify_error(exc), error_detail=_short(exc))
        body = b"".join(chunks).decode("utf-8", errors="replace")
        reason = http_error_reason(path, status, body)
        detail = f"HTTP {status}: {body.strip()[:120]}" if reason else ""
        return Probe(target, path, time.monotonic() - start, status=status, body=body, error_reason=reason, error_detail=detail)

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
            details={"endpoints": [_details(s) for s in statuses]},
        )

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        rows = []
        for e in details.get("endpoints", ()):
            failed = ",".join(e["failed_checks"]) or "-"
            ms = e["durations_seconds"].get("readyz")
            rows.append((e["endpoint"], e["role"], "yes" if e["up"] else "NO", "yes" if e["ready"] else "NO",
                         failed, e["git_version"] or "-", f"{ms * 1000:.0f}ms" if ms is not None else "-",
                         "; ".join(f"{p}: {r}" for p, r in e["errors"].items()) or "-"))
        if not rows:
            return None
        return format_table(("ENDPOINT", "ROLE", "LIVE", "READY", "FAILING CHECKS", "VERSION", "READYZ", "ERRORS"), rows)


def _details(status: EndpointStatus) -> dict[str, Any]:
    return {
        "endpoint": status.target.endpoint,
        "role": status.target.role,
        "up": status.up,
        "ready": status.ready,
        "failed_checks": [c.name for c in status.checks if not c.ok],
        "git_version": status.git_version,
        "durations_seconds": {p: round(probe.duration_seconds, 4) for p, probe in status.probes.items()},
        "errors": {p: probe.error_reason for p, probe in status.probes.items() if probe.error_reason},
    }


def apiserver_metrics(statuses: Sequence[EndpointStatus], error_counts: Mapping[tuple[str, str, str], int]) -> list[Metric]:
    up = GaugeMetricFamily("watchtower_apiserver_up", "1 if GET /livez answered 200.", labels=["endpoint", "role"])
    ready = GaugeMetricFamily("watchtower_apiserver_ready", "1 if GET /readyz answered 200.", labels=["endpoint", "role"])
    check = GaugeMetricFamily("watchtower_apiserver_check_failed",
                              "1 if this /readyz?verbose check fails, 0 if it passes.", labels=["endpoint", "check"])
    version = InfoMetricFamily("watchtower_apiserver_version", "The apiserver's /version.",
                               labels=["endpoint"])
    duration = GaugeMetricFamily("watchtower_apiserver_probe_duration_seconds",
                                 "Wall time of the last probe of this path, failed ones included.",
                                 labels=["endpoint", "path"])
    reachable = GaugeMetricFamily("watchtower_vip_reachable",
                                  "1 if TCP connect and GET /readyz through the VIP succeeded.", labels=["vip"])
    for status in statuses:
        endpoint = status.target.endpoint
        up.add_metric([endpoint, status.target.role], 1.0 if status.up else 0.0)
        ready.add_metric([endpoint, status.target.role], 1.0 if status.ready else 0.0)
        for c in status.checks:
            check.add_metric([endpoint, c.name], 0.0 if c.ok else 1.0)
        if status.git_version is not None:
            version.add_metric([endpoint], {"git_version": status.git_version, "minor": status.minor or ""})
        for path in PATHS:
            duration.add_metric([endpoint, path], status.probes[path].duration_seconds)
        if status.target.role == "vip":
            reachable.add_metric([endpoint_host(endpoint)], 1.0 if status.ready else 0.0)
    errors = CounterMetricFamily("watchtower_apiserver_probe_errors",
                                 "Failed probes since watchtower started, by reason.",
                                 labels=["endpoint", "path", "reason"])
    for (endpoint, path, reason), count in sorted(error_counts.items()):
        errors.add_metric([endpoint, path, reason], float(count))
    return [up, ready, check, version, duration, errors, reachable]


def apiserver_findings(statuses: Sequence[EndpointStatus]) -> list[Finding]:
    out: list[Finding] = []
    for status in statuses:
        t = status.target
        subject = f"{t.role} {t.endpoint}"
        livez = status.probes["livez"]
        if not status.up:
            severity = Severity.WARNING if t.role == "apiserver" else Severity.CRITICAL
            why = livez.error_reason or f"HTTP {livez.status}"
            out.append(Finding(SECTION, subject, severity, f"down: /livez {why}"))
        elif not status.ready:
            failed = [c.name for c in status.checks if not c.ok]
            names = ", ".join(failed) if failed else (status.probes["readyz"].error_reason or "no check list")
            out.append(Finding(SECTION, subject, Severity.WARNING, f"not ready: {names}"))
        else:
            out.append(Finding(SECTION, subject, Severity.OK,
                               f"ready, {status.git_version or 'version unknown'}, /readyz in "
                               f"{status.probes['readyz'].duration_seconds * 1000:.0f}ms"))
    versions = {s.git_version for s in statuses if s.git_version}
    if len({s.minor for s in statuses if s.minor}) > 1:
        spread = ", ".join(f"{s.target.endpoint} {s.git_version}" for s in statuses if s.git_version)
        out.append(Finding(SECTION, "versions", Severity.WARNING, f"mixed minor versions: {spread}"))
    elif len(versions) > 1:
        out.append(Finding(SECTION, "versions", Severity.OK, f"patch versions differ: {', '.join(sorted(versions))}"))
    return out
