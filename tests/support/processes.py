"""Child processes for real-service tests: started, waited for, and stopped by PID only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """Signal exactly this child, then SIGKILL it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get_direct(url: str, timeout: float) -> tuple[int, bytes]:
    """GET on loopback, never through $HTTP_PROXY: (status, body), HTTP errors included."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def python_env() -> dict[str, str]:
    """The environment for a child Python that must import this checkout's code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def start_python_module(module: str, args: Sequence[str], log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=python_env(),
                            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class WatchtowerDaemon:
    """``watchtower run`` as a real child process with a config written from a mapping."""

    def __init__(self, workdir: Path, config: dict[str, Any], name: str = "watchtower") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.process = start_python_module(
            "watchtower", ["run", "--config", str(self.config_path), "--listen", f"127.0.0.1:{self.port}"], self.log)
        try:
            wait_for(lambda: self._get("/readyz")[0] == 200 or self._died(), 20, what=f"{self.url}/readyz")
        except BaseException:
            self.__exit__()
            raise
        if self._died():
            raise AssertionError(f"watchtower exited early:\n{self.log.read_text()}")
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def _get(self, path: str) -> tuple[int, str]:
        status, body = http_get_direct(self.url + path, timeout=2)
        return status, body.decode()

    def metrics(self) -> Samples:
        status, text = self._get("/metrics")
        assert status == 200, text
        return parse_samples(text)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll until ``predicate()`` is truthy; return the monotonic time at which it first was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
