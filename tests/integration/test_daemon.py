"""The daemon with real APScheduler and a real HTTP client: isolation, endpoints, TLS, auth."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
import trustme
from prometheus_client.parser import text_string_to_metric_families

from tests.support import collectors as tc
from tests.support.services import wait_for
from watchtower.app.config import BasicAuthConfig, Config, ServerConfig
from watchtower.app.daemon import Daemon
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import SecretRef, bind


def _config(names: tuple[str, ...], server: ServerConfig | None = None, interval: str = "200ms",
            timeout: str = "300ms") -> Config:
    collectors = {n: bind(CollectorSettings, {"enabled": True, "interval": interval, "timeout": timeout}) for n in names}
    return Config(server=server or ServerConfig(listen="127.0.0.1:0"), collectors=collectors)


@pytest.fixture
def running() -> Iterator:
    daemons: list[tuple[Daemon, threading.Thread]] = []

    def start(registry: dict, config: Config) -> str:
        daemon = Daemon(config, registry=registry, context=tc.context())
        thread = threading.Thread(target=daemon.run_until_stopped, daemon=True)
        thread.start()
        wait_for(lambda: daemon.server is not None, 5, what="HTTP server")
        daemons.append((daemon, thread))
        host, port = daemon.server.server_address[:2]
        scheme = "https" if config.server.tls_cert_file else "http"
        return f"{scheme}://{host}:{port}"

    yield start
    for daemon, thread in daemons:
        daemon.stop()
        thread.join(5)
        assert not thread.is_alive(), "daemon did not stop within 5 s"


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_bad_collectors_never_delay_the_good_one_or_metrics(running) -> None:
    """Raising, hanging and garbage collectors beside a good one: good keeps updating, /metrics answers."""
    tc.HangingCollector.release.clear()
    registry = {c.name: c for c in (tc.GoodCollector, tc.RaisingCollector, tc.HangingCollector, tc.GarbageCollector)}
    try:
        base = running(registry, _config(tuple(registry)))
        good_runs: list[float] = []
        scrape_seconds: list[float] = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # bounded: 3 s of scraping
            start = time.monotonic()
            response = requests.get(f"{base}/metrics", timeout=2)
            scrape_seconds.append(time.monotonic() - start)
            assert response.status_code == 200
            samples = _samples(response.text)
            good_runs.append(samples.get(("watchtower_test_good_runs", ()), 0))
            time.sleep(0.1)
        assert good_runs[-1] >= 8, f"good collector ran only {good_runs[-1]} times in 3 s at a 200ms interval"
        assert max(scrape_seconds) < 0.5, f"a scrape took {max(scrape_seconds):.3f}s"
        samples = _samples(requests.get(f"{base}/metrics", timeout=2).text)
        success = {dict(k[1])["collector"]: v for k, v in samples.items() if k[0] == "watchtower_collector_success"}
        assert success == {"good": 1, "raising": 0, "hanging": 0, "garbage": 0}
        errors = {(dict(k[1])["collector"], dict(k[1])["reason"]): v
                  for k, v in samples.items() if k[0] == "watchtower_collector_errors_total"}
        assert errors[("raising", "exception")] >= 3
        assert errors[("hanging", "timeout")] >= 2
        assert errors[("garbage", "invalid_result")] >= 3
        assert errors[("good", "exception")] == 0
        status = requests.get(f"{base}/api/status", timeout=2).json()
        by_name = {c["name"]: c for c in status["collectors"]}
        assert by_name["raising"]["failure_detail"] == "RuntimeError: disk on fire"
        assert status["status"] == "unknown"  # failing collectors could not look: not OK, not a finding
        assert status["blind"] is None  # one collector does watch
    finally:
        tc.HangingCollector.release.set()


def test_health_readiness_and_content_negotiation(running) -> None:
    tc.HangingCollector.release.clear()
    registry = {c.name: c for c in (tc.GoodCollector, tc.HangingCollector)}
    try:
        # the hanging collector's first run completes (as a timeout) only after 1 s: not ready before
        base = running(registry, _config(tuple(registry), interval="10s", timeout="1s"))
        first = requests.get(f"{base}/readyz", timeout=2)
        assert first.status_code == 503 and "hanging" in first.text
        wait_for(lambda: requests.get(f"{base}/readyz", timeout=2).status_code == 200, 5, what="readyz")
        assert requests.get(f"{base}/healthz", timeout=2).status_code == 200
        plain = requests.get(f"{base}/metrics", timeout=2)
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        om = requests.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=2)
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.text.rstrip().endswith("# EOF")
        assert "watchtower_build_info{version=" in plain.text
        assert requests.get(f"{base}/nope", timeout=2).status_code == 404
        assert requests.get(f"{base}/", timeout=2).headers["Content-Type"].startswith("text/html")
    finally:
        tc.HangingCollector.release.set()


def test_tls_and_basic_auth(running, tmp_path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    password_file = tmp_path / "pw"
    password_file.write_text("s3cret-pw\n")
    server = ServerConfig(
        listen="127.0.0.1:0", tls_cert_file=str(cert_file), tls_key_file=str(key_file),
        basic_auth=BasicAuthConfig(username="prom", password=SecretRef(file=str(password_file))),
    )
    base = running({"good": tc.GoodCollector}, _config(("good",), server=server))
    assert base.startswith("https://")
    assert requests.get(f"{base}/metrics", verify=str(ca_file), timeout=2).status_code == 401
    assert requests.get(f"{base}/metrics", verify=str(ca_file), auth=("prom", "wrong"), timeout=2).status_code == 401
    assert requests.get(f"{base}/api/status", verify=str(ca_file), timeout=2).status_code == 401
    ok = requests.get(f"{base}/metrics", verify=str(ca_file), auth=("prom", "s3cret-pw"), timeout=2)
    assert ok.status_code == 200 and "watchtower_build_info" in ok.text
    # probes stay open for the kubelet
    assert requests.get(f"{base}/healthz", verify=str(ca_file), timeout=2).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/healthz", timeout=2)  # not trusted by the system store


def test_every_collector_failing_is_blind_and_unknown(running) -> None:
    registry = {c.name: c for c in (tc.RaisingCollector,)}
    base = running(registry, _config(tuple(registry)))
    wait_for(lambda: requests.get(f"{base}/api/status", timeout=2).json()["collectors"][0]["ran"], 5, what="a run")
    status = requests.get(f"{base}/api/status", timeout=2).json()
    assert status["status"] == "unknown"
    assert status["blind"]["reason"] == "every enabled collector failed its last run"
    assert status["blind"]["collectors"] == [{"name": "raising", "why": "failed (exception): RuntimeError: disk on fire"}]
    page = requests.get(f"{base}/", timeout=2).text
    assert "<h1>UNKNOWN</h1>" in page and "Why watchtower is blind" in page
    samples = _samples(requests.get(f"{base}/metrics", timeout=2).text)
    assert samples[("watchtower_collector_enabled", (("collector", "raising"),))] == 1
    assert samples[("watchtower_collector_interval_seconds", (("collector", "raising"),))] == 0.2
