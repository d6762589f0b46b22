"""Real Prometheus and Alertmanager processes for end-to-end tests (watchtower itself:
tests.support.processes.WatchtowerDaemon).

Each server runs as a child process on a free loopback port with its state in the test's
tmp directory, logs to a file there (shown when a wait times out), and is stopped by its PID:
SIGTERM, then SIGKILL after a few seconds. Every wait is bounded.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import stop
from tests.support.services import free_port, require_binary, wait_for

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
DEPLOY_HA = ROOT / "deploy" / "ha"


class ManagedProcess:
    """One child process with its output in ``log_file``; stopped by PID, never by name."""

    def __init__(self, argv: Sequence[str], log_file: Path, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log_file = log_file
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until(self, predicate: Any, timeout: float, what: str) -> Any:
        def check() -> Any:
            if not self.running():
                raise AssertionError(f"{self.argv[0]} exited ({self.proc.returncode if self.proc else '?'}):\n{self.log_tail()}")
            return predicate()

        try:
            return wait_for(check, timeout, interval=0.05, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.log_file.name} ---\n{self.log_tail()}") from None


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=0.5).status_code == 200
    except requests.RequestException:
        return False


class Prometheus(ManagedProcess):
    """A real Prometheus scraping ``targets`` and evaluating ``rule_files`` every ``interval``."""

    def __init__(
        self, workdir: Path, targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path] = (),
        alertmanagers: Sequence[str] = (), interval: str = "250ms", target_labels: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        """``config``, when given, is the whole prometheus.yml (e.g. a deploy/ example with
        addresses replaced) and the other arguments but ``workdir`` are ignored."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        if config is not None:
            self._write_and_init(workdir, dict(config))
            return
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(addrs), "labels": dict(target_labels or {})}]}
                for job, addrs in targets.items()
            ],
        }
        if alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
        self._write_and_init(workdir, config)

    def _write_and_init(self, workdir: Path, config: dict[str, Any]) -> None:
        self.config_file = workdir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        super().__init__(
            [
                require_binary("prometheus"), f"--config.file={self.config_file}",
                f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                # re-send firing alerts every second, not every minute: an alert that fired before
                # the Alertmanager target was synced (Watchdog at startup) arrives within seconds
                "--rules.alert.resend-delay=1s",
            ],
            workdir / "prometheus.log", cwd=workdir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_and_wait(self, timeout: float = 20.0) -> None:
        self.start()
        self.wait_until(lambda: _http_ok(f"{self.url}/-/ready"), timeout, "prometheus /-/ready")

    def query(self, expr: str, time_: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if time_ is not None:
            params["time"] = time_
        answer = requests.get(f"{self.url}/api/v1/query", params=params, timeout=5).json()
        if answer.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {answer}")
        return answer["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]

    def wait_for_up(self, job: str, timeout: float = 20.0) -> None:
        """The first target sync takes seconds: wait until every target of ``job`` is scraped."""
        def all_up() -> bool:
            series = self.query(f'up{{job="{job}"}}')
            return bool(series) and all(s["value"][1] == "1" for s in series)

        self.wait_until(all_up, timeout, f'up{{job="{job}"}} == 1')


class Alertmanager(ManagedProcess):
    """A real Alertmanager (Debian's ``prometheus-alertmanager``); without gossip unless
    ``cluster_args`` (``--cluster.*`` flags) are given. ``start`` after ``kill`` restarts it
    with the same port, flags and storage, as a supervisor would."""

    def __init__(self, workdir: Path, config_file: Path, cluster_args: Sequence[str] = ("--cluster.listen-address=",),
                 port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        super().__init__(
            [
                require_binary("prometheus-alertmanager"), f"--config.file={config_file}",
                f"--storage.path={workdir / 'data'}", *cluster_args,
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            workdir / "alertmanager.log", cwd=workdir,
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, no state written to disk."""
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)

    def status(self) -> dict[str, Any]:
        """GET /api/v2/status: ``cluster.status`` (ready/settling/disabled) and ``cluster.peers``."""
        answer = requests.get(f"http://{self.address}/api/v2/status", timeout=5)
        answer.raise_for_status()
        return answer.json()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` in this Alertmanager's /metrics matching ``labels``."""
        text = requests.get(f"http://{self.address}/metrics", timeout=5).text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_and_wait(self, timeout: float = 20.0) -> None:
        self.start()
        self.wait_until(lambda: _http_ok(f"http://{self.address}/-/ready"), timeout, "alertmanager /-/ready")

    def alerts(self, *matchers: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (API v2), active, silenced and inhibited alike."""
        answer = requests.get(f"http://{self.address}/api/v2/alerts", params=[("filter", m) for m in matchers], timeout=5)
        answer.raise_for_status()
        return answer.json()


def rules_without_for(destination: Path, sources: Sequence[Path] | None = None) -> list[Path]:
    """Copies of alerts/*.rules.yaml with every ``for:`` set to 0s (long ``for:`` is promtool's job)."""
    destination.mkdir(parents=True, exist_ok=True)
    copies = []
    for source in sources if sources is not None else sorted(ALERTS.glob("*.rules.yaml")):
        doc = yaml.safe_load(source.read_text())
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "for" in rule:
                    rule["for"] = "0s"
        copy = destination / source.name
        copy.write_text(yaml.safe_dump(doc, sort_keys=False))
        copies.append(copy)
    return copies


def wait_for_value(prometheus: Prometheus, expr: str, timeout: float, what: str | None = None) -> list[dict[str, Any]]:
    """Wait until ``expr`` returns at least one series."""
    return prometheus.wait_until(lambda: prometheus.query(expr), timeout, what or expr)


def ha_prometheus_config(replica: str, watchtowers: Sequence[str], alertmanagers: Sequence[str],
                         rules: Sequence[Path], cluster: str, interval: str = "250ms") -> dict[str, Any]:
    """deploy/ha/prometheus.yml for one host of the pair, with only addresses and timers replaced:
    its replica name, its watchtower(s), both Alertmanagers, the rule file copies."""
    doc = yaml.safe_load((DEPLOY_HA / "prometheus.yml").read_text())
    doc["global"].update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    doc["global"]["external_labels"]["replica"] = replica
    doc["rule_files"] = [str(p) for p in rules]
    (am_config,) = doc["alerting"]["alertmanagers"]
    am_config["static_configs"] = [{"targets": list(alertmanagers)}]
    (job,) = [j for j in doc["scrape_configs"] if j["job_name"] == "watchtower"]
    job["static_configs"] = [{"targets": list(watchtowers), "labels": {"cluster": cluster}}]
    return doc
