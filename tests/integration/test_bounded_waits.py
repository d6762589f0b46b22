"""One-line errors and bounded waits, through the real ``watchtower`` command.

A port already in use is one line naming the address and exit 2; one-shot commands against an
unreachable service answer within their timeout (the retry with backoff belongs to the daemon);
CLI durations use the config file's syntax; the start-up log shows the address really used;
``config show`` with no file spells out every collector's defaults.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from tests.support.services import free_port, wait_for
from tests.support.tls_servers import SilentServer
from watchtower.app.registry import REGISTRY


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"WATCHTOWER_CONFIG", "KUBECONFIG"}}
    env["HOME"] = str(tmp_path)
    return env


def _watchtower(tmp_path: Path, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "watchtower", *args], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - start


def test_port_in_use_is_one_line_naming_the_address_and_exit_2(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done, took = _watchtower(tmp_path, "run", "--listen", address)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"watchtower: cannot start: cannot listen on {address}: ") and "already in use" in last, last
    assert took < 10


def test_provision_dry_run_against_unreachable_grafana_fails_within_its_timeout(tmp_path: Path) -> None:
    """Refused: at once (no ~90 s of backoff). Silent: within the request timeout (2s here)."""
    refused = tmp_path / "refused.yaml"
    refused.write_text(yaml.safe_dump({"collectors": {"grafana": {"url": f"http://127.0.0.1:{free_port()}"}}}))
    done, took = _watchtower(tmp_path, "provision", "--dry-run", "--config", str(refused))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "127.0.0.1" in done.stderr
    assert took < 10, f"provision --dry-run took {took:.1f}s against a refused port"
    with SilentServer() as silent:
        config = tmp_path / "silent.yaml"
        config.write_text(yaml.safe_dump({"collectors": {"grafana": {
            "url": f"http://{silent.address}", "request_timeout": "2s"}}}))
        done, took = _watchtower(tmp_path, "provision", "--dry-run", "--config", str(config))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert took < 8, f"provision --dry-run took {took:.1f}s with request_timeout 2s"


def test_cli_durations_take_the_config_syntax(tmp_path: Path) -> None:
    with SilentServer() as silent:
        done, took = _watchtower(tmp_path, "check", "certs", "--endpoint", silent.address, "--timeout", "1s")
    assert done.returncode == 3 and "timeout" in done.stdout, done.stdout + done.stderr
    assert took < 8
    bad, _ = _watchtower(tmp_path, "check", "certs", "--endpoint", "127.0.0.1:1", "--timeout", "soon")
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr and "Traceback" not in bad.stderr


def test_startup_log_shows_the_listen_address_in_use(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text("server: {listen: '0.0.0.0:9847'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--config", str(config), "--listen",
                             f"127.0.0.1:{port}"], cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).ok, 15, what="healthz")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert f"listen: 127.0.0.1:{port}" in stderr
    assert "0.0.0.0:9847" not in stderr
    assert f"serving http://127.0.0.1:{port}/metrics" in stderr


def test_config_show_without_a_file_lists_every_collector_with_its_defaults(tmp_path: Path) -> None:
    done, _ = _watchtower(tmp_path, "config", "show")
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)["collectors"]
    assert set(shown) == set(REGISTRY)
    for name, cls in REGISTRY.items():
        defaults = cls.Settings()
        assert shown[name]["enabled"] == defaults.enabled
        assert shown[name]["interval"] and shown[name]["timeout"], name
    assert shown["certs"]["interval"] == "5m" and shown["certs"]["paths"] == []


def test_check_help_documents_the_exit_status(tmp_path: Path) -> None:
    done, _ = _watchtower(tmp_path, "check", "--help")
    assert done.returncode == 0
    for line in ("0  OK", "1  WARNING", "2  CRITICAL", "3  UNKNOWN"):
        assert line in done.stdout, done.stdout


def test_check_of_the_provisioner_against_unreachable_grafana_is_bounded(tmp_path: Path) -> None:
    """`check --collector grafana` is one-shot too: one attempt, not the daemon's backoff."""
    config = tmp_path / "refused.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"grafana": {"url": f"http://127.0.0.1:{free_port()}"}}}))
    done, took = _watchtower(tmp_path, "check", "--collector", "grafana", "--config", str(config))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert took < 10, f"check --collector grafana took {took:.1f}s against a refused port"
