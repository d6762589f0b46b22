"""The real `watchtower` command as a user runs it: start, serve, stop, config errors, exit codes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.support import collectors as tc
from tests.support.services import free_port, wait_for
from watchtower.app import cli
from watchtower.app.cli import run_collectors_once


def _env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"WATCHTOWER_CONFIG", "KUBECONFIG"}}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config to find
    return env


def test_run_in_empty_directory_serves_build_info_and_stops_on_sigterm(tmp_path) -> None:
    port = free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchtower", "run", "--listen", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        body = wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=0.5).text, 5, what="/metrics")
        served_after = time.monotonic() - start
        assert "watchtower_build_info{" in body
        # the 2 s target is measured by `python -m bench startup`; here only a sanity bound
        assert served_after < 10.0, f"/metrics took {served_after:.2f}s to appear"
        proc.send_signal(signal.SIGTERM)
        stop_start = time.monotonic()
        _, stderr = proc.communicate(timeout=5)
        assert proc.returncode == 0, stderr
        assert time.monotonic() - stop_start < 5
        assert "starting with config" in stderr and "shutting down" in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_sigint_also_exits_zero(tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--listen", f"127.0.0.1:{port}"],
                            cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).ok, 5, what="healthz")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("argv", [["config", "check"], ["run"], ["check"]])
def test_unknown_key_exits_2_naming_the_key(tmp_path, argv: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  listne: 127.0.0.1:1\n")
    args = [*argv, str(config)] if argv == ["config", "check"] else [*argv, "--config", str(config)]
    done = subprocess.run([sys.executable, "-m", "watchtower", *args], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "server.listne" in done.stderr and "did you mean 'listen'" in done.stderr


def test_config_check_ok_and_show_redacts(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("do-not-print-me")
    config = tmp_path / "c.yaml"
    config.write_text(f"server:\n  basic_auth: {{username: u, password_file: {secret}}}\n")
    ok = subprocess.run([sys.executable, "-m", "watchtower", "config", "check", str(config)],
                        env=_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "ok" in ok.stdout
    show = subprocess.run([sys.executable, "-m", "watchtower", "config", "show", "--config", str(config)],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert show.returncode == 0 and "do-not-print-me" not in show.stdout and str(secret) in show.stdout


def test_bad_listen_flag_exits_2(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "watchtower", "run", "--listen", "nowhere"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--listen" in done.stderr


@pytest.mark.parametrize("argv", [[], ["run"], ["check"], ["config"], ["config", "check"], ["config", "show"], ["version"]])
def test_help_everywhere(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0


class _Clean(tc.WarningCollector):
    name = "clean"
    description = "succeeds with nothing to report"

    def collect(self):  # type: ignore[no-untyped-def]
        from watchtower.core.results import CollectResult

        return CollectResult()


STATUS_WORDS = ["ok", "warning", "critical", "unknown"]


@pytest.mark.parametrize(("collectors", "expected"), [
    ((_Clean,), 0),
    ((_Clean, tc.WarningCollector), 1),
    ((tc.WarningCollector, tc.CriticalCollector), 2),
    ((tc.CriticalCollector, tc.RaisingCollector), 2),  # something seen is critical: that wins
    ((_Clean, tc.RaisingCollector), 3),  # a failed collector could not look: UNKNOWN, not OK
    ((tc.GoodCollector,), 3),  # its item error: a file it could not read
    ((tc.GoodCollector, tc.WarningCollector), 3),
    ((tc.RaisingCollector,), 3),  # every enabled collector failed: blind
    ((), 3),  # nothing enabled: blind
])
def test_check_exit_status(collectors: tuple[type, ...], expected: int) -> None:
    view = run_collectors_once([c(tc.settings(), tc.context()) for c in collectors])
    registry = {c.name: c for c in collectors}
    table, doc = io.StringIO(), io.StringIO()
    assert cli.emit_check(view, "table", registry, {"kube": "no kubeconfig found"}, stream=table) == expected
    assert cli.emit_check(view, "json", registry, {"kube": "no kubeconfig found"}, stream=doc) == expected
    parsed = json.loads(doc.getvalue())
    assert parsed["status"] == STATUS_WORDS[expected]
    assert f"overall: {STATUS_WORDS[expected].upper()} (exit {expected})" in table.getvalue()
    assert "not run: no kubeconfig found" in table.getvalue()
    tail = table.getvalue().split("overall: ", 1)[1]
    if expected:  # every non-zero exit names its cause
        assert len(tail.splitlines()) > 1, tail
    if not collectors or collectors == (tc.RaisingCollector,):
        assert parsed["blind"] and "kube" in {c["name"] for c in parsed["blind"]["collectors"]}
        assert "blind: " in tail and "try first: watchtower check certs --kubeadm" in tail
    else:
        assert parsed["blind"] is None


def test_check_subprocess_with_no_config_exits_zero_or_explains(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "watchtower", "check", "--output", "json"], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    doc = json.loads(done.stdout)
    assert done.returncode == {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}[doc["status"]]
    assert isinstance(doc["skipped"], dict)


class _Provisioner(tc.GoodCollector):
    name = "provisioner"
    changes_external_state = True


def test_check_skips_collectors_that_change_external_state(tmp_path, monkeypatch) -> None:
    """`check` only looks: a provisioner runs only when named with --collector."""
    registry = {"good": tc.GoodCollector, "provisioner": _Provisioner}
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    config = tmp_path / "c.yaml"
    config.write_text("collectors:\n  good: {enabled: true}\n  provisioner: {enabled: true}\n")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    # 3: GoodCollector reports an item it could not read (UNKNOWN), which is beside the point here
    assert cli.main(["check", "--config", str(config), "--output", "json"]) == 3
    doc = json.loads(out.getvalue())
    assert [c["name"] for c in doc["collectors"]] == ["good"]
    assert "--collector provisioner" in doc["skipped"]["provisioner"]
    out.truncate(0), out.seek(0)
    assert cli.main(["check", "--config", str(config), "--output", "json", "--collector", "provisioner"]) == 3
    assert [c["name"] for c in json.loads(out.getvalue())["collectors"]] == ["provisioner"]
