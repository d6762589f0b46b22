"""The haproxy collector against a real HAProxy 2.6 balancing three TLS backends.

A backend is killed (SIGKILL) and restarted while two real ``watchtower run`` daemons watch
the same HAProxy, one through the stats page (``/stats;csv`` with basic auth) and one through
the stats socket (``show stat``). The detection latency printed is from the event (kill, or
the restarted backend accepting connections) to the change being visible in /metrics; it
includes HAProxy's own detection window (inter 500ms + fastinter 100ms, fall 2 / rise 2).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from tests.support.haproxy import STATS_PASSWORD, STATS_USER, HAProxyLab
from tests.support.processes import Samples, WatchtowerDaemon, http_get_direct
from watchtower.app import config as config_mod
from watchtower.app.daemon import make_context
from watchtower.collectors.haproxy import HAProxyCollector

pytestmark = pytest.mark.haproxy

INTERVAL = 1.0  # collection interval; the bound below is INTERVAL + 1s
NOBODY = 65534


@pytest.fixture
def lab(tmp_path: Path):
    with HAProxyLab(tmp_path) as running:
        yield running


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def server_state(samples: Samples, server: str) -> tuple[float | None, str | None, str | None]:
    """(server_up, current status, current check_status) of one server as /metrics shows it."""
    up = samples.get(_key("watchtower_haproxy_server_up", proxy="apiservers", server=server))
    status = next((dict(labels)["status"] for (name, labels), v in samples.items()
                   if name == "watchtower_haproxy_server_status" and v == 1 and dict(labels)["server"] == server), None)
    check = next((dict(labels)["check_status"] for (name, labels), v in samples.items()
                  if name == "watchtower_haproxy_server_check_status" and v == 1 and dict(labels)["server"] == server),
                 None)
    return up, status, check


def frontend_answers(lab: HAProxyLab, count: int) -> list[str]:
    answers = []
    for _ in range(count):
        status, body = http_get_direct(lab.frontend_url + "/version", timeout=5)
        assert status == 200
        answers.append(body.decode())
    return answers


def wait_both(daemons: dict[str, WatchtowerDaemon], predicate, since: float, timeout: float) -> dict[str, float]:
    """Poll every daemon's /metrics until ``predicate(samples)``; latency per daemon from ``since``."""
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(latencies) < len(daemons) and time.monotonic() < deadline:
        for label, daemon in daemons.items():
            if label not in latencies and predicate(daemon.metrics()):
                latencies[label] = time.monotonic() - since
        time.sleep(0.02)
    missing = set(daemons) - set(latencies)
    assert not missing, f"not seen within {timeout}s via {missing}: " + "; ".join(
        f"{label}: {server_state(d.metrics(), 'apiserver2')}" for label, d in daemons.items())
    return latencies


@pytest.mark.slow
def test_killed_backend_goes_down_with_its_check_status_and_comes_back(lab: HAProxyLab, tmp_path: Path) -> None:
    password_file = tmp_path / "stats-password"
    password_file.write_text(STATS_PASSWORD + "\n")
    common = {"enabled": True, "interval": f"{INTERVAL}s", "timeout": "900ms", "request_timeout": "500ms"}
    http_cfg = {"collectors": {"haproxy": {**common, "stats_url": lab.stats_url, "username": STATS_USER,
                                           "password_file": str(password_file)}}}
    socket_cfg = {"collectors": {"haproxy": {**common, "stats_socket": str(lab.socket_path)}}}
    with WatchtowerDaemon(tmp_path, http_cfg, "wt-http") as via_http, \
            WatchtowerDaemon(tmp_path, socket_cfg, "wt-socket") as via_socket:
        daemons = {"http ;csv": via_http, "unix socket": via_socket}
        all_up = lambda s: all(server_state(s, n)[:2] == (1, "UP") for n in lab.names)
        wait_both(daemons, all_up, time.monotonic(), 15)
        for daemon in daemons.values():
            samples = daemon.metrics()
            assert samples[_key("watchtower_haproxy_backend_active_servers", proxy="apiservers")] == 3
            assert server_state(samples, "apiserver1")[2] == "L7OK"
        assert sorted(set(frontend_answers(lab, 6))) == sorted(lab.names), "round-robin over all three"

        lab.kill_backend(1)
        killed_at = time.monotonic()
        # retries 2 + option redispatch 1: clients are not hurt during HAProxy's detection window
        assert "apiserver2" not in frontend_answers(lab, 6)
        down = wait_both(daemons, lambda s: server_state(s, "apiserver2")[:2] == (0, "DOWN"), killed_at, 10)
        for label, daemon in daemons.items():
            samples = daemon.metrics()
            assert server_state(samples, "apiserver2") == (0, "DOWN", "L4CON"), label
            assert samples[_key("watchtower_haproxy_backend_active_servers", proxy="apiservers")] == 2
            assert samples[_key("watchtower_haproxy_backend_up", proxy="apiservers")] == 1
            changed = samples[_key("watchtower_haproxy_server_last_change_timestamp_seconds",
                                   proxy="apiservers", server="apiserver2")]
            assert abs(changed - time.time()) < 5
            print(f"\nHAProxy backend DOWN visible in /metrics via {label}: {down[label]:.2f}s after SIGKILL "
                  f"(interval {INTERVAL:g}s, bound {INTERVAL + 1:g}s)")

        lab.start_backend(1)  # returns once it accepts connections: that is the event
        back_at = time.monotonic()
        up = wait_both(daemons, lambda s: server_state(s, "apiserver2")[:2] == (1, "UP"), back_at, 10)
        for label, daemon in daemons.items():
            samples = daemon.metrics()
            assert server_state(samples, "apiserver2") == (1, "UP", "L7OK"), label
            assert samples[_key("watchtower_haproxy_backend_active_servers", proxy="apiservers")] == 3
            assert samples[_key("watchtower_collector_success", collector="haproxy")] == 1
            print(f"HAProxy backend UP visible in /metrics via {label}: {up[label]:.2f}s after restart "
                  f"(interval {INTERVAL:g}s, bound {INTERVAL + 1:g}s)")
        for latency in [*down.values(), *up.values()]:
            assert latency <= INTERVAL + 1.0


