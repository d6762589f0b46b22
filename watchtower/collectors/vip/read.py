"""I/O helpers: keepalived's process state from /proc and the signal that asks it for a JSON dump."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
from pathlib import Path

from watchtower.core.regularfile import read_regular


@dataclasses.dataclass(frozen=True)
class ProcessState:
    """Whether the process named by a pid file runs (read from /proc, never by signalling it)."""

    pid_file: str
    pid: int | None
    running: bool


def read_process_state(pid_file: str, proc_root: Path = Path("/proc"), comm: str = "keepalived") -> ProcessState:
    """Whether the pid in ``pid_file`` is a live (not zombie) ``comm`` process.

    A missing pid file counts as not running: keepalived removes it on a clean stop.
    """
    try:
        text = read_regular(pid_file, 4096).decode("ascii", errors="replace").strip()
    except OSError:
        return ProcessState(pid_file, None, False)
    if not text.isdigit():
        return ProcessState(pid_file, None, False)
    pid = int(text)
    try:
        stat = (proc_root / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ProcessState(pid_file, pid, False)
    # "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split at the last ")"
    name = stat[stat.find("(") + 1: stat.rfind(")")]
    fields = stat[stat.rfind(")") + 1:].split()
    running = name == comm and bool(fields) and fields[0] not in ("Z", "X", "x")  # a zombie is dead
    return ProcessState(pid_file, pid, running)


def _json_signum(configured: int | None) -> int:
    if configured is not None:
        return configured
    binary = shutil.which("keepalived") or next((p for p in ("/usr/sbin/keepalived", "/sbin/keepalived") if os.access(p, os.X_OK)), None)
    if binary:
        try:
            done = subprocess.run([binary, "--signum=JSON"], capture_output=True, text=True, timeout=2, check=False)
            if done.stdout.strip().isdigit():
                return int(done.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return int(signal.SIGRTMIN) + 2
