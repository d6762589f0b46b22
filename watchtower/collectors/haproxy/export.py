"""Pure judgement: stats rows → metric families, findings and the typed details."""

from __future__ import annotations

import dataclasses

from prometheus_client.core import Metric

from watchtower.collectors.haproxy import families as fam
from watchtower.collectors.haproxy.parse import CHECK_STATUSES, SERVER_STATES, TRANSITIONS, StatRow, StatsTable
from watchtower.core.details import Details, Failure, json_field
from watchtower.core.formatting import format_table
from watchtower.core.results import Finding, Severity

# --------------------------------------------------------------------------------------------
# Pure judgement: rows → metrics, findings, details


def build_metrics(table: StatsTable, now: float) -> list[Metric]:
    """The per-server and per-backend metric families for one stats table."""
    up = fam.HAPROXY_SERVER_UP.gauge()
    status = fam.HAPROXY_SERVER_STATUS.gauge()
    transition = fam.HAPROXY_SERVER_TRANSITION.gauge()
    backup = fam.HAPROXY_SERVER_BACKUP.gauge()
    check_status = fam.HAPROXY_SERVER_CHECK_STATUS.gauge()
    check_duration = fam.HAPROXY_SERVER_CHECK_DURATION_SECONDS.gauge()
    last_change = fam.HAPROXY_SERVER_LAST_CHANGE_TIMESTAMP_SECONDS.gauge()
    check_failures = fam.HAPROXY_SERVER_CHECK_FAILURES.counter()
    down_transitions = fam.HAPROXY_SERVER_DOWN_TRANSITIONS.counter()
    downtime = fam.HAPROXY_SERVER_DOWNTIME_SECONDS.counter()
    for row in table.servers():
        key = [row.proxy, row.name]
        st = row.server_status
        up.add_metric(key, 1.0 if st.routed else 0.0)
        states = SERVER_STATES if st.state in SERVER_STATES else (*SERVER_STATES, st.state)
        for state in states:
            status.add_metric([*key, state], 1.0 if state == st.state else 0.0)
        for direction in TRANSITIONS:
            transition.add_metric([*key, direction], 1.0 if st.transition == direction else 0.0)
        backup.add_metric(key, 1.0 if row.backup == 1 else 0.0)
        if row.check_status:
            known = CHECK_STATUSES if row.check_status in CHECK_STATUSES else (*CHECK_STATUSES, row.check_status)
            for name in known:
                check_status.add_metric([*key, name], 1.0 if name == row.check_status else 0.0)
        if row.check_duration_seconds is not None:
            check_duration.add_metric(key, row.check_duration_seconds)
        if row.last_change_seconds is not None:
            last_change.add_metric(key, float(round(now) - row.last_change_seconds))
        if row.check_failures is not None:
            check_failures.add_metric(key, float(row.check_failures))
        if row.down_transitions is not None:
            down_transitions.add_metric(key, float(row.down_transitions))
        if row.downtime_seconds is not None:
            downtime.add_metric(key, float(row.downtime_seconds))

    backend_up = fam.HAPROXY_BACKEND_UP.gauge()
    active = fam.HAPROXY_BACKEND_ACTIVE_SERVERS.gauge()
    backups = fam.HAPROXY_BACKEND_BACKUP_SERVERS.gauge()
    configured = fam.HAPROXY_BACKEND_SERVERS.gauge()
    backend_change = fam.HAPROXY_BACKEND_LAST_CHANGE_TIMESTAMP_SECONDS.gauge()
    server_counts: dict[str, int] = {}
    for row in table.servers():
        server_counts[row.proxy] = server_counts.get(row.proxy, 0) + 1
    for row in table.backends():
        key = [row.proxy]
        backend_up.add_metric(key, 1.0 if row.status.strip().upper() == "UP" else 0.0)
        if row.active is not None:
            active.add_metric(key, float(row.active))
        if row.backup is not None:
            backups.add_metric(key, float(row.backup))
        configured.add_metric(key, float(server_counts.get(row.proxy, 0)))
        if row.last_change_seconds is not None:
            backend_change.add_metric(key, float(round(now) - row.last_change_seconds))
    return [up, status, transition, backup, check_status, check_duration, last_change, check_failures,
            down_transitions, downtime, backend_up, active, backups, configured, backend_change]


def _check_text(row: StatRow) -> str:
    parts = [row.check_status or "no check result"]
    if row.check_code:
        parts.append(f"HTTP {row.check_code}")
    if row.check_desc:
        parts.append(row.check_desc)
    return ", ".join(parts)


def build_findings(table: StatsTable) -> list[Finding]:
    """DOWN servers are warnings (the others still serve); a DOWN backend is critical."""
    out: list[Finding] = []
    for row in table.servers():
        st = row.server_status
        subject = f"{row.proxy}/{row.name}"
        since = f" for {row.last_change_seconds}s" if row.last_change_seconds is not None else ""
        if st.state == "DOWN":
            out.append(Finding("haproxy", subject, Severity.WARNING, f"{st.raw}{since}: {_check_text(row)}"))
        elif st.transition == "going_down":
            out.append(Finding("haproxy", subject, Severity.WARNING,
                               f"{st.raw}: failing health checks ({_check_text(row)})"))
    for row in table.backends():
        if row.status.strip().upper() != "UP":
            out.append(Finding("haproxy", row.proxy, Severity.CRITICAL,
                               f"backend {row.status}: no server is up"))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class ServerRow:
    """One backend server as ``check`` and the status page show it."""

    proxy: str
    server: str
    status: str
    state: str
    up: bool
    backup: bool
    check_status: str | None
    check_code: int | None
    check_desc: str | None
    check_duration_seconds: float | None
    last_change_seconds: int | None
    address: str | None

    @classmethod
    def of(cls, r: StatRow) -> ServerRow:
        return cls(r.proxy, r.name, r.status, r.server_status.state, r.server_status.routed, r.backup == 1,
                   r.check_status, r.check_code, r.check_desc, r.check_duration_seconds, r.last_change_seconds,
                   r.address)


@dataclasses.dataclass(frozen=True, slots=True)
class BackendRow:
    proxy: str
    status: str
    active_servers: int | None
    backup_servers: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class HAProxyDetails(Details):
    """The stats source and its servers and backends, or why they could not be read."""

    source: str
    error: Failure | None = json_field(default=None, omit_none=True)
    servers: tuple[ServerRow, ...] | None = json_field(default=None, omit_none=True)
    backends: tuple[BackendRow, ...] | None = json_field(default=None, omit_none=True)

    @classmethod
    def build(cls, source: str, table: StatsTable) -> HAProxyDetails:
        return cls(source, servers=tuple(ServerRow.of(r) for r in table.servers()),
                   backends=tuple(BackendRow(r.proxy, r.status, r.active, r.backup) for r in table.backends()))

    def check_table(self, color: bool = False) -> list[str] | None:
        if self.servers is None:
            return None
        rows = [(s.proxy, s.server, s.status, s.check_status or "-", s.check_desc or "-",
                 "-" if s.last_change_seconds is None else f"{s.last_change_seconds}s") for s in self.servers]
        return [f"HAProxy ({self.source})",
                *format_table(("BACKEND", "SERVER", "STATUS", "CHECK", "CHECK DETAIL", "SINCE"), rows)]
