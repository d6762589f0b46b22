"""A running daemon's threads: a fixed set from start-up, each named (also for the kernel), and the
opt-in debug dump (``WATCHTOWER_DEBUG_DUMP_DIR`` + SIGUSR2) that a soak diffs.

A real ``watchtower run`` child on loopback watching a directory of real certificates at 1 s
intervals; stopped by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import trustme
import yaml

from tests.support.processes import REPO, python_env, stop
from tests.support.services import free_port, wait_for


def _tasks(pid: int) -> list[str]:
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:
            continue  # the thread ended while listed
    return sorted(names)


def test_threads_are_fixed_from_start_up_named_and_dumped_on_sigusr2(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = trustme.CA()
    for i in range(5):
        ca.issue_cert(f"host{i}.example").cert_chain_pems[0].write_to_path(str(certs / f"c{i}.crt"))
    port = free_port()
    config = tmp_path / "wt.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"listen": f"127.0.0.1:{port}"},
        "collectors": {"certs": {"enabled": True, "interval": "1s", "timeout": "900ms", "paths": [str(certs)]}},
    }))
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    env = {**python_env(), "WATCHTOWER_DEBUG_DUMP_DIR": str(dumps), "PYTHONTRACEMALLOC": "1"}
    log = tmp_path / "wt.log"
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--config", str(config)], cwd=REPO,
                                 env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: child.poll() is not None or "serving http" in log.read_text(), 30, what="watchtower serving")
        assert child.poll() is None, log.read_text()
        time.sleep(2.0)  # a few runs
        early = _tasks(child.pid)
        assert {"http", "http-handler_0", "http-handler_3", "scheduler-job_0", "collect-certs"} <= set(early), early
        time.sleep(3.0)
        assert _tasks(child.pid) == early  # no thread per run, no pool growing late
        os.kill(child.pid, signal.SIGUSR2)
        wait_for(lambda: (dumps / "dump-1.json").exists(), 20, what="the debug dump")
        doc = json.loads((dumps / "dump-1.json").read_text())
        unnamed = [n for n in doc["threads"] if n.startswith(("Thread-", "ThreadPoolExecutor-"))]
        assert not unnamed, doc["threads"]
        assert "Rss:" in doc["smaps_rollup"]
        assert doc["tracemalloc"] and doc["traced_bytes"] > 0
        snapshot = tracemalloc.Snapshot.load(str(dumps / "dump-1.tracemalloc"))
        assert snapshot.statistics("filename")
        assert child.poll() is None  # the signal did not stop it
    finally:
        stop(child)
    assert child.returncode == 0, log.read_text()[-2000:]
