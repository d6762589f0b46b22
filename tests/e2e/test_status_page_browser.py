"""The status page in a real browser: headless Chromium loads it from a running watchtower.

A real ``watchtower run`` process watches a directory holding an expired, a soon-expiring and
a healthy certificate with its real certificate collector. The expired one must be the first
thing a person reads, /api/status must say the same, and screenshots (phone and desktop) are
kept under the test's tmp directory as artifacts.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.browser import dump_dom, screenshot
from tests.support.kubeadm_pki import issue, utcnow
from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.chromium

DAY = datetime.timedelta(days=1)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 10 s: bounded."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def daemon_url(tmp_path: Path):
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = issue("demo-ca", days=3650, is_ca=True)
    now = utcnow()
    for name, not_before, not_after in (
        ("healthy", now - DAY, now + 300 * DAY),
        ("expired", now - 366 * DAY, now - 2 * DAY),
        ("soon", now - 355 * DAY, now + 10 * DAY),
    ):
        cert = issue(f"{name}.example", ca, not_before=not_before, not_after=not_after, server=True)
        (certs / f"{name}.crt").write_bytes(cert.cert_pem)
    (certs / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    port = free_port()
    config = tmp_path / "watchtower.yaml"
    config.write_text(
        "cluster: prod-1\n"
        f"server: {{listen: '127.0.0.1:{port}'}}\n"
        f"collectors:\n  certs: {{enabled: true, kubeadm: false, paths: ['{certs}'], apiserver_endpoints: []}}\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--config", str(config)],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/readyz", timeout=1).ok, 20, what="first certs run")
        yield url
    finally:
        _stop(proc)


def test_browser_shows_expired_certificate_first_and_matches_api(daemon_url: str, tmp_path: Path) -> None:
    dom = dump_dom(daemon_url + "/")
    api = requests.get(daemon_url + "/api/status", timeout=5).json()
    assert api["status"] == "critical"
    assert "<h1>CRITICAL</h1>" in dom
    # what a person reads first under "Needs attention" is the expired certificate
    attention = dom[dom.index('id="attention"'):]
    body = attention[attention.index("<tbody>"):]
    first_row = body[:body.index("</tr>")]
    assert "expired.example" in first_row or "expired.crt" in first_row, first_row
    # the certificate table is sorted by residual time: expired, then soon, then healthy
    certs = dom[dom.index('id="certs"'):]
    assert certs.index("expired.crt") < certs.index("soon.crt") < certs.index("healthy.crt")
    # same facts as /api/status
    for finding in api["findings"]:
        if finding["severity"] != "ok":
            assert finding["subject"] in dom
    broken = [e for c in api["collectors"] for e in c["errors"]]
    assert any(e["location"].endswith("broken.crt") for e in broken)
    assert "broken.crt" in dom
    phone = screenshot(daemon_url + "/", tmp_path / "status-phone.png", 390, 844)
    desktop = screenshot(daemon_url + "/", tmp_path / "status-desktop.png", 1280, 900)
    assert phone.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and desktop.stat().st_size > 5000
    (tmp_path / "api-status.json").write_text(json.dumps(api, indent=2))
    print(f"status page artifacts: {phone} {desktop}")


@pytest.fixture
def blind_daemon(tmp_path: Path):
    """A real ``watchtower run`` with no config at all, as on a laptop: nothing to watch."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"WATCHTOWER_CONFIG", "KUBECONFIG"}}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    proc = subprocess.Popen([sys.executable, "-m", "watchtower", "run", "--listen", f"127.0.0.1:{port}"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=1).ok, 20, what="watchtower up")
        yield url, proc
    finally:
        _stop(proc)


def test_browser_shows_a_blind_watchtower_as_unknown(blind_daemon, tmp_path: Path) -> None:
    url, _proc = blind_daemon
    api = requests.get(url + "/api/status", timeout=5).json()
    assert api["status"] == "unknown" and api["collectors"] == []
    blind = api["blind"]
    assert blind["first_command"] == "watchtower check certs --kubeadm"
    names = {c["name"] for c in blind["collectors"]}
    assert {"certs", "nodes", "vip"} <= names and all(c["why"] for c in blind["collectors"])
    dom = dump_dom(url + "/")
    assert "<h1>UNKNOWN</h1>" in dom and "OK" not in dom[dom.index("<header"):dom.index("</header>")]
    assert 'class="unknown"' in dom  # the header's own colour, not ok's green
    section = dom[dom.index('id="blind"'):]
    section = section[:section.index("</section>")]
    for c in blind["collectors"]:  # each collector with why it is not running
        assert c["name"] in section
    assert "watchtower check certs --kubeadm" in section
    assert "every finding is ok" not in dom
    metrics = requests.get(url + "/metrics", timeout=5).text
    assert 'watchtower_collector_enabled{collector="certs"} 0.0' in metrics
    assert 'watchtower_collector_interval_seconds{collector="certs"} 300.0' in metrics
    shot = screenshot(url + "/", tmp_path / "status-blind.png", 390, 844)
    assert shot.stat().st_size > 5000
    # `watchtower check` says the same, with exit 3 and the first command to try
    env = {k: v for k, v in os.environ.items() if k not in {"WATCHTOWER_CONFIG", "KUBECONFIG"}}
    env["HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "watchtower", "check"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "overall: UNKNOWN (exit 3)" in done.stdout and "try first: watchtower check certs --kubeadm" in done.stdout
