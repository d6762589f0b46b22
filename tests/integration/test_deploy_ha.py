"""One bastion, several clusters (deploy/systemd/watchtower@.service) and the HA examples.

The template unit goes through `systemd-analyze verify` and `security --offline` like the
single-cluster unit; two instances run side by side exactly as systemd would start them (the
unit's ExecStartPre and ExecStart lines with %i expanded, its WorkingDirectory, UMask and
LimitNOFILE), since there is no systemd as PID 1 here. The Prometheus and Alertmanager examples
of deploy/ha/ and the README go through `promtool check config` and `amtool check-config`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_deploy_systemd import parse_unit, values
from tests.support.kubeadm_pki import issue
from tests.support.processes import http_get_direct, stop
from tests.support.services import free_port, require_binary, wait_for
from watchtower.app.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
HA = ROOT / "deploy" / "ha"
TEMPLATE = SYSTEMD / "watchtower@.service"
SINGLE = SYSTEMD / "watchtower.service"
HEARTBEAT_UNIT = SYSTEMD / "watchtower-heartbeat.service"
HEARTBEAT_EXAMPLE = HA / "heartbeat-check.example.yaml"
INSTANCES = {"prod": SYSTEMD / "prod.example.yaml", "staging": SYSTEMD / "staging.example.yaml"}
MAX_EXPOSURE = 2.0
# What differs between the template and the single-cluster unit; everything else (the sandbox)
# must stay identical, so hardening one and forgetting the other fails here.
PER_INSTANCE_KEYS = {"Description", "ExecStartPre", "ExecStart", "User", "StateDirectory", "WorkingDirectory",
                     "LoadCredential"}


@pytest.fixture(scope="module")
def template() -> dict[str, list[tuple[str, str]]]:
    return parse_unit(TEMPLATE.read_text())


def expand(text: str, instance: str) -> str:
    """systemd's specifiers as the template uses them: %i (instance) and %% (a literal %)."""
    return text.replace("%%", "\0").replace("%i", instance).replace("\0", "%")


def wrapper(tmp_path: Path) -> Path:
    """An executable standing in for /usr/local/bin/watchtower: this checkout's CLI."""
    path = tmp_path / "bin" / "watchtower"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m watchtower \"$@\"\n")
    path.chmod(0o755)
    return path


def test_template_runs_the_instance_config(template: dict) -> None:
    (exec_start,) = values(template, "Service", "ExecStart")
    argv = shlex.split(expand(exec_start, "prod"))
    assert argv == ["/usr/local/bin/watchtower", "run", "--config", "/etc/watchtower/prod.yaml"]
    assert build_parser().parse_args(argv[1:]).config == "/etc/watchtower/prod.yaml"
    (pre,) = values(template, "Service", "ExecStartPre")
    assert shlex.split(expand(pre, "prod"))[1:] == ["config", "check", "/etc/watchtower/prod.yaml"]
    assert values(template, "Service", "StateDirectory") == ["watchtower/%i"]
    assert values(template, "Service", "WorkingDirectory") == ["/var/lib/watchtower/%i"]


def test_template_keeps_the_single_units_sandbox(template: dict) -> None:
    single = parse_unit(SINGLE.read_text())
    shared = [(k, v) for k, v in template["Service"] if k not in PER_INSTANCE_KEYS]
    single_shared = [(k, v) for k, v in single["Service"] if k not in PER_INSTANCE_KEYS]
    # the template may only add hardening (and LimitNOFILE), never drop a directive
    missing = [kv for kv in single_shared if kv not in shared]
    assert not missing, f"watchtower@.service lacks {missing} of watchtower.service"


@pytest.mark.parametrize("name", ["watchtower@.service", "watchtower@prod.service"])
def test_systemd_verify_accepts_the_template(tmp_path: Path, name: str) -> None:
    analyze = require_binary("systemd-analyze")
    copy = tmp_path / name
    copy.write_text(TEMPLATE.read_text().replace("/usr/local/bin/watchtower", str(wrapper(tmp_path))))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr


