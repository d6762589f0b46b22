"""Pure parsing: HAProxy's stats CSV (``show stat``, ``/stats;csv``) → typed rows; no I/O."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

SERVER_STATES = ("UP", "DOWN", "NOLB", "DRAIN", "MAINT", "NO_CHECK")
ROUTED_STATES = frozenset({"UP", "NOLB", "DRAIN", "NO_CHECK"})
TRANSITIONS = ("going_down", "going_up")
# Every check_status HAProxy 2.x documents (management guide, "check_status" column).
CHECK_STATUSES = ("UNK", "INI", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7OK", "L7OKC",
                  "L7TOUT", "L7RSP", "L7STS", "PROCERR", "PROCTOUT", "PROCOK")
_ROW_KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}

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
