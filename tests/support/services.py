"""Requiring real binaries: skip on a developer machine without them, fail in CI.

CI installs every Debian package the tests need (scripts/test.sh); if one is still missing
there, a silent skip would hide a hole in the test suite, so it is a failure instead.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import time
from collections.abc import Callable

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str) -> str:
    """The path of ``name``; skips the test locally, fails it in CI, if it is not installed."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path:
        return path
    message = f"{name} is not installed (scripts/test.sh installs it)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_module(name: str) -> object:
    """Import ``name`` (a test-extra package); skip the module locally, fail it in CI, if missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"Python package {name} is not installed (pip install -e '.[test]')"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


def require_root() -> None:
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("this test needs root (network namespaces)")
        pytest.skip("needs root")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy; bounded in time. Returns that value."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_exc = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))
