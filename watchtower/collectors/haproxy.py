"""HAProxy backends and servers, from HAProxy's own stats CSV.

The CSV comes from the stats page (``<stats uri>;csv`` over HTTP, optional basic auth) or the
stats unix socket (``show stat``); both give the same document. Parsing is pure
(``parse_stats_csv``: bytes/str → typed rows), columns are looked up by header name so the
extra columns newer HAProxy versions append are ignored, and one broken row is reported
without losing the others.

Server state follows HAProxy's words: ``UP``, ``DOWN``, ``NOLB``, ``DRAIN``, ``MAINT`` and
``no check`` (exported as ``NO_CHECK``), plus the transitional forms ``UP 1/3`` (still up, 1
of the 3 failed checks needed to go down) and ``DOWN 1/2`` (still down, 1 of the 2 good checks
needed to come back). ``watchtower_haproxy_server_up`` is 1 while HAProxy still routes to the
server by health: UP (including ``UP 1/3``), NOLB, DRAIN and ``no check``; 0 for DOWN
(including ``DOWN 1/2``) and MAINT.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons
from watchtower.core.formatting import format_table
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef, SecretUnavailable
from watchtower.io.netprobe import ProbeError, TLSClientConfig, http_get, unix_socket_exchange

DEFAULT_STATS_SOCKET = "/run/haproxy/admin.sock"  # Debian's haproxy.cfg
SERVER_STATES = ("UP", "DOWN", "NOLB", "DRAIN", "MAINT", "NO_CHECK")
ROUTED_STATES = frozenset({"UP", "NOLB", "DRAIN", "NO_CHECK"})
TRANSITIONS = ("going_down", "going_up")
# Every check_status HAProxy 2.x documents (management guide, "check_status" column).
CHECK_STATUSES = ("UNK", "INI", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7OK", "L7OKC",
                  "L7TOUT", "L7RSP", "L7STS", "PROCERR", "PROCTOUT", "PROCOK")
_ROW_KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


# --------------------------------------------------------------------------------------------
# Settings


@dataclasses.dataclass(frozen=True)
class HAProxySettings(CollectorSettings):
    """Where HAProxy's stats are: ``stats_url`` (the ``stats uri``) or ``stats_socket``.

    With neither, the Debian default socket /run/haproxy/admin.sock is used (and ``enabled:
    auto`` skips the collector when it does not exist).
    """

    interval: Seconds = Seconds(15)
    timeout: Seconds = Seconds(10)
    stats_url: str | None = None
    stats_socket: str | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    request_timeout: Seconds = Seconds(5)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.stats_url is not None and self.stats_socket is not None:
            raise ConfigError(f"{path}.stats_socket", self.stats_socket, "either stats_url or stats_socket, not both")
        if self.stats_url is not None:
            parts = urlsplit(self.stats_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{path}.stats_url", self.stats_url, "an http:// or https:// URL of the stats page")
            if parts.username or parts.password:
                raise ConfigError(f"{path}.stats_url", "<redacted>", "a URL without credentials (use username/password_file)")
        if self.password is not None and self.username is None:
            raise ConfigError(f"{path}.username", None, "a username to go with the password")
        if self.request_timeout <= 0:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout, "a duration above 0s")

    @property
    def socket_path(self) -> str | None:
        if self.stats_url is not None:
            return None
        return self.stats_socket or DEFAULT_STATS_SOCKET

    @property
    def source(self) -> str:
        """The label naming where the stats come from (never contains credentials)."""
        return self.stats_url if self.stats_url is not None else f"unix:{self.socket_path}"


# --------------------------------------------------------------------------------------------
# Pure parsing: CSV → typed rows


class MalformedStats(ValueError):
    """The document is not HAProxy stats CSV at all (no header, missing key columns)."""


@dataclasses.dataclass(frozen=True)
class ServerStatus:
    """HAProxy's status column split into its parts: ``UP 1/3`` → UP, going_down, 1, 3."""

    raw: str
    state: str  # one of SERVER_STATES, or the upper-cased first word for a word HAProxy adds later
    transition: Literal["going_down", "going_up"] | None = None
    checks_done: int | None = None
    checks_needed: int | None = None
    qualifier: str | None = None  # "agent", "via be/srv", "resolution"

    @property
    def routed(self) -> bool:
        """HAProxy still sends traffic here as far as health goes."""
        return self.state in ROUTED_STATES


_STATUS_RE = re.compile(r"^(?P<word>[A-Za-z]+)(?:\s+(?P<done>\d+)/(?P<needed>\d+))?(?:\s*\((?P<qual>[^)]*)\))?\s*$")


