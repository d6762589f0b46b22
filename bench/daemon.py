"""A real ``watchtower run`` process for benchmarks: start it, wait for a collector's runs, read its RSS.

Stopped by its PID (SIGTERM, then SIGKILL after 20 s). Runs from the checkout the bench was
started in, so a worktree measures its own code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_mb(pid: int, field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def get(url: str, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # 127.0.0.1 only
        return bytes(response.read())


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data)))
    return path


def _last_success(metrics: bytes, collector: str) -> float | None:
    prefix = f'watchtower_collector_last_success_timestamp_seconds{{collector="{collector}"}}'
    for line in metrics.decode().splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def measure(config: Path | None, *, collector: str | None = None, runs: int = 0, settle: float = 1.0,
            env: Mapping[str, str] | None = None, timeout: float = 300) -> dict[str, float]:
    """Start ``watchtower run`` (``config`` None: zero config); wait until ready, or until ``collector``
    has succeeded ``runs`` times; let it settle; return ``{"hwm": MB, "rss": MB}``."""
    port = free_port()
    argv = [sys.executable, "-m", "watchtower", "run", "--listen", f"127.0.0.1:{port}"]
    if config is not None:
        argv[4:4] = ["--config", str(config)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(env) if env is not None else None)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        seen: set[float] = set()
        while time.monotonic() < deadline:  # bounded
            if proc.poll() is not None:
                tail = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"watchtower run exited: {tail}")
            try:
                if collector is None or runs == 0:
                    get(base + "/readyz", timeout=5)
                    break
                stamp = _last_success(get(base + "/metrics", timeout=60), collector)
                if stamp is not None:
                    seen.add(stamp)
                if len(seen) >= runs:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"watchtower run did not get there in {timeout:g}s")
        time.sleep(settle)
        return {"hwm": status_mb(proc.pid, "VmHWM"), "rss": status_mb(proc.pid, "VmRSS")}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
