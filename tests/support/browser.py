"""Headless Chromium from Debian's package: the rendered DOM and a screenshot of a loopback page."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.support.services import require_binary

# Without the background-networking flags Chromium tries to reach Google's hosts, which this
# machine's closed network refuses; a fresh profile keeps runs independent.
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)


def _chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    binary = require_binary("chromium")
    with tempfile.TemporaryDirectory(prefix="wt-chromium-") as profile:
        return subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def dump_dom(url: str) -> str:
    """The DOM after Chromium loaded and laid out the page."""
    done = _chromium("--dump-dom", url)
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(f"chromium --dump-dom failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def screenshot(url: str, path: Path, width: int, height: int) -> Path:
    """A PNG of the page at the given window size."""
    done = _chromium(f"--screenshot={path}", f"--window-size={width},{height}", url)
    if not path.is_file() or path.stat().st_size == 0:
        raise AssertionError(f"chromium --screenshot failed ({done.returncode}): {done.stderr[-2000:]}")
    return path