def _collect_as_nobody(settings: dict) -> tuple[list[tuple[str, str]], float | None]:
    """Run the collector in a forked child that dropped root: (errors, watchtower_haproxy_up).

    As root, file modes do not apply; only a non-root process meets the socket's mode 600.
    """
    config = config_mod.from_mapping({"collectors": {"haproxy": {"enabled": True, **settings}}})
    collector = HAProxyCollector(config.collectors["haproxy"], make_context(config))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        result = collector.collect()
        up = next(s.value for f in result.metrics if f.name == "watchtower_haproxy_up" for s in f.samples)
        queue.put(([(e.reason, e.detail) for e in result.errors], up))

    process = ctx.Process(target=child)
    process.start()
    try:
        return queue.get(timeout=10)
    finally:
        process.join(5)


def test_socket_without_permission_is_a_reported_error(lab: HAProxyLab) -> None:
    from tests.support.services import require_root

    require_root()
    assert oct(lab.socket_path.stat().st_mode & 0o777) == "0o600"
    errors, up = _collect_as_nobody({"stats_socket": str(lab.socket_path)})
    assert [reason for reason, _ in errors] == ["permission_denied"] and up == 0
    assert str(lab.socket_path) in errors[0][1]
    lab.socket_path.chmod(0o666)  # the control: same child, same socket, now allowed
    errors, up = _collect_as_nobody({"stats_socket": str(lab.socket_path)})
    assert errors == [] and up == 1


def test_wrong_stats_password_is_unauthorized_and_not_leaked(lab: HAProxyLab, monkeypatch) -> None:
    def collect(password: str):
        monkeypatch.setenv("WT_TEST_HAPROXY_PW", password)
        config = config_mod.from_mapping({"collectors": {"haproxy": {
            "enabled": True, "stats_url": lab.stats_url, "username": STATS_USER, "password_env": "WT_TEST_HAPROXY_PW"}}})
        return HAProxyCollector(config.collectors["haproxy"], make_context(config)).collect()

    wrong = collect("not-the-password")
    assert [e.reason for e in wrong.errors] == ["unauthorized"]
    assert "not-the-password" not in repr(wrong)
    right = collect(STATS_PASSWORD)
    assert right.errors == () and {s["server"] for s in right.details.to_json()["servers"]} == {"apiserver1", "apiserver2", "apiserver3"}


def test_check_command_shows_the_down_server_and_exits_1(lab: HAProxyLab, tmp_path: Path) -> None:
    """`watchtower check` on a node: a DOWN server is a warning (exit 1) with its check status."""
    import json
    import subprocess
    import sys

    import yaml

    from tests.support.processes import REPO, python_env
    from tests.support.services import wait_for

    config = tmp_path / "check.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"haproxy": {"enabled": True, "stats_socket": str(lab.socket_path)}}}))
    lab.kill_backend(2)

    def check(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "watchtower", "check", "--config", str(config),
                               "--collector", "haproxy", *extra],
                              cwd=REPO, env=python_env(), capture_output=True, text=True, timeout=60)

    def exited_1() -> subprocess.CompletedProcess[str] | None:
        done = check()
        return done if done.returncode == 1 else None

    done = wait_for(exited_1, 10, what="exit status 1")
    row = next(line for line in done.stdout.splitlines() if line.startswith("apiservers") and "apiserver3" in line)
    assert row.split()[:4] == ["apiservers", "apiserver3", "DOWN", "L4CON"], done.stdout
    assert "WARNING" in done.stdout and "Layer4 connection problem" in done.stdout
    doc = json.loads(check("--output", "json").stdout)
    (collector,) = [c for c in doc["collectors"] if c["name"] == "haproxy"]
    assert collector["success"] and collector["errors"] == []