def parse_server_status(text: str) -> ServerStatus:
    """Split a server's status column; unknown words are kept rather than rejected."""
    raw = text.strip()
    if raw.lower() == "no check":
        return ServerStatus(raw=raw, state="NO_CHECK")
    match = _STATUS_RE.match(raw)
    if not match:
        return ServerStatus(raw=raw, state=(raw.split() or ["UNKNOWN"])[0].upper())
    state = match["word"].upper()
    transition: Literal["going_down", "going_up"] | None = None
    if match["done"] is not None:
        transition = "going_up" if state == "DOWN" else "going_down"
    return ServerStatus(
        raw=raw, state=state, transition=transition,
        checks_done=int(match["done"]) if match["done"] else None,
        checks_needed=int(match["needed"]) if match["needed"] else None,
        qualifier=match["qual"],
    )


@dataclasses.dataclass(frozen=True)
class StatRow:
    """One line of the stats CSV, with the columns watchtower uses, typed."""

    line: int
    proxy: str
    name: str  # svname: FRONTEND, BACKEND, or the server name
    kind: Literal["frontend", "backend", "server", "listener"]
    status: str
    weight: int | None = None
    active: int | None = None  # act: servers UP (backend row) / 1 if an active server (server row)
    backup: int | None = None  # bck: backup servers UP (backend) / 1 if a backup server (server)
    check_failures: int | None = None  # chkfail
    down_transitions: int | None = None  # chkdown
    last_change_seconds: int | None = None  # lastchg: seconds since the last status change
    downtime_seconds: int | None = None
    check_status: str | None = None  # L7OK, L4CON, ... (without HAProxy's "* " in-progress mark)
    check_in_progress: bool = False
    check_code: int | None = None
    check_duration_seconds: float | None = None
    check_desc: str | None = None
    address: str | None = None

    @property
    def server_status(self) -> ServerStatus:
        return parse_server_status(self.status)


@dataclasses.dataclass(frozen=True)
class RowProblem:
    line: int
    detail: str


@dataclasses.dataclass(frozen=True)
class StatsTable:
    rows: tuple[StatRow, ...]
    problems: tuple[RowProblem, ...] = ()

    def servers(self) -> list[StatRow]:
        return [r for r in self.rows if r.kind == "server"]

    def backends(self) -> list[StatRow]:
        return [r for r in self.rows if r.kind == "backend"]


_REQUIRED_COLUMNS = ("pxname", "svname", "status")
_INT_COLUMNS = {
    "weight": "weight", "act": "active", "bck": "backup", "chkfail": "check_failures",
    "chkdown": "down_transitions", "lastchg": "last_change_seconds", "downtime": "downtime_seconds",
    "check_code": "check_code",
}


