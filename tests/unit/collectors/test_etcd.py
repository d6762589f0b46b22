"""etcd /health and /metrics parsing (real etcd 3.4.23 captures) and the collector's error paths."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.support.services import free_port
from watchtower.app import config as config_mod
from watchtower.app.daemon import make_context
from watchtower.collectors.etcd import EtcdCollector
from watchtower.collectors.etcd.export import build_findings, build_metrics
from watchtower.collectors.etcd.parse import EtcdMetrics, Health, MalformedAnswer, parse_etcd_metrics, parse_health
from watchtower.collectors.etcd.read import Probe
from watchtower.core.results import Severity
from watchtower.core.settings import ConfigError

DATA = Path(__file__).parent / "data" / "etcd"


def value(families, name: str, **labels: str) -> float | None:
    for family in families:
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


@pytest.mark.parametrize(
    ("body", "healthy", "reason"),
    [
        (b'{"health":"true"}', True, None),
        (b'{"health":"false"}', False, None),
        (b'{"health":"false","reason":"RAFT NO LEADER"}', False, "RAFT NO LEADER"),
        (b'{"health":"true","reason":""}', True, None),
        ('{"health": true}', True, None),
    ],
)
def test_parse_health(body, healthy: bool, reason: str | None) -> None:
    assert parse_health(body) == Health(healthy=healthy, reason=reason)


@pytest.mark.parametrize("body", [b"", b"<html>404</html>", b'{"status":"ok"}', b"[1,2]", b"\xff\xfe"])
def test_malformed_health(body: bytes) -> None:
    with pytest.raises(MalformedAnswer):
        parse_health(body)


def test_metrics_of_a_leader() -> None:
    parsed = parse_etcd_metrics((DATA / "metrics_3.4_leader.txt").read_text())
    assert parsed == EtcdMetrics(has_leader=1, is_leader=1, leader_changes=1, db_size_bytes=20480,
                                 db_size_in_use_bytes=16384, db_quota_bytes=2147483648, version="3.4.23")


def test_metrics_without_leader() -> None:
    parsed = parse_etcd_metrics((DATA / "metrics_3.4_no_leader.txt").read_text())
    assert (parsed.has_leader, parsed.is_leader, parsed.leader_changes) == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# HELP x y\nx{a=\"1\" 1\n", "not Prometheus text"),
        ("node_load1 0.5\n", "no etcd_server_has_leader"),
        ("", "no etcd_server_has_leader"),
    ],
)
def test_malformed_metrics(text: str, message: str) -> None:
    with pytest.raises(MalformedAnswer, match=message):
        parse_etcd_metrics(text)


def test_metrics_and_findings_for_probes() -> None:
    full = EtcdMetrics(has_leader=0, is_leader=0, leader_changes=4, db_size_bytes=90, db_quota_bytes=100)
    from watchtower.core.results import ItemError

    probes = [
        Probe("https://a:2379", health=Health(False), metrics=full, duration_seconds=0.01),
        Probe("https://b:2379", error=ItemError("https://b:2379/health", "tls_bad_certificate", "alert")),
    ]
    fams = build_metrics(probes)
    assert value(fams, "watchtower_etcd_up", endpoint="https://a:2379") == 1
    assert value(fams, "watchtower_etcd_up", endpoint="https://b:2379") == 0
    assert value(fams, "watchtower_etcd_probe_error", endpoint="https://b:2379", reason="tls_bad_certificate") == 1
    assert value(fams, "watchtower_etcd_probe_error", endpoint="https://a:2379", reason="tls_bad_certificate") is None
    assert value(fams, "watchtower_etcd_leader_changes_total", endpoint="https://a:2379") == 4
    assert value(fams, "watchtower_etcd_has_leader", endpoint="https://b:2379") is None
    found = {(f.subject, f.severity, f.message.split(":")[0]) for f in build_findings(probes)}
    assert ("https://a:2379", Severity.CRITICAL, "no leader") in found
    assert ("https://a:2379", Severity.CRITICAL, "/health says unhealthy") in found
    assert ("https://a:2379", Severity.WARNING, "database 90% of its quota (90 of 100 bytes)") in found
    assert any(s == "https://b:2379" and "client certificate" in m for s, _, m in
               {(f.subject, f.severity, f.message) for f in build_findings(probes)})


def collector(**settings: object) -> EtcdCollector:
    config = config_mod.from_mapping({"collectors": {"etcd": {"enabled": True, **settings}}})
    return EtcdCollector(config.collectors["etcd"], make_context(config))


def test_unreachable_endpoint_is_down_with_reason() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = collector(endpoints=[endpoint]).collect()
    assert [(e.location, e.reason) for e in result.errors] == [(f"{endpoint}/health", "connection_refused")]
    assert value(result.metrics, "watchtower_etcd_up", endpoint=endpoint) == 0


def test_slow_endpoint_times_out_in_bounded_time() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        start = time.monotonic()
        result = collector(endpoints=[endpoint], request_timeout="300ms").collect()
        took = time.monotonic() - start
    finally:
        listener.close()
    assert [e.reason for e in result.errors] == ["timeout"] and took < 1.0
    assert value(result.metrics, "watchtower_etcd_probe_error", endpoint=endpoint, reason="timeout") == 1


def test_missing_client_certificate_is_reported_not_raised(tmp_path: Path) -> None:
    result = collector(endpoints=["https://127.0.0.1:1"], ca_file=None, cert_file=str(tmp_path / "nope.crt"),
                       key_file=str(tmp_path / "nope.key")).collect()
    assert [e.reason for e in result.errors] == ["client_cert_unreadable"]
    assert "nope.crt" in result.errors[0].detail


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"endpoints": []}, "endpoints"),
        ({"endpoints": ["127.0.0.1:2379"]}, "endpoints[0]"),
        ({"endpoints": ["https://127.0.0.1:2379/health"]}, "endpoints[0]"),
        ({"endpoints": ["https://u:pw@127.0.0.1:2379"]}, "endpoints[0]"),
        ({"key_file": None}, "key_file"),
        ({"request_timeout": "0s"}, "request_timeout"),
    ],
)
def test_bad_settings_name_the_field(settings: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_mod.from_mapping({"collectors": {"etcd": settings}})
    assert info.value.path == f"collectors.etcd.{field}"
    assert "pw@" not in str(info.value)


def test_auto_skips_without_the_kubeadm_certificate(tmp_path: Path) -> None:
    config = config_mod.from_mapping({"collectors": {"etcd": {"cert_file": str(tmp_path / "c.crt"),
                                                              "key_file": str(tmp_path / "c.key")}}})
    settings = config.collectors["etcd"]
    assert "no etcd client certificate" in EtcdCollector.unavailable_reason(settings, make_context(config))
    plain = config_mod.from_mapping({"collectors": {"etcd": {"endpoints": ["http://127.0.0.1:2381"]}}})
    assert EtcdCollector.unavailable_reason(plain.collectors["etcd"], make_context(plain)) is None


def test_documented_config_examples_are_valid() -> None:
    """The haproxy and etcd YAML examples in docs/metrics.md bind without errors."""
    import re

    import yaml

    text = (Path(__file__).resolve().parents[3] / "docs" / "metrics.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    ours = [b for b in blocks if isinstance(b, dict) and set(b.get("collectors") or {}) & {"haproxy", "etcd"}]
    assert len(ours) >= 2
    for block in ours:
        config_mod.from_mapping(block)
