"""The out-of-band systemd unit and its example config match the CLI and are hardened.

`systemd-analyze verify` (Debian package systemd) checks the unit's syntax and that ExecStart
is executable; `systemd-analyze security --offline` scores its sandboxing. The example config
goes through the real `watchtower config check`, and ExecStart through the CLI's own parser.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import require_binary
from watchtower.app.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "watchtower.service"
EXAMPLE = ROOT / "deploy" / "systemd" / "config.example.yaml"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 = fully sandboxed, 10 = not at all


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections → ordered (key, value) pairs; keys may repeat, as systemd allows."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"directive outside a section: {line}"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit[section] if k == key]


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return parse_unit(UNIT.read_text())


def test_exec_start_is_the_documented_run_command(unit: dict) -> None:
    (exec_start,) = values(unit, "Service", "ExecStart")
    argv = shlex.split(exec_start)
    assert argv == ["/usr/local/bin/watchtower", "run", "--config", "/etc/watchtower/config.yaml"]
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.config == "/etc/watchtower/config.yaml"
    (pre,) = values(unit, "Service", "ExecStartPre")
    args = build_parser().parse_args(shlex.split(pre)[1:])
    assert (args.command, args.config_command, args.file) == ("config", "check", "/etc/watchtower/config.yaml")


def test_restart_policy_matches_the_exit_codes(unit: dict) -> None:
    from watchtower.app.cli import EXIT_CONFIG

    assert values(unit, "Service", "Restart") == ["on-failure"]
    assert values(unit, "Service", "RestartPreventExitStatus") == [str(EXIT_CONFIG)]


def test_unit_is_hardened(unit: dict) -> None:
    service = dict(unit["Service"])  # last value wins, as in systemd, for single-valued keys
    assert service["DynamicUser"] == "yes" or service.get("User") not in (None, "", "root")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert "/etc/watchtower" in service["ReadOnlyPaths"].split()
    assert service["CapabilityBoundingSet"] == "" and service["AmbientCapabilities"] == ""
    assert service["PrivateTmp"] == "yes" and service["ProtectHome"] == "yes"
    # Nothing writable but the state directory: no ReadWritePaths at all.
    assert "ReadWritePaths" not in service
    assert values(unit, "Service", "StateDirectory") == ["watchtower"]


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """`verify` checks every directive; ExecStart must be executable, so point it at this checkout."""
    analyze = require_binary("systemd-analyze")
    wrapper = tmp_path / "watchtower"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m watchtower \"$@\"\n")
    wrapper.chmod(0o755)
    copy = tmp_path / "watchtower.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/watchtower", str(wrapper)))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr


def test_systemd_verify_catches_a_broken_directive(tmp_path: Path) -> None:
    """Guard: the check above must be able to fail."""
    analyze = require_binary("systemd-analyze")
    broken = tmp_path / "broken.service"
    broken.write_text(UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes")
                      .replace("/usr/local/bin/watchtower", "/bin/true"))
    done = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "Restart" in done.stderr or "restart" in done.stderr


def test_systemd_security_exposure_is_low() -> None:
    analyze = require_binary("systemd-analyze")
    done = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for watchtower\.service: ([0-9.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE


def test_example_config_passes_config_check() -> None:
    done = subprocess.run([sys.executable, "-m", "watchtower", "config", "check", str(EXAMPLE)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_example_config_does_not_depend_on_the_cluster() -> None:
    """Out of band means no Kubernetes API and no in-cluster paths."""
    import yaml

    config = yaml.safe_load(EXAMPLE.read_text())
    assert "kubernetes" not in config
    assert config["control_plane"]["vips"] and config["control_plane"]["apiservers"]
    assert config["server"]["listen"].startswith("127.0.0.1:")
    assert "/var/run/secrets/kubernetes.io" not in EXAMPLE.read_text()