def parse_stats_csv(data: bytes | str) -> StatsTable:
    """Parse ``show stat`` / ``;csv`` output. Raises ``MalformedStats`` if it is not stats CSV.

    A row that does not fit (wrong field count, a non-number where a number belongs) becomes a
    ``RowProblem`` and is skipped; the other rows still count.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, (bytes, bytearray)) else data
    if "\x00" in text:
        raise MalformedStats("contains NUL bytes")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise MalformedStats("empty answer")
    header_line = lines[first]
    if not header_line.startswith("# "):
        raise MalformedStats(f"no header line starting with '# ' (got {header_line[:60]!r})")
    try:
        header = [h.strip() for h in next(csv.reader([header_line[2:]]))]
    except (csv.Error, StopIteration) as exc:
        raise MalformedStats(f"unreadable header: {exc}") from None
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise MalformedStats(f"header lacks column(s) {', '.join(missing)}")
    index = {name: i for i, name in enumerate(header) if name}
    rows: list[StatRow] = []
    problems: list[RowProblem] = []
    body = "\n".join(lines[first + 1:])
    reader = csv.reader(io.StringIO(body))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(RowProblem(first + 1 + reader.line_num, f"unreadable CSV: {exc}"))
            break
        line_no = first + 1 + reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            problems.append(RowProblem(line_no, f"has {len(fields)} fields, the header has {len(header)}"))
            continue
        try:
            rows.append(_row(line_no, fields, index))
        except ValueError as exc:
            problems.append(RowProblem(line_no, str(exc)))
    return StatsTable(rows=tuple(rows), problems=tuple(problems))


def _row(line_no: int, fields: Sequence[str], index: Mapping[str, int]) -> StatRow:
    def get(column: str) -> str | None:
        i = index.get(column)
        value = fields[i].strip() if i is not None else ""
        return value or None

    def integer(column: str) -> int | None:
        value = get(column)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"column {column}: {value[:40]!r} is not an integer") from None

    proxy, name = get("pxname"), get("svname")
    if proxy is None or name is None:
        raise ValueError("empty pxname or svname")
    kind = _ROW_KINDS.get(get("type") or "") or {"FRONTEND": "frontend", "BACKEND": "backend"}.get(name, "server")
    check_status = get("check_status")
    in_progress = bool(check_status and check_status.startswith("*"))
    if check_status:
        check_status = check_status.lstrip("* ").strip() or None
    duration_ms = integer("check_duration")
    values: dict[str, Any] = {attr: integer(column) for column, attr in _INT_COLUMNS.items()}
    return StatRow(
        line=line_no, proxy=proxy, name=name, kind=kind,  # type: ignore[arg-type]
        status=get("status") or "",
        check_status=check_status, check_in_progress=in_progress,
        check_duration_seconds=duration_ms / 1000.0 if duration_ms is not None else None,
        check_desc=get("check_desc"), address=get("addr"),
        **values,
    )


# --------------------------------------------------------------------------------------------
# Pure judgement: rows → metrics, findings, details


def build_metrics(table: StatsTable, now: float) -> list[Metric]:
    """The per-server and per-backend metric families for one stats table."""
    labels = ["proxy", "server"]
    up = GaugeMetricFamily("watchtower_haproxy_server_up",
                           "1 while HAProxy routes to the server by health (UP incl. 'UP 1/3', NOLB, DRAIN, "
                           "no check); 0 when DOWN (incl. 'DOWN 1/2') or MAINT.", labels=labels)
    status = GaugeMetricFamily("watchtower_haproxy_server_status",
                               "The server's state: one series per state, 1 for the current one.",
                               labels=[*labels, "status"])
    transition = GaugeMetricFamily("watchtower_haproxy_server_transition",
                                   "1 while the server is between states: going_down ('UP 1/3') or "
                                   "going_up ('DOWN 1/2').", labels=[*labels, "direction"])
    backup = GaugeMetricFamily("watchtower_haproxy_server_backup", "1 for a backup server, 0 for an active one.",
                               labels=labels)
    check_status = GaugeMetricFamily("watchtower_haproxy_server_check_status",
                                     "The last health check's result: one series per check_status (L7OK, L4CON, "
                                     "...), 1 for the current one; absent for servers without checks.",
                                     labels=[*labels, "check_status"])
    check_duration = GaugeMetricFamily("watchtower_haproxy_server_check_duration_seconds",
                                       "How long the last completed health check took.", labels=labels)
    last_change = GaugeMetricFamily("watchtower_haproxy_server_last_change_timestamp_seconds",
                                    "When the server last changed state (HAProxy's lastchg, second resolution).",
                                    labels=labels)
    check_failures = CounterMetricFamily("watchtower_haproxy_server_check_failures",
                                         "Failed health checks since HAProxy started (chkfail).", labels=labels)
    down_transitions = CounterMetricFamily("watchtower_haproxy_server_down_transitions",
                                           "UP to DOWN transitions since HAProxy started (chkdown).", labels=labels)
    downtime = CounterMetricFamily("watchtower_haproxy_server_downtime_seconds",
                                   "Total seconds the server has been DOWN since HAProxy started.", labels=labels)
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

    backend_up = GaugeMetricFamily("watchtower_haproxy_backend_up",
                                   "1 if HAProxy reports the backend UP (at least one usable server).",
                                   labels=["proxy"])
    active = GaugeMetricFamily("watchtower_haproxy_backend_active_servers",
                               "Active (non-backup) servers that are up, as HAProxy counts them (act).",
                               labels=["proxy"])
    backups = GaugeMetricFamily("watchtower_haproxy_backend_backup_servers",
                                "Backup servers that are up (bck).", labels=["proxy"])
    configured = GaugeMetricFamily("watchtower_haproxy_backend_servers",
                                   "Servers configured in the backend, whatever their state.", labels=["proxy"])
    backend_change = GaugeMetricFamily("watchtower_haproxy_backend_last_change_timestamp_seconds",
                                       "When the backend last changed state.", labels=["proxy"])
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


def build_details(source: str, table: StatsTable) -> dict[str, Any]:
    return {
        "source": source,
        "servers": [
            {
                "proxy": r.proxy, "server": r.name, "status": r.status, "state": r.server_status.state,
                "up": r.server_status.routed, "backup": r.backup == 1, "check_status": r.check_status,
                "check_code": r.check_code, "check_desc": r.check_desc,
                "check_duration_seconds": r.check_duration_seconds, "last_change_seconds": r.last_change_seconds,
                "address": r.address,
            }
            for r in table.servers()
        ],
        "backends": [
            {"proxy": r.proxy, "status": r.status, "active_servers": r.active, "backup_servers": r.backup}
            for r in table.backends()
        ],
    }


# --------------------------------------------------------------------------------------------
# I/O and the collector


def csv_url(stats_url: str) -> str:
    """The CSV form of a stats page URL: ``;csv`` after the whole ``stats uri``.

    HAProxy matches the request against the configured uri as a prefix, query included
    (``stats uri /haproxy?stats`` → ``/haproxy?stats;csv``).
    """
    parts = urlsplit(stats_url)
    if ";csv" in parts.path or ";csv" in parts.query:
        return stats_url
    parts = parts._replace(path=parts.path or "/", fragment="")
    if parts.query:
        return urlunsplit(parts._replace(query=parts.query + ";csv"))
    return urlunsplit(parts._replace(path=parts.path + ";csv"))


def read_stats(settings: HAProxySettings) -> bytes:
    """The raw stats CSV from the configured source. Raises ``ProbeError``."""
    timeout = float(settings.request_timeout)
    if settings.stats_url is not None:
        auth = None
        if settings.username is not None:
            try:
                password = settings.password.read() if settings.password is not None else ""
            except SecretUnavailable as exc:
                raise ProbeError(reasons.SECRET_UNAVAILABLE, str(exc)) from None
            auth = (settings.username, password)
        url = csv_url(settings.stats_url)
        fetched = http_get(url, timeout, TLSClientConfig(ca_file=settings.ca_file,
                                                         insecure_skip_verify=settings.insecure_skip_verify), auth)
        if fetched.status != 200:
            reason = {401: "unauthorized", 403: "forbidden"}.get(fetched.status, reasons.HTTP_ERROR)
            raise ProbeError(reason, f"{settings.stats_url}: HTTP {fetched.status}")
        return fetched.body
    path = settings.socket_path
    assert path is not None
    return unix_socket_exchange(path, b"show stat\n", timeout)


class HAProxyCollector(Collector[HAProxySettings]):
    name: ClassVar[str] = "haproxy"
    title: ClassVar[str] = "HAProxy backends"
    roles: ClassVar[frozenset[Role]] = frozenset({"node"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_haproxy_",)
    Settings: ClassVar[type[CollectorSettings]] = HAProxySettings

    settings: HAProxySettings

    @classmethod
    def unavailable_reason(cls, settings: HAProxySettings, context: CollectorContext) -> str | None:
        if settings.stats_url is None and settings.stats_socket is None and not os.path.exists(DEFAULT_STATS_SOCKET):
            return f"no stats_url or stats_socket configured and {DEFAULT_STATS_SOCKET} does not exist"
        return None

    def collect(self) -> CollectResult:
        source = self.settings.source
        up = GaugeMetricFamily("watchtower_haproxy_up", "1 if HAProxy's stats could be read and parsed.",
                               labels=["source"])
        try:
            table = parse_stats_csv(read_stats(self.settings))
        except (ProbeError, MalformedStats) as exc:
            reason, detail = (exc.reason, exc.detail) if isinstance(exc, ProbeError) else ("malformed_csv", str(exc))
            up.add_metric([source], 0.0)
            return CollectResult(
                metrics=(up,),
                errors=(ItemError(source, reason, detail),),
                findings=(Finding("haproxy", source, Severity.CRITICAL, f"cannot read HAProxy stats: {reason}: {detail}"),),
                details={"source": source, "error": {"reason": reason, "detail": detail}},
            )
        up.add_metric([source], 1.0)
        errors = tuple(ItemError(f"{source} line {p.line}", "malformed_csv", p.detail) for p in table.problems)
        return CollectResult(
            metrics=(up, *build_metrics(table, self.context.clock())),
            errors=errors,
            findings=tuple(build_findings(table)),
            details=build_details(source, table),
        )

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        if "servers" not in details:
            return None
        rows = [
            (s["proxy"], s["server"], s["status"], s["check_status"] or "-",
             s["check_desc"] or "-", "-" if s["last_change_seconds"] is None else f"{s['last_change_seconds']}s")
            for s in details["servers"]
        ]
        return [f"HAProxy ({details['source']})",
                *format_table(("BACKEND", "SERVER", "STATUS", "CHECK", "CHECK DETAIL", "SINCE"), rows)]