def test_systemd_verify_rejects_a_broken_template(tmp_path: Path) -> None:
    """Guard: the verification above can fail on this file."""
    analyze = require_binary("systemd-analyze")
    copy = tmp_path / "watchtower@prod.service"
    copy.write_text(TEMPLATE.read_text().replace("/usr/local/bin/watchtower", str(wrapper(tmp_path)))
                    .replace("LimitNOFILE=", "LimitNOFILE=lots"))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False)
    assert "Failed to parse resource value" in done.stderr and "lots" in done.stderr, done.stderr


def test_heartbeat_unit_runs_the_documented_command(tmp_path: Path) -> None:
    unit = parse_unit(HEARTBEAT_UNIT.read_text())
    (exec_start,) = values(unit, "Service", "ExecStart")
    argv = shlex.split(exec_start)
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.config, args.check) == ("heartbeat-check", "/etc/watchtower/heartbeat-check.yaml", False)
    (pre,) = values(unit, "Service", "ExecStartPre")
    assert build_parser().parse_args(shlex.split(pre)[1:]).check is True
    assert values(unit, "Service", "RestartPreventExitStatus") == ["2"]
    copy = tmp_path / HEARTBEAT_UNIT.name
    copy.write_text(HEARTBEAT_UNIT.read_text().replace("/usr/local/bin/watchtower", str(wrapper(tmp_path))))
    done = subprocess.run([require_binary("systemd-analyze"), "verify", str(copy)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), done.stdout + done.stderr


def test_heartbeat_example_passes_its_own_check(tmp_path: Path) -> None:
    """`heartbeat-check --check` with the example's secret files present; exit 2 without them."""
    text = HEARTBEAT_EXAMPLE.read_text()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in re.findall(r"/etc/watchtower/secrets/([\w-]+)", text):
        (secrets / name).write_text("x\n")
    config = tmp_path / "heartbeat-check.yaml"
    config.write_text(text.replace("/etc/watchtower/secrets", str(secrets)))

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "watchtower", "heartbeat-check", "--config", str(path), "--check"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)

    done = check(config)
    assert done.returncode == 0, done.stderr
    missing = check(HEARTBEAT_EXAMPLE)  # /etc/watchtower/secrets does not exist here
    assert missing.returncode == 2 and "secret" in missing.stderr and "Traceback" not in missing.stderr


