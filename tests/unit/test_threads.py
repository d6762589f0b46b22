"""Named, prestarted thread pools: the thread count is fixed from the start and ``/proc`` says whose each is."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from watchtower.core import threads


def _comm(thread: threading.Thread) -> str:
    return Path(f"/proc/self/task/{thread.native_id}/comm").read_text().strip()


def test_named_pool_starts_every_thread_at_once_and_names_them_for_the_kernel() -> None:
    pool = threads.named_pool(3, "test-pool")
    try:
        mine = [t for t in threading.enumerate() if t.name.startswith("test-pool_")]
        assert sorted(t.name for t in mine) == ["test-pool_0", "test-pool_1", "test-pool_2"]
        assert sorted(_comm(t) for t in mine) == ["test-pool_0", "test-pool_1", "test-pool_2"]
        for _ in range(20):  # work later adds no thread
            pool.submit(lambda: None).result(5)
        assert len([t for t in threading.enumerate() if t.name.startswith("test-pool_")]) == 3
    finally:
        pool.shutdown(wait=True)


def test_lazy_pool_grows_without_prestart() -> None:
    pool = threads.named_pool(3, "lazy-pool", start=False)
    try:
        assert not [t for t in threading.enumerate() if t.name.startswith("lazy-pool_")]
        pool.submit(lambda: None).result(5)
        started = [t for t in threading.enumerate() if t.name.startswith("lazy-pool_")]
        assert len(started) == 1 and _comm(started[0]) == "lazy-pool_0"
    finally:
        pool.shutdown(wait=True)


def test_long_names_are_cut_to_the_kernels_15_bytes() -> None:
    seen: list[str] = []

    def body() -> None:
        threads.name_os_thread()
        seen.append(_comm(threading.current_thread()))

    worker = threading.Thread(target=body, name="collect-removed_apis")
    worker.start()
    worker.join(5)
    assert seen == ["collect-removed"]


def test_malloc_arenas_are_capped_unless_the_operator_chose() -> None:
    """In a fresh interpreter (the cap is process-wide): set on glibc, left alone when the variable is set."""
    code = ("from watchtower.core import threads\n"
            "print(threads.cap_malloc_arenas(), threads.cap_malloc_arenas(environ={'MALLOC_ARENA_MAX': '4'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_malloc_trim_gives_freed_heap_pages_back() -> None:
    """In a fresh interpreter: a heap full of small freed blocks pinned by a live one at its top."""
    code = ("import ctypes, os\n"
            "from watchtower.core import threads\n"
            "def rss():\n"
            "    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
            "blocks = [bytes(900) + bytes([i % 256]) for i in range(60000)]\n"
            "pin = bytes(1000)\n"
            "del blocks\n"
            "before = rss()\n"
            "trimmed = threads.trim_malloc()\n"
            "print(trimmed, (before - rss()) // 1000000)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    trimmed, freed_mb = done.stdout.split()
    assert trimmed == "True" and int(freed_mb) >= 30, done.stdout + done.stderr
