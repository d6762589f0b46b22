"""Threads that are named where ``ps`` and ``/proc`` look, and pools whose threads all exist from the start.

``concurrent.futures.ThreadPoolExecutor`` starts a thread only when a task finds no idle one, so
a pool reaches its size late, when two runs first overlap: a soak then sees the thread count
rise hours after start-up. ``prestart`` makes every thread at once; the count is then fixed for
the life of the pool.

Python (before 3.14) names threads only for itself; ``/proc/PID/task/*/comm`` says ``python``
for all of them. ``name_os_thread`` copies the Python name there (Linux keeps 15 bytes), so a
soak or an operator can tell whose thread is whose without a debugger.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

_PR_SET_NAME = 15


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def name_os_thread(name: str | None = None) -> None:
    """Set the calling thread's kernel name (``comm``) to ``name`` or its Python name; best effort."""
    libc = _libc()
    if libc is None:
        return
    text = (name or threading.current_thread().name).encode("ascii", "replace")[:15]
    try:
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0)
    except AttributeError:  # not Linux
        return


def prestart(pool: ThreadPoolExecutor, workers: int, timeout: float = 10.0) -> None:
    """Make ``pool`` start ``workers`` threads now: as many tasks that wait for each other."""
    if workers < 1:
        return
    barrier = threading.Barrier(workers)

    def meet() -> None:
        try:
            barrier.wait(timeout)
        except threading.BrokenBarrierError:
            pass  # a pool smaller than asked for: the threads it has are started

    wait([pool.submit(meet) for _ in range(workers)], timeout=timeout + 1)


def named_pool(workers: int, name: str, start: bool = True) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads named ``name_0``... (also for the kernel), all started when ``start``."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=name_os_thread)
    if start:
        prestart(pool, workers)
    return pool


_M_ARENA_MAX = -8  # glibc's mallopt() parameter number
MALLOC_ARENAS = 1  # bench nodes, 5,000 nodes: peak 118 MB uncapped, ~106-110 MB with 2, ~97 MB with 1


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS, environ: dict[str, str] | None = None) -> bool:
    """Let glibc give the threads started from now on at most ``arenas`` malloc arenas; True if set.

    glibc gives threads that allocate at once arenas of their own (up to 8 per core), and each
    keeps the memory freed into it. Python threads take turns under the GIL, so extra arenas buy
    no speed here, but a daemon whose collector, scheduler and HTTP threads each build large
    answers pays for every arena's high-water mark: 5,000 nodes peaked 18 MB higher with the
    long-lived collector workers and prestarted pools than with ``MALLOC_ARENA_MAX=1`` (bench
    nodes). The soak's slow climb is the same effect (issue 17): two 15-minute soaks side by side,
    default arenas 6.8 MB/h over the second half, ``MALLOC_ARENA_MAX=2`` -2.5 MB/h, while
    tracemalloc saw Python's own heap flat. An operator's own ``MALLOC_ARENA_MAX`` wins; not glibc
    (no ``mallopt``): nothing done.
    """
    if "MALLOC_ARENA_MAX" in (os.environ if environ is None else environ):
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def trim_malloc() -> bool:
    """Hand glibc's free heap pages back to the kernel (``malloc_trim(0)``); True if any were.

    glibc returns freed memory only from the top of its heap; pages freed in the middle stay in
    the process. A certificate scan frees the DER of every judged leaf (``CertInfo.shed``) while it
    makes the small check objects, which Python takes from fresh arenas: without a trim the freed
    DER (~40 MB at 50k certificates) and the new objects are both resident at the peak, and after
    a run the last result's memory stays resident until reused. A trim walks the free lists, a
    few milliseconds at 300 MB. Not glibc: nothing done.
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return False
    return bool(trim(0))
