"""Pure outputs: endpoint statuses → metric families, findings and details."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from prometheus_client.core import Metric

from watchtower.collectors.apiserver import families as fam
from watchtower.collectors.apiserver.parse import PATHS, SECTION, EndpointStatus, endpoint_host
from watchtower.core.details import Details
from watchtower.core.formatting import format_table
from watchtower.core.results import Finding, Severity


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointDetails:
    """One probed endpoint as ``check`` and the status page show it."""

    endpoint: str
    role: str
    up: bool
    ready: bool
    failed_checks: tuple[str, ...]
    git_version: str | None
    durations_seconds: Mapping[str, float]  # path → seconds, rounded to 0.1 ms
    errors: Mapping[str, str]  # path → reason, failed probes only

    @classmethod
    def of(cls, status: EndpointStatus) -> EndpointDetails:
        return cls(
            endpoint=status.target.endpoint,
            role=status.target.role,
            up=status.up,
            ready=status.ready,
            failed_checks=tuple(c.name for c in status.checks if not c.ok),
            git_version=status.git_version,
            durations_seconds={p: round(probe.duration_seconds, 4) for p, probe in status.probes.items()},
            errors={p: probe.error_reason for p, probe in status.probes.items() if probe.error_reason},
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ApiserverDetails(Details):
    """Every probed endpoint, in probe order."""

    endpoints: tuple[EndpointDetails, ...]

    @classmethod
    def build(cls, statuses: Sequence[EndpointStatus]) -> ApiserverDetails:
        return cls(tuple(EndpointDetails.of(s) for s in statuses))

    def check_table(self, color: bool = False) -> list[str] | None:
        rows = []
        for e in self.endpoints:
            ms = e.durations_seconds.get("readyz")
            rows.append((e.endpoint, e.role, "yes" if e.up else "NO", "yes" if e.ready else "NO",
                         ",".join(e.failed_checks) or "-", e.git_version or "-",
                         f"{ms * 1000:.0f}ms" if ms is not None else "-",
                         "; ".join(f"{p}: {r}" for p, r in e.errors.items()) or "-"))
        if not rows:
            return None
        return format_table(("ENDPOINT", "ROLE", "LIVE", "READY", "FAILING CHECKS", "VERSION", "READYZ", "ERRORS"), rows)


def apiserver_metrics(statuses: Sequence[EndpointStatus], error_counts: Mapping[tuple[str, str, str], int]) -> list[Metric]:
    up = fam.APISERVER_UP.gauge()
    ready = fam.APISERVER_READY.gauge()
    check = fam.APISERVER_CHECK_FAILED.gauge()
    version = fam.APISERVER_VERSION.info()
    duration = fam.APISERVER_PROBE_DURATION_SECONDS.gauge()
    reachable = fam.VIP_REACHABLE.gauge()
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
    errors = fam.APISERVER_PROBE_ERRORS.counter()
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
