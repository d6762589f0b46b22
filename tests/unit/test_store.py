"""Snapshot store: immutable views, failure keeps the last good result, error counting."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from watchtower.app.store import RunRecord, SnapshotStore, StoreExposition
from watchtower.core.results import CollectResult, ItemError


def _result(value: float) -> CollectResult:
    family = GaugeMetricFamily("watchtower_test_value", "Test.")
    family.add_metric([], value)
    return CollectResult(metrics=(family,), errors=(ItemError("/x", "parse_error"),))


def test_views_are_immutable_snapshots() -> None:
    store = SnapshotStore(["a"])
    before = store.view()
    store.record("a", RunRecord(started_at=1.0, duration_seconds=0.5, success=True, result=_result(1)))
    after = store.view()
    assert before.generation == 0 and before.states["a"].last_run is None
    assert after.generation == 1 and after.states["a"].last_run is not None


def test_failure_keeps_last_good_result_and_counts_reasons() -> None:
    store = SnapshotStore(["a"])
    store.record("a", RunRecord(started_at=1.0, duration_seconds=0.5, success=True, result=_result(1)))
    store.record("a", RunRecord(started_at=2.0, duration_seconds=0.1, success=False, failure_reason="timeout"))
    state = store.view().states["a"]
    assert state.last_run.success is False
    assert state.result is not None and state.result.metrics[0].samples[0].value == 1
    assert dict(state.errors_total) == {"parse_error": 1, "timeout": 1}
    assert state.runs_total == 2


def test_exposition_emits_meta_metrics_and_drops_duplicate_families() -> None:
    store = SnapshotStore(["a", "b"])
    store.record("a", RunRecord(started_at=10.0, duration_seconds=2.0, success=True, result=_result(1)))
    store.record("b", RunRecord(started_at=10.0, duration_seconds=1.0, success=True, result=_result(2)))
    families = {f.name: f for f in StoreExposition(store).collect()}
    assert families["watchtower_test_value"].samples[0].value == 1  # "a" first; "b"'s duplicate dropped
    last = {s.labels["collector"]: s.value for s in families["watchtower_collector_last_success_timestamp_seconds"].samples}
    assert last == {"a": 12.0, "b": 11.0}
    errors = {(s.labels["collector"], s.labels["reason"]): s.value
              for s in families["watchtower_collector_errors"].samples if s.name.endswith("_total")}
    assert errors[("a", "timeout")] == 0 and errors[("a", "parse_error")] == 1
