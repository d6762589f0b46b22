"""The /metrics output is a public API: a golden file pins it, and real promtool lints it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from tests.support.services import require_binary
from watchtower.app.store import RunRecord, SnapshotStore, StoreExposition
from watchtower.core.results import CollectResult, ItemError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "metrics.txt"


def _fixed_exposition() -> bytes:
    store = SnapshotStore(["alpha", "beta", "never"])
    family = GaugeMetricFamily("watchtower_test_value", "A test value.", labels=["item"])
    family.add_metric(["a"], 1.5)
    family.add_metric(["b"], 2.0)
    store.record("alpha", RunRecord(started_at=1_700_000_000.0, duration_seconds=0.25, success=True,
                                    result=CollectResult(metrics=(family,), errors=(ItemError("/x", "parse_error"),))))
    store.record("beta", RunRecord(started_at=1_700_000_100.0, duration_seconds=30.0, success=False,
                                   failure_reason="timeout", failure_detail="no result within 30s"))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreExposition(store, build_labels={"version": "0.0.0-golden"}))
    return generate_latest(registry)


def test_metrics_output_matches_golden_file() -> None:
    actual = _fixed_exposition().decode()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(actual)
    assert actual == GOLDEN.read_text(), "metrics output changed: a public API change (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.promtool
def test_promtool_check_metrics_accepts_output() -> None:
    done = subprocess.run([require_binary("promtool"), "check", "metrics"], input=_fixed_exposition(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()


@pytest.mark.promtool
def test_promtool_check_metrics_catches_a_bad_name() -> None:
    """Guard: the lint really lints (a counter without _total is flagged)."""
    bad = b"# HELP watchtower_bad A counter.\n# TYPE watchtower_bad counter\nwatchtower_bad 1\n"
    done = subprocess.run([require_binary("promtool"), "check", "metrics"], input=bad, capture_output=True, timeout=60)
    assert done.returncode != 0
