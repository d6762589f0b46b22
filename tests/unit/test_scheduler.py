"""CollectorRunner: each way a collector can misbehave becomes a recorded failure with a reason."""

from __future__ import annotations

import time

import pytest

from tests.support import collectors as tc
from watchtower.app.scheduler import CollectorRunner
from watchtower.app.store import SnapshotStore


def _run(cls: type, timeout: float = 0.3):
    store = SnapshotStore([cls.name])
    runner = CollectorRunner(cls(tc.settings(timeout=timeout), tc.context()), store)
    return runner, runner.run_once(), store


def test_good_run_is_recorded() -> None:
    _, record, store = _run(tc.GoodCollector)
    assert record.success and record.failure_reason is None
    assert store.view().states["good"].result.details == {"runs": 1}


@pytest.mark.parametrize(("cls", "reason", "detail"), [
    (tc.RaisingCollector, "exception", "RuntimeError: disk on fire"),
    (tc.GarbageCollector, "invalid_result", "returned dict"),
    (tc.BadMetricsCollector, "invalid_result", "Metric families"),
])
def test_failures_carry_reason_and_detail(cls: type, reason: str, detail: str) -> None:
    _, record, _ = _run(cls)
    assert not record.success
    assert record.failure_reason == reason
    assert detail in record.failure_detail


def test_hanging_collector_times_out_and_is_not_started_twice() -> None:
    tc.HangingCollector.release.clear()
    try:
        start = time.monotonic()
        runner, record, _ = _run(tc.HangingCollector, timeout=0.2)
        assert time.monotonic() - start < 1.0
        assert record.failure_reason == "timeout"
        second = runner.run_once()
        assert second.failure_reason == "timeout"
        assert "still hanging" in second.failure_detail
    finally:
        tc.HangingCollector.release.set()
