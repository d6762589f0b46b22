"""Start-up: from `watchtower run` to /metrics answering with watchtower_build_info.

The issue's bound is 2 s from start. A bare interpreter start measured in the same run is the
baseline, so a slow machine shows up in both numbers rather than as a false alarm.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench.harness import Line

ROUNDS = 5


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _time_to_metrics(cwd: str, env: dict[str, str]) -> float:
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--listen", f"127.0.0.1:{port}"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:  # bounded: 30 s
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
                if b"watchtower_build_info" in body:
                    return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("watchtower did not serve /metrics within 30 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def _bare_interpreter() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def run() -> list[Line]:
    with tempfile.TemporaryDirectory(prefix="wt-bench-startup-") as empty:
        env = {k: v for k, v in os.environ.items() if k not in {"WATCHTOWER_CONFIG", "KUBECONFIG"}}
        env["HOME"] = empty  # zero-config start: no kubeconfig to find
        baseline = statistics.median(_bare_interpreter() for _ in range(ROUNDS))
        startup = statistics.median(_time_to_metrics(empty, env) for _ in range(ROUNDS))
    return [Line("startup_to_metrics", startup, "s", baseline, "s", "<= 2.0", target_on_value=True)]
