"""The haproxy and etcd metric families are a public API: golden files pin them, promtool lints them.

Both are built from real captures (HAProxy 2.6 ``show stat``, etcd 3.4 ``/metrics``) with a fixed
clock, so the files change only when the exported names, labels, help or values change.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.support.services import require_binary
from watchtower.collectors.etcd.export import build_metrics as etcd_metrics
from watchtower.collectors.etcd.parse import Health, parse_etcd_metrics
from watchtower.collectors.etcd.read import Probe
from watchtower.collectors.haproxy.export import build_metrics as haproxy_metrics
from watchtower.collectors.haproxy.parse import parse_stats_csv
from watchtower.core.results import ItemError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "unit" / "collectors" / "data"


class _Families:
    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):
        return iter(self.families)


def _expose(families: list) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def haproxy_exposition() -> bytes:
    table = parse_stats_csv((DATA / "haproxy" / "show_stat_states.csv").read_bytes())
    return _expose(haproxy_metrics(table, now=1_700_000_000.0))


def etcd_exposition() -> bytes:
    metrics = parse_etcd_metrics((DATA / "etcd" / "metrics_3.4_leader.txt").read_text())
    probes = [
        Probe("https://127.0.0.1:2379", health=Health(True), metrics=metrics, duration_seconds=0.004),
        Probe("https://10.0.0.2:2379",
                   error=ItemError("https://10.0.0.2:2379/health", "tls_bad_certificate", "alert bad certificate")),
    ]
    return _expose(etcd_metrics(probes))


CASES = {"haproxy": haproxy_exposition, "etcd": etcd_exposition}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden_file(name: str) -> None:
    golden = ROOT / "golden" / f"{name}_metrics.txt"
    actual = CASES[name]().decode()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(actual)
    assert actual == golden.read_text(), f"{name} metrics changed: a public API change (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.promtool
@pytest.mark.parametrize("name", sorted(CASES))
def test_promtool_check_metrics(name: str) -> None:
    done = subprocess.run([require_binary("promtool"), "check", "metrics"], input=CASES[name](),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
