"""The HAProxy stats parser and metric builder, driven by CSV captured from the real HAProxy 2.6."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Self

import pytest
from prometheus_client.core import Metric

from watchtower.app import config as config_mod
from watchtower.app.daemon import make_context
from watchtower.collectors.haproxy import HAProxyCollector
from watchtower.collectors.haproxy.export import build_findings, build_metrics
from watchtower.collectors.haproxy.parse import MalformedStats, parse_server_status, parse_stats_csv
from watchtower.collectors.haproxy.read import csv_url
from watchtower.core.results import Severity
from watchtower.core.settings import ConfigError

DATA = Path(__file__).parent / "data" / "haproxy"


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def samples(families: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def value(families: list[Metric], name: str, **labels: str) -> float | None:
    return samples(families).get((name, tuple(sorted(labels.items()))))


def server(table, proxy: str, name: str):
    return next(r for r in table.servers() if (r.proxy, r.name) == (proxy, name))


# ---------------------------------------------------------------------------------------------
# status column


@pytest.mark.parametrize(
    ("text", "state", "transition", "done", "needed", "routed"),
    [
        ("UP", "UP", None, None, None, True),
        ("UP 1/3", "UP", "going_down", 1, 3, True),
        ("DOWN", "DOWN", None, None, None, False),
        ("DOWN 1/2", "DOWN", "going_up", 1, 2, False),
        ("NOLB", "NOLB", None, None, None, True),
        ("NOLB 2/3", "NOLB", "going_down", 2, 3, True),
        ("DRAIN", "DRAIN", None, None, None, True),
        ("DRAIN (agent)", "DRAIN", None, None, None, True),
        ("MAINT", "MAINT", None, None, None, False),
        ("MAINT (via apiservers/maint)", "MAINT", None, None, None, False),
        ("MAINT (resolution)", "MAINT", None, None, None, False),
        ("no check", "NO_CHECK", None, None, None, True),
        ("DOWN (agent)", "DOWN", None, None, None, False),
    ],
)
def test_parse_server_status(text, state, transition, done, needed, routed) -> None:
    st = parse_server_status(text)
    assert (st.state, st.transition, st.checks_done, st.checks_needed, st.routed) == (
        state, transition, done, needed, routed)
    assert st.raw == text


def test_unknown_status_word_is_kept_not_routed() -> None:
    st = parse_server_status("SOMEDAY 1/2")
    assert st.state == "SOMEDAY" and not st.routed


# ---------------------------------------------------------------------------------------------
# real HAProxy 2.6 CSV


def test_parses_every_state_from_show_stat() -> None:
    table = parse_stats_csv(fixture("show_stat_states.csv"))
    assert table.problems == ()
    states = {(r.proxy, r.name): r.server_status.state for r in table.servers()}
    assert states == {
        ("apiservers", "a1"): "UP", ("apiservers", "a2"): "UP", ("apiservers", "a3"): "UP",
        ("apiservers", "dead"): "DOWN", ("apiservers", "maint"): "MAINT", ("apiservers", "nocheck"): "NO_CHECK",
        ("apiservers", "bk"): "UP", ("empty", "x"): "DOWN", ("nolb", "n1"): "NOLB", ("nolb", "tr"): "NO_CHECK",
        ("tracking", "tr"): "MAINT",
    }
    dead = server(table, "apiservers", "dead")
    assert (dead.check_status, dead.check_desc, dead.check_duration_seconds) == (
        "L4CON", "Layer4 connection problem", 0.0)
    a1 = server(table, "apiservers", "a1")
    assert (a1.check_status, a1.check_code, a1.backup) == ("L7OK", 200, 0)
    assert server(table, "apiservers", "bk").backup == 1
    assert server(table, "nolb", "n1").check_status == "L7OKC"
    assert server(table, "tracking", "tr").server_status.qualifier == "via apiservers/maint"
    backends = {r.proxy: (r.status, r.active, r.backup) for r in table.backends()}
    assert backends == {"apiservers": ("UP", 4, 1), "empty": ("DOWN", 0, 0), "stats": ("UP", 0, 0),
                        "nolb": ("UP", 1, 0), "tracking": ("DOWN", 0, 0)}
    assert {r.kind for r in table.rows} == {"frontend", "backend", "server"}


def test_http_csv_and_socket_csv_are_the_same_format() -> None:
    http = parse_stats_csv(fixture("http_csv.csv").decode())  # str input works too
    assert http.problems == ()
    assert {(r.proxy, r.name) for r in http.servers()} >= {("apiservers", "a1"), ("apiservers", "dead")}
    assert server(http, "apiservers", "dead").check_status == "L4CON"


def test_transitional_states_from_real_captures() -> None:
    going_down = server(parse_stats_csv(fixture("show_stat_up_going_down.csv")), "apiservers", "a1")
    assert going_down.status == "UP 1/2" and going_down.check_status == "L4CON"
    assert going_down.server_status.transition == "going_down" and going_down.server_status.routed
    going_up = server(parse_stats_csv(fixture("show_stat_down_going_up.csv")), "apiservers", "a1")
    assert going_up.status == "DOWN 1/2" and going_up.check_status == "L7OK"
    assert going_up.server_status.transition == "going_up" and not going_up.server_status.routed
    drain = server(parse_stats_csv(fixture("show_stat_drain.csv")), "apiservers", "a2")
    assert drain.server_status.state == "DRAIN" and drain.server_status.routed


def test_check_in_progress_mark_is_stripped() -> None:
    table = parse_stats_csv(fixture("show_stat_down.csv"))
    a2 = server(table, "apiservers", "a2")
    assert a2.check_status == "L7OK" and a2.check_in_progress
    a1 = server(table, "apiservers", "a1")
    assert (a1.status, a1.check_status, a1.check_in_progress) == ("DOWN", "L4CON", False)


def test_unknown_extra_columns_are_ignored() -> None:
    lines = fixture("show_stat_states.csv").decode().splitlines()
    widened = [lines[0] + "future_a,future_b,"] + [line + "x,1," for line in lines[1:] if line]
    plain, wide = parse_stats_csv(fixture("show_stat_states.csv")), parse_stats_csv("\n".join(widened))
    assert wide.problems == () and wide.rows == plain.rows


def test_older_versions_with_fewer_columns_parse() -> None:
    """HAProxy 1.x had only the first ~30 columns; absent ones are None, not errors."""
    lines = fixture("show_stat_states.csv").decode().splitlines()
    narrow = [",".join(line.split(",")[:33]) for line in lines if line]  # up to and including "type"
    table = parse_stats_csv("\n".join(narrow))
    assert table.problems == ()
    dead = server(table, "apiservers", "dead")
    assert dead.server_status.state == "DOWN" and dead.check_status is None and dead.last_change_seconds is not None


# ---------------------------------------------------------------------------------------------
# malformed input


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"Unknown command, but maybe one of the following ones is a better match:\n", "no header"),
        (b"pxname,svname,status\napi,a1,UP\n", "no header"),
        (b"# pxname,svname,qcur\napi,a1,0\n", "status"),
        (b"# pxname,svname,status\x00\n", "NUL"),
    ],
)
def test_not_stats_csv_is_malformed(data: bytes, message: str) -> None:
    with pytest.raises(MalformedStats, match=message):
        parse_stats_csv(data)


def test_a_broken_row_is_reported_and_the_rest_kept() -> None:
    lines = fixture("show_stat_states.csv").decode().splitlines()
    a2 = next(i for i, line in enumerate(lines) if line.startswith("apiservers,a2,"))
    a3 = next(i for i, line in enumerate(lines) if line.startswith("apiservers,a3,"))
    lines[a2] = "apiservers,a2,0,0"  # truncated line
    fields = lines[a3].split(",")
    fields[23] = "soon"  # lastchg
    lines[a3] = ",".join(fields)
    table = parse_stats_csv("\n".join(lines))
    assert [(p.line, p.detail) for p in table.problems] == [
        (a2 + 1, f"has 4 fields, the header has {len(lines[0].split(','))}"),
        (a3 + 1, "column lastchg: 'soon' is not an integer"),
    ]
    names = {r.name for r in table.servers()}
    assert "a2" not in names and "a3" not in names and {"a1", "dead", "bk"} <= names


# ---------------------------------------------------------------------------------------------
# metrics and findings


def test_metrics_from_real_states() -> None:
    table = parse_stats_csv(fixture("show_stat_states.csv"))
    fams = build_metrics(table, now=1_000_000.4)
    assert value(fams, "watchtower_haproxy_server_up", proxy="apiservers", server="a1") == 1
    assert value(fams, "watchtower_haproxy_server_up", proxy="apiservers", server="dead") == 0
    assert value(fams, "watchtower_haproxy_server_up", proxy="apiservers", server="maint") == 0
    assert value(fams, "watchtower_haproxy_server_up", proxy="apiservers", server="nocheck") == 1
    dead_status = {s.labels["status"]: s.value for f in fams if f.name == "watchtower_haproxy_server_status"
                   for s in f.samples if s.labels["server"] == "dead"}
    assert dead_status == {"UP": 0, "DOWN": 1, "NOLB": 0, "DRAIN": 0, "MAINT": 0, "NO_CHECK": 0}
    assert value(fams, "watchtower_haproxy_server_check_status", proxy="apiservers", server="dead",
                 check_status="L4CON") == 1
    a3_raw = next(line for line in fixture("show_stat_states.csv").decode().splitlines() if line.startswith("apiservers,a3,"))
    assert value(fams, "watchtower_haproxy_server_check_duration_seconds", proxy="apiservers", server="a3") == (
        int(a3_raw.split(",")[38]) / 1000)
    lastchg = server(table, "apiservers", "dead").last_change_seconds
    assert value(fams, "watchtower_haproxy_server_last_change_timestamp_seconds", proxy="apiservers",
                 server="dead") == 1_000_000 - lastchg
    assert value(fams, "watchtower_haproxy_backend_active_servers", proxy="apiservers") == 4
    assert value(fams, "watchtower_haproxy_backend_servers", proxy="apiservers") == 7
    assert value(fams, "watchtower_haproxy_backend_up", proxy="empty") == 0
    assert value(fams, "watchtower_haproxy_backend_up", proxy="apiservers") == 1
    assert value(fams, "watchtower_haproxy_server_backup", proxy="apiservers", server="bk") == 1
    assert value(fams, "watchtower_haproxy_server_check_failures_total", proxy="apiservers", server="dead") == 1
    dead_checks = {s.labels["check_status"]: s.value for f in fams if f.name == "watchtower_haproxy_server_check_status"
                   for s in f.samples if s.labels["server"] == "dead"}
    assert sum(dead_checks.values()) == 1 and {"L7OK", "L4CON", "L7STS", "L6TOUT"} <= set(dead_checks)
    assert value(fams, "watchtower_haproxy_server_check_status", proxy="apiservers", server="maint",
                 check_status="L4CON") is None  # no checks on a MAINT server: no series


def test_transition_metric() -> None:
    fams = build_metrics(parse_stats_csv(fixture("show_stat_up_going_down.csv")), now=0)
    assert value(fams, "watchtower_haproxy_server_transition", proxy="apiservers", server="a1",
                 direction="going_down") == 1
    assert value(fams, "watchtower_haproxy_server_up", proxy="apiservers", server="a1") == 1
    fams = build_metrics(parse_stats_csv(fixture("show_stat_down_going_up.csv")), now=0)
    assert value(fams, "watchtower_haproxy_server_transition", proxy="apiservers", server="a1",
                 direction="going_up") == 1
    assert value(fams, "watchtower_haproxy_server_transition", proxy="apiservers", server="a1",
                 direction="going_down") == 0


def test_findings() -> None:
    found = {(f.subject, f.severity) for f in build_findings(parse_stats_csv(fixture("show_stat_states.csv")))}
    assert ("apiservers/dead", Severity.WARNING) in found
    assert ("empty", Severity.CRITICAL) in found and ("tracking", Severity.CRITICAL) in found
    assert not any(s.startswith("apiservers/a") for s, _ in found)
    assert ("apiservers", Severity.CRITICAL) not in found


# ---------------------------------------------------------------------------------------------
# settings and the collector's error paths (real files and sockets, no HAProxy needed)


def collector(tmp_path: Path, **settings: object) -> HAProxyCollector:
    config = config_mod.from_mapping({"collectors": {"haproxy": {"enabled": True, **settings}}})
    return HAProxyCollector(config.collectors["haproxy"], make_context(config))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"stats_url": "http://127.0.0.1:1/stats", "stats_socket": "/tmp/x"}, "stats_socket"),
        ({"stats_url": "http://admin:hunter2@127.0.0.1:1/stats"}, "stats_url"),
        ({"stats_url": "ftp://127.0.0.1/stats"}, "stats_url"),
        ({"stats_url": "http://127.0.0.1:1/stats", "password_env": "X"}, "username"),
    ],
)
def test_bad_settings_name_the_field(settings: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_mod.from_mapping({"collectors": {"haproxy": settings}})
    assert info.value.path == f"collectors.haproxy.{field}"
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("configured", "fetched"),
    [
        ("http://127.0.0.1:8404/stats", "http://127.0.0.1:8404/stats;csv"),
        ("http://127.0.0.1:8404/", "http://127.0.0.1:8404/;csv"),
        ("http://127.0.0.1:8404", "http://127.0.0.1:8404/;csv"),
        ("https://lb:8443/haproxy?stats", "https://lb:8443/haproxy?stats;csv"),
        ("http://127.0.0.1:8404/stats;csv", "http://127.0.0.1:8404/stats;csv"),
    ],
)
def test_csv_url(configured: str, fetched: str) -> None:
    assert csv_url(configured) == fetched


def test_missing_socket_is_an_item_error(tmp_path: Path) -> None:
    result = collector(tmp_path, stats_socket=str(tmp_path / "nope.sock")).collect()
    assert [(e.reason) for e in result.errors] == ["not_found"]
    assert value(list(result.metrics), "watchtower_haproxy_up", source=f"unix:{tmp_path}/nope.sock") == 0
    assert result.findings[0].severity == Severity.CRITICAL


def test_regular_file_instead_of_socket(tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    path.write_text("not a socket")
    result = collector(tmp_path, stats_socket=str(path)).collect()
    assert [e.reason for e in result.errors] == ["not_a_socket"]


def test_socket_answering_garbage_is_malformed_csv(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with _unix_server(path, b"Unknown command, but maybe one of the following\n"):
        result = collector(tmp_path, stats_socket=path).collect()
    assert [e.reason for e in result.errors] == ["malformed_csv"]
    assert "Unknown command" in result.errors[0].detail


def test_silent_socket_times_out_in_bounded_time(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with _unix_server(path, None):
        start = time.monotonic()
        result = collector(tmp_path, stats_socket=path, request_timeout="300ms").collect()
        took = time.monotonic() - start
    assert [e.reason for e in result.errors] == ["timeout"]
    assert took < 1.0


def test_unreachable_http_endpoint(tmp_path: Path) -> None:
    from tests.support.services import free_port

    result = collector(tmp_path, stats_url=f"http://127.0.0.1:{free_port()}/stats").collect()
    assert [e.reason for e in result.errors] == ["connection_refused"]


def test_slow_http_endpoint_times_out_in_bounded_time(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts (kernel backlog) but never answers
    try:
        port = listener.getsockname()[1]
        start = time.monotonic()
        result = collector(tmp_path, stats_url=f"http://127.0.0.1:{port}/stats", request_timeout="300ms").collect()
        took = time.monotonic() - start
    finally:
        listener.close()
    assert [e.reason for e in result.errors] == ["timeout"]
    assert took < 1.0


def test_default_socket_absent_means_auto_skips(tmp_path: Path) -> None:
    config = config_mod.from_mapping({})
    settings = config.collector_settings("haproxy", {"haproxy": HAProxyCollector})
    reason = HAProxyCollector.unavailable_reason(settings, make_context(config))
    if Path("/run/haproxy/admin.sock").exists():
        pytest.skip("this machine has the Debian default HAProxy socket")
    assert reason and "/run/haproxy/admin.sock" in reason


class _unix_server:
    """A unix stream socket that answers every connection with ``answer`` (None: never answers)."""

    def __init__(self, path: str, answer: bytes | None) -> None:
        self.path, self.answer = path, answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.stop = threading.Event()

    def __enter__(self) -> Self:
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self) -> None:
        held = []
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            held.append(conn)
            if self.answer is not None:
                conn.recv(1024)
                conn.sendall(self.answer)
                conn.close()
        for conn in held:
            conn.close()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
