"""CollectorRunner: each way a collector can misbehave becomes a recorded failure with a reason."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import collectors as tc
from watchtower.app.scheduler import MAX_HUNG_WORKERS, CollectorRunner
from watchtower.app.store import SnapshotStore
from watchtower.core import progress


def _run(cls: type, timeout: float = 0.3):
    store = SnapshotStore([cls.name])
    runner = CollectorRunner(cls(tc.settings(timeout=timeout), tc.context()), store)
    return runner, runner.run_once(), store


def test_good_run_is_recorded() -> None:
    _, record, store = _run(tc.GoodCollector)
    assert record.success and record.failure_reason is None
    assert store.view().states["good"].result.details == tc.RunsDetails(1)


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


def test_hanging_collector_times_out_naming_the_item_and_the_next_run_starts_afresh() -> None:
    tc.HangingCollector.release.clear()
    try:
        start = time.monotonic()
        runner, record, _ = _run(tc.HangingCollector, timeout=0.2)
        assert time.monotonic() - start < 1.0
        assert record.failure_reason == "timeout"
        assert "still waiting on /test/hanging-item" in record.failure_detail
        for _ in range(MAX_HUNG_WORKERS - 1):  # a fresh worker each time: each one times out on its own
            again = runner.run_once()
            assert again.failure_reason == "timeout" and "/test/hanging-item" in again.failure_detail
            assert again.duration_seconds >= 0.2
        capped = runner.run_once()  # MAX_HUNG_WORKERS threads stuck: no more until one returns
        assert capped.duration_seconds == 0.0
        assert f"{MAX_HUNG_WORKERS} earlier runs still hang (in /test/hanging-item)" in capped.failure_detail
    finally:
        tc.HangingCollector.release.set()
    time.sleep(0.1)
    recovered = runner.run_once()  # the hang ended: the collector runs again, no restart needed
    assert recovered.success, recovered


def test_collector_that_hung_once_succeeds_on_the_next_run() -> None:
    gate = threading.Event()

    class OnceHanging(tc.GoodCollector):
        name = "oncehanging"
        calls = 0

        def collect(self):
            OnceHanging.calls += 1
            if OnceHanging.calls == 1:
                progress.note("/fifo/that/hangs.crt")
                gate.wait(10)
            return super().collect()

    try:
        runner, first, _store = _run(OnceHanging, timeout=0.2)
        assert first.failure_reason == "timeout" and "/fifo/that/hangs.crt" in first.failure_detail
        second = runner.run_once()
        assert second.success, second
    finally:
        gate.set()
