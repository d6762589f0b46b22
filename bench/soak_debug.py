"""Opt-in diagnosis for the soak: tracemalloc snapshots and thread names at chosen points.

``BENCH_SOAK_TRACEMALLOC=N`` (frames per traceback) runs the child with ``PYTHONTRACEMALLOC=N``
and ``WATCHTOWER_DEBUG_DUMP_DIR`` (``watchtower.app.memdebug``); the soak sends SIGUSR2 after
warm-up, at half time and at the end, and prints what grew between the last two dumps (top
allocation sites by size), the threads that appeared or went, and the smaps_rollup change.
``BENCH_SOAK_KEEP=DIR`` keeps the dumps there for a closer look. Tracing slows the child, so a
soak with it measures the cause, not the slope.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import sys
import time
import tracemalloc
from pathlib import Path

FRAMES = int(os.environ.get("BENCH_SOAK_TRACEMALLOC", "0") or "0")
KEEP = os.environ.get("BENCH_SOAK_KEEP", "")


def _say(text: str) -> None:
    """Diagnosis goes to stderr: stdout keeps the bench lines only."""
    print(text, file=sys.stderr, flush=True)


def thread_names(pid: int) -> collections.Counter[str]:
    """The kernel names (``comm``) of ``pid``'s threads; watchtower names its own (``core/threads.py``)."""
    names: collections.Counter[str] = collections.Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            names[(task / "comm").read_text().strip()] += 1
    return names


def report_threads(before: collections.Counter[str], after: collections.Counter[str]) -> None:
    _say(f"# soak threads after warm-up: {sorted(before.elements())}")
    if before != after:
        _say(f"# soak threads appeared {sorted((after - before).elements())}, gone {sorted((before - after).elements())}")


def child_env(dump_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    if FRAMES:
        env["PYTHONTRACEMALLOC"] = str(FRAMES)
        env["WATCHTOWER_DEBUG_DUMP_DIR"] = str(dump_dir)
    return env


class Dumps:
    """Asks the child for numbered dumps and reports the difference between the last two."""

    def __init__(self, pid: int, directory: Path) -> None:
        self.pid = pid
        self.directory = directory
        self.taken: list[tuple[str, Path]] = []

    def take(self, label: str) -> None:
        if not FRAMES:
            return
        n = len(self.taken) + 1
        path = self.directory / f"dump-{n}.json"
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.taken.append((label, path))
        _say(f"# soak dump {n} at {label}")

    def report(self, top: int = 25) -> None:
        if len(self.taken) < 2:
            return
        for (label_a, a), (label_b, b) in zip(self.taken, self.taken[1:], strict=False):
            self._diff(label_a, a, label_b, b, top)
        if KEEP:
            shutil.copytree(self.directory, KEEP, dirs_exist_ok=True)

    @staticmethod
    def _diff(label_a: str, a: Path, label_b: str, b: Path, top: int) -> None:
        doc_a, doc_b = json.loads(a.read_text()), json.loads(b.read_text())
        _say(f"# --- {label_a} -> {label_b}")
        threads_a = collections.Counter(doc_a["threads"])
        threads_b = collections.Counter(doc_b["threads"])
        _say(f"# threads {sum(threads_a.values())} -> {sum(threads_b.values())}; "
              f"appeared {sorted((threads_b - threads_a).elements())}; gone {sorted((threads_a - threads_b).elements())}")
        _say(f"# threads at end: {sorted(threads_b.elements())}")
        for name, stack in doc_b.get("stacks", {}).items():
            _say(f"#   {name}: {' | '.join(stack)}")
        rollup_a, rollup_b = _rollup(doc_a["smaps_rollup"]), _rollup(doc_b["smaps_rollup"])
        _say("# smaps_rollup kB change: " + ", ".join(
            f"{k} {rollup_b[k] - rollup_a.get(k, 0):+d}" for k in ("Rss", "Anonymous", "Private_Dirty", "Pss")
            if k in rollup_b))
        snap_a = a.with_suffix(".tracemalloc")
        snap_b = b.with_suffix(".tracemalloc")
        if not (snap_a.exists() and snap_b.exists()):
            return
        old = tracemalloc.Snapshot.load(str(snap_a))
        new = tracemalloc.Snapshot.load(str(snap_b))
        _say(f"# traced {doc_a.get('traced_bytes', 0) / 1e6:.2f} -> {doc_b.get('traced_bytes', 0) / 1e6:.2f} MB")
        for stat in new.compare_to(old, "traceback")[:top]:
            frames = " <- ".join(f"{'/'.join(f.filename.rsplit('/', 2)[-2:])}:{f.lineno}"
                                 for f in list(reversed(stat.traceback))[:7])
            _say(f"#  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+6d} blocks  {frames}")


def _rollup(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            out[parts[0][:-1]] = int(parts[1])
    return out
