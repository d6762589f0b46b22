"""Network namespaces a test creates, talks into, and removes by name.

Names carry a per-test prefix (area + pid + counter) so tests of several engineers on the same
machine never collide. ``NetnsClient`` makes HTTP requests from inside a namespace without a
subprocess per request: one worker thread joins the namespace with setns(2) (network
namespaces are per thread) and runs every request there.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor

CLONE_NEWNET = 0x40000000
_counter = itertools.count(1)


def unique_prefix(area: str) -> str:
    """``<area><pid>x<n>``: short (interface and namespace names stay under 15 characters)."""
    return f"{area}{os.getpid()}x{next(_counter)}"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def in_netns(name: str, *argv: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """Run a short command inside namespace ``name`` and wait for it."""
    done = subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"in {name}: {' '.join(argv)}: {done.stderr.strip()}")
    return done


class Namespaces:
    """Creates namespaces and deletes exactly those, by name, in ``close()``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, name: str) -> str:
        ip("netns", "add", name)
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def close(self) -> list[str]:
        """Delete every namespace created here; the names that could not be deleted."""
        failed = []
        for name in reversed(self.names):
            if ip("netns", "del", name, check=False).returncode != 0:
                failed.append(name)
        self.names.clear()
        return failed


def _enter_netns(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


class NetnsClient:
    """HTTP GETs made from inside one network namespace (its own loopback, its own routes)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"netns-{name}",
                                        initializer=_enter_netns, initargs=(name,))

    def get(self, url: str, timeout: float = 2.0) -> str:
        def fetch() -> str:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.read().decode("utf-8")

        return self._pool.submit(fetch).result(timeout=timeout + 5)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
