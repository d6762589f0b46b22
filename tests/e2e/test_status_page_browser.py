"""The status page in a real browser: headless Chromium loads it from a running watchtower.

The daemon runs with a collector reporting a critical finding beside a healthy and a failing
one; the critical finding must be the first thing a person reads, /api/status must say the
same, and screenshots (phone and desktop) are kept under the test's tmp directory.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests

from tests.support import collectors as tc
from tests.support.browser import dump_dom, screenshot
from tests.support.services import wait_for
from watchtower.collectors.base import CollectorSettings
from watchtower.config import Config, ServerConfig
from watchtower.configtypes import bind
from watchtower.daemon import Daemon

pytestmark = pytest.mark.chromium


@pytest.fixture
def daemon_url():
    registry = {c.name: c for c in (tc.GoodCollector, tc.CriticalCollector, tc.RaisingCollector)}
    collectors = {n: bind(CollectorSettings, {"enabled": True, "interval": "1h", "timeout": "2s"}) for n in registry}
    config = Config(cluster="prod-1", server=ServerConfig(listen="127.0.0.1:0"), collectors=collectors)
    daemon = Daemon(config, registry=registry, context=tc.context())
    thread = threading.Thread(target=daemon.run_until_stopped, daemon=True)
    thread.start()
    wait_for(lambda: daemon.server is not None, 5, what="HTTP server")
    url = "http://127.0.0.1:%d" % daemon.server.server_address[1]
    wait_for(lambda: requests.get(f"{url}/readyz", timeout=2).ok, 10, what="first runs")
    yield url
    daemon.stop()
    thread.join(5)


def test_browser_shows_critical_first_and_matches_api(daemon_url: str, tmp_path: Path) -> None:
    dom = dump_dom(daemon_url + "/")
    api = requests.get(daemon_url + "/api/status", timeout=5).json()
    assert api["status"] == "critical"
    assert "<h1>CRITICAL</h1>" in dom
    critical = [f for f in api["findings"] if f["severity"] == "critical"]
    assert critical and all(f["message"] in dom for f in critical)
    # the first finding a person reads is the critical one
    attention = dom[dom.index('id="attention"'):]
    assert attention.index(critical[0]["subject"]) < attention.index("</table>")
    for collector in api["collectors"]:
        assert collector["name"] in dom
    assert "RuntimeError: disk on fire" in dom  # the failing collector's last error
    phone = screenshot(daemon_url + "/", tmp_path / "status-phone.png", 390, 844)
    desktop = screenshot(daemon_url + "/", tmp_path / "status-desktop.png", 1280, 900)
    assert phone.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and desktop.stat().st_size > 5000
    print(f"screenshots: {phone} {desktop}")
    (tmp_path / "api-status.json").write_text(json.dumps(api, indent=2))