def exposure(unit: Path) -> float:
    done = subprocess.run([require_binary("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


def test_security_exposure_of_every_unit(tmp_path: Path) -> None:
    instance = tmp_path / "watchtower@prod.service"
    shutil.copy(TEMPLATE, instance)
    scores = {"watchtower.service": exposure(SINGLE), "watchtower@prod.service": exposure(instance),
              "watchtower-heartbeat.service": exposure(HEARTBEAT_UNIT)}
    print(f"\n[systemd-analyze security] exposure: {scores} (target <= {MAX_EXPOSURE})")
    assert all(score <= MAX_EXPOSURE for score in scores.values()), scores


def limit_nofile(unit: dict) -> int:
    (value,) = values(unit, "Service", "LimitNOFILE")
    return int(value)


def fd_budget() -> int:
    """File descriptors the daemon may need at once: the HTTP server's connection cap with its
    refusal slack, plus the reserve it keeps for collectors (endpoint probes, Kubernetes API
    pool, files, logs)."""
    from watchtower.app import httpproto
    from watchtower.app.config import ServerConfig

    return ServerConfig().max_connections + httpproto.FD_RESERVE + httpproto.REFUSING_EXTRA


def test_limit_nofile_fits_the_connection_cap(template: dict) -> None:
    single = parse_unit(SINGLE.read_text())
    budget = fd_budget()
    for name, unit in (("watchtower@.service", template), ("watchtower.service", single)):
        limit = limit_nofile(unit)
        print(f"\n[fds] {name}: LimitNOFILE={limit}, needed {budget}")
        assert budget <= limit <= 4 * budget, f"{name}: LimitNOFILE={limit} for a budget of {budget}"


def test_the_configured_cap_is_in_force_under_the_units_limit(template: dict) -> None:
    """The server lowers its cap below the soft fd limit; under LimitNOFILE it must not have to."""
    limit = limit_nofile(template)
    probe = ("from watchtower.app.config import ServerConfig; from watchtower.app.httpproto import Limits; "
             "print(Limits().effective_max_connections(), ServerConfig().max_connections)")
    done = subprocess.run([require_binary("prlimit"), f"--nofile={limit}:{limit}", "--", sys.executable, "-c", probe],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    effective, configured = map(int, done.stdout.split())
    print(f"\n[fds] under LimitNOFILE={limit}: connection cap in force {effective} (configured {configured})")
    assert effective == configured


def test_instance_examples_differ_where_they_must() -> None:
    configs = {name: yaml.safe_load(path.read_text()) for name, path in INSTANCES.items()}
    assert len({c["cluster"] for c in configs.values()}) == len(configs)
    assert len({c["server"]["listen"] for c in configs.values()}) == len(configs)
    for name, config in configs.items():
        state = (config.get("collectors", {}).get("upgrade") or {}).get("state_file")
        assert state is None or state.startswith(f"/var/lib/watchtower/{name}/"), (name, state)
        done = subprocess.run([sys.executable, "-m", "watchtower", "config", "check", str(INSTANCES[name])],
                              capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stderr


def loopback_instance_config(example: Path, port: int, cert_dir: Path) -> dict[str, Any]:
    """The example with what reaches other hosts replaced: its own free port, certificate
    files on disk instead of remote endpoints (tests stay on loopback)."""
    config = yaml.safe_load(example.read_text())
    config["server"]["listen"] = f"127.0.0.1:{port}"
    config.pop("control_plane", None)
    config["collectors"]["certs"] = {"kubeadm": False, "interval": "1s", "paths": [str(cert_dir / "*.pem")]}
    config["collectors"]["apiserver"] = {"enabled": False}
    return config


class UnitInstance:
    """One instance of the template unit, started the way systemd would start it."""

    def __init__(self, unit: dict, instance: str, etc: Path, state_root: Path, exe: Path) -> None:
        self.instance = instance
        self.state = state_root / instance
        self.argv = {key: shlex.split(expand(line, instance).replace("/etc/watchtower", str(etc))
                                      .replace("/usr/local/bin/watchtower", str(exe)))
                     for key in ("ExecStartPre", "ExecStart") for line in values(unit, "Service", key)}
        self.nofile = limit_nofile(unit)
        (umask,) = values(unit, "Service", "UMask")
        self.umask = int(umask, 8)
        self.log = state_root / f"{instance}.log"
        self.process: subprocess.Popen | None = None

    def _argv(self, key: str) -> list[str]:
        """LimitNOFILE= applied the way systemd does, to the process before it execs."""
        return [require_binary("prlimit"), f"--nofile={self.nofile}:{self.nofile}", "--", *self.argv[key]]

    def start(self) -> None:
        self.state.mkdir(mode=0o700, parents=True)  # StateDirectory=, WorkingDirectory=
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STATE_DIRECTORY": str(self.state),
               "PYTHONPATH": str(ROOT)}
        pre = subprocess.run(self._argv("ExecStartPre"), cwd=self.state, env=env, umask=self.umask,
                             capture_output=True, text=True, timeout=60, check=False)
        assert pre.returncode == 0, pre.stderr
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self._argv("ExecStart"), cwd=self.state, env=env, umask=self.umask,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        stop(self.process, signal.SIGTERM, timeout=15)  # TimeoutStopSec=15s
        return self.process.returncode


@pytest.fixture
def two_instances(tmp_path: Path, template: dict) -> Iterator[dict[str, tuple[UnitInstance, int]]]:
    etc, certs = tmp_path / "etc-watchtower", tmp_path / "certs"
    etc.mkdir()
    certs.mkdir()
    (certs / "site.pem").write_bytes(issue("site.example.org", days=90).cert_pem)
    exe = wrapper(tmp_path)
    started: dict[str, tuple[UnitInstance, int]] = {}
    try:
        for name, example in INSTANCES.items():
            port = free_port()
            (etc / f"{name}.yaml").write_text(yaml.safe_dump(loopback_instance_config(example, port, certs)))
            unit = UnitInstance(template, name, etc, tmp_path / "var-lib-watchtower", exe)
            unit.start()
            started[name] = (unit, port)
        yield started
    finally:
        for unit, _port in started.values():
            unit.stop()


def test_two_instances_run_side_by_side(two_instances: dict[str, tuple[UnitInstance, int]]) -> None:
    for name, (unit, port) in two_instances.items():
        def ready(port: int = port, unit: UnitInstance = unit) -> bool:
            assert unit.process is not None and unit.process.poll() is None, unit.log.read_text()
            try:
                return http_get_direct(f"http://127.0.0.1:{port}/readyz", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 30, what=f"watchtower@{name} /readyz")
    for name, (unit, port) in two_instances.items():
        expected = yaml.safe_load(INSTANCES[name].read_text())["cluster"]
        status, body = http_get_direct(f"http://127.0.0.1:{port}/api/status", timeout=2)
        assert status == 200 and json.loads(body)["cluster"] == expected
        wait_for(lambda port=port: b'watchtower_cert_not_after_timestamp_seconds{' in
                 http_get_direct(f"http://127.0.0.1:{port}/metrics", timeout=2)[1], 20, what=f"{name} certificates")
        assert unit.process is not None and unit.process.poll() is None
        limits = Path(f"/proc/{unit.process.pid}/limits").read_text()  # prlimit and the wrapper exec
        assert re.search(rf"Max open files\s+{unit.nofile}\s+{unit.nofile}", limits), limits
    print("\n[instances] " + ", ".join(f"watchtower@{n} on 127.0.0.1:{p}" for n, (_u, p) in two_instances.items()))
    for name, (unit, _port) in two_instances.items():
        assert unit.stop() == 0, f"watchtower@{name} did not exit 0 on SIGTERM:\n{unit.log.read_text()}"


# --------------------------------------------------------------------------------------------
# promtool / amtool over every example


def yaml_blocks(markdown: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", markdown.read_text(), re.DOTALL)]


def prometheus_examples() -> list[tuple[str, dict[str, Any]]]:
    """deploy/ha/prometheus.yml and every Prometheus snippet in the READMEs, as whole configs."""
    examples = [("deploy/ha/prometheus.yml", yaml.safe_load((HA / "prometheus.yml").read_text()))]
    for doc in (ROOT / "README.md", HA / "README.md"):
        for i, block in enumerate(yaml_blocks(doc)):
            if isinstance(block, dict) and ({"scrape_configs", "alerting", "rule_files"} & block.keys()):
                examples.append((f"{doc.relative_to(ROOT)}#{i}", block))
    return examples


@pytest.mark.promtool
@pytest.mark.parametrize(("name", "config"), prometheus_examples(), ids=[n for n, _ in prometheus_examples()])
def test_prometheus_examples_pass_promtool(tmp_path: Path, name: str, config: dict[str, Any]) -> None:
    """Rule files are pointed at this checkout's alerts/, so promtool checks those too."""
    if "rule_files" in config:
        config = {**config, "rule_files": [str(ROOT / "alerts" / "*.rules.yaml")]}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([require_binary("promtool"), "check", "config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"
    if "rule_files" in config:
        assert re.search(r"SUCCESS: [1-9][0-9]* rules found", done.stdout), done.stdout


def test_promtool_rejects_a_broken_example(tmp_path: Path) -> None:
    """Guard: a wrong relabel action must fail the check above."""
    config = yaml.safe_load((HA / "prometheus.yml").read_text())
    config["alerting"]["alert_relabel_configs"][-1]["action"] = "dropit"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([require_binary("promtool"), "check", "config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0


def alertmanager_examples() -> list[tuple[str, Path]]:
    """The example Alertmanager config and every Alertmanager snippet in the READMEs."""
    examples = [("alerts/alertmanager.yaml", ROOT / "alerts" / "alertmanager.yaml")]
    for doc in (ROOT / "README.md", HA / "README.md"):
        for i, block in enumerate(yaml_blocks(doc)):
            if isinstance(block, dict) and "receivers" in block:
                examples.append((f"{doc.relative_to(ROOT)}#{i}", doc))
    return examples


@pytest.mark.parametrize(("name", "source"), alertmanager_examples(), ids=[n for n, _ in alertmanager_examples()])
def test_alertmanager_examples_pass_amtool(tmp_path: Path, name: str, source: Path) -> None:
    if source.suffix == ".md":
        index = int(name.rsplit("#", 1)[1])
        path = tmp_path / "alertmanager.yaml"
        path.write_text(yaml.safe_dump(yaml_blocks(source)[index]))
    else:
        path = source
    done = subprocess.run([require_binary("amtool"), "check-config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=path.parent)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, f"{name}:\n{done.stdout}{done.stderr}"
