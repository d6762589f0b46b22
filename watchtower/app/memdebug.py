"""Opt-in memory and thread dumps of a running daemon, for finding slow growth in a soak.

Off unless ``WATCHTOWER_DEBUG_DUMP_DIR`` names a directory. Then SIGUSR2 writes
``dump-<n>.json`` there: the Python thread names, ``/proc/self/smaps_rollup`` and, when
``tracemalloc`` traces (start with ``PYTHONTRACEMALLOC=N``), ``dump-<n>.tracemalloc`` - a
snapshot that ``tracemalloc.Snapshot.load`` reads, to diff two points of a run.
The dump runs in the signal handler on the main thread, which only waits for the stop event.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from watchtower.core.lazy import lazy_module

if TYPE_CHECKING:
    import tracemalloc
else:  # loaded by the first dump: a daemon that is never asked for one does not import it
    tracemalloc = lazy_module("tracemalloc")

ENV_DIR = "WATCHTOWER_DEBUG_DUMP_DIR"
_counter = itertools.count(1)


def _stack(frame: FrameType, depth: int = 4) -> list[str]:
    """The innermost frames, innermost last; no source lines (``linecache`` would grow the heap we measure)."""
    summary = traceback.StackSummary.extract(traceback.walk_stack(frame), limit=depth, lookup_lines=False)
    return [f"{f.filename}:{f.lineno} {f.name}" for f in reversed(summary)]


def dump(directory: Path) -> Path:
    """Write one numbered dump into ``directory``; returns the JSON file's path."""
    n = next(_counter)
    frames = sys._current_frames()
    doc: dict[str, object] = {
        "threads": sorted(t.name for t in threading.enumerate()),
        # where each thread was started from and waits now: names alone do not say whose it is
        "stacks": {f"{t.name} ({t.ident})": _stack(frames[t.ident])
                   for t in threading.enumerate() if t.ident in frames},
        "tracemalloc": tracemalloc.is_tracing(),
    }
    try:
        doc["smaps_rollup"] = Path("/proc/self/smaps_rollup").read_text()
    except OSError as exc:
        doc["smaps_rollup"] = f"unreadable: {exc}"
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(directory / f"dump-{n}.tracemalloc"))
        doc["traced_bytes"] = tracemalloc.get_traced_memory()[0]
    path = directory / f"dump-{n}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)  # a reader waiting for the JSON sees the snapshot complete
    return path


def install() -> None:
    """Install the SIGUSR2 handler when ``WATCHTOWER_DEBUG_DUMP_DIR`` is set (main thread only)."""
    target = os.environ.get(ENV_DIR)
    if not target or threading.current_thread() is not threading.main_thread():
        return
    directory = Path(target)

    def handler(signum: int, frame: FrameType | None) -> None:
        dump(directory)

    signal.signal(signal.SIGUSR2, handler)
