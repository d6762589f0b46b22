"""The daemon caps glibc's malloc arenas (``watchtower.core.threads.cap_malloc_arenas``); ``MALLOC_ARENA_MAX`` wins.

Each case runs in a fresh interpreter (the cap works only before threads allocate): 8 threads
allocate through libc's malloc while all alive, then glibc's own ``malloc_info`` report is
counted for its heaps (arenas).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO, python_env

SCRIPT = r"""
import ctypes, ctypes.util, sys, threading
from watchtower.core import threads as wt_threads
applied = wt_threads.cap_malloc_arenas() if sys.argv[1] == "cap" else None
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
barrier = threading.Barrier(9)
def work():
    blocks = [libc.malloc(2048) for _ in range(64)]
    barrier.wait(10)   # every thread holds its arena at once
    barrier.wait(10)   # until the report is written
    for b in blocks:
        libc.free(b)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
barrier.wait(10)
fp = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
barrier.wait(10)
for t in threads:
    t.join(10)
print(applied)
"""


def _heaps(tmp_path: Path, mode: str, env: dict[str, str]) -> tuple[int, str]:
    report = tmp_path / f"{mode}.xml"
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(report)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return len(re.findall(r"<heap nr=", report.read_text())), done.stdout.strip()


def test_the_daemons_arena_cap_holds_and_the_environment_wins(tmp_path: Path) -> None:
    from watchtower.core.threads import MALLOC_ARENAS

    env = {k: v for k, v in python_env().items() if k != "MALLOC_ARENA_MAX"}
    default, _ = _heaps(tmp_path, "plain", env)
    if default <= MALLOC_ARENAS:
        pytest.skip(f"this libc made {default} arenas for 9 threads anyway: nothing to cap")
    capped, applied = _heaps(tmp_path, "cap", env)
    assert applied == "True" and capped == MALLOC_ARENAS, (default, capped)
    chosen, applied = _heaps(tmp_path, "cap", {**env, "MALLOC_ARENA_MAX": "4"})
    assert applied == "False" and chosen == 4, chosen
