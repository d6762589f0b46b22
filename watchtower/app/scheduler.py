"""Running collectors on a schedule, each isolated from the others.

APScheduler fires one job per enabled collector (no overlap, coalesced, jittered). The job
does not call ``collect()`` itself: it hands it to a long-lived worker thread of that collector's
own (``collect-NAME``, started with the first run, so a soak sees a fixed number of threads and
no thread is created per run) and waits at most ``timeout``. A collector that raises, returns
garbage or hangs is recorded as failed with a reason. A hung worker is left to finish on its own
(Python threads cannot be killed), its late result is dropped and it exits when it returns; the
next scheduled run starts a fresh worker, so one hang never disables a collector for good. The timeout names the item the worker was waiting on
(``watchtower.core.progress``). Only when ``MAX_HUNG_WORKERS`` of its workers hang at once does a
collector stop starting more, until one of them returns.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watchtower.app.store import RunRecord, SnapshotStore
from watchtower.collectors.base import Collector
from watchtower.core import progress, reasons, threads
from watchtower.core.results import CollectResult

log = logging.getLogger(__name__)

MAX_JITTER_SECONDS = 5.0
MAX_HUNG_WORKERS = 3  # per collector: a bound on threads stuck in reads that never return


_Job = tuple[dict[str, object], threading.Event]


class _Worker:
    """One long-lived thread that runs ``fn`` each time it is asked, until told to stop."""

    def __init__(self, name: str, fn: Callable[[], object]) -> None:
        self._fn = fn
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        threads.name_os_thread()
        while (job := self._jobs.get()) is not None:
            outcome, done = job
            try:
                outcome["result"] = self._fn()
            except BaseException as exc:  # noqa: BLE001 - isolate everything the collector does
                outcome["error"] = exc
            finally:
                progress.clear()
                done.set()
            del job, outcome, done  # hold no result between runs

    def run(self, timeout: float) -> dict[str, object] | None:
        """``fn``'s outcome (``result`` or ``error``), or None if it did not return in time."""
        outcome: dict[str, object] = {}
        done = threading.Event()
        self._jobs.put((outcome, done))
        return outcome if done.wait(timeout) else None

    def stop(self) -> None:
        """Exit after the current job (at once when idle)."""
        self._jobs.put(None)


class CollectorRunner:
    """Runs one collector with a timeout and records each outcome in the store."""

    def __init__(
        self,
        collector: Collector,
        store: SnapshotStore,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collector = collector
        self.store = store
        self._clock = clock
        self._monotonic = monotonic
        self._hung: list[threading.Thread] = []
        self._worker: _Worker | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.collector.name

    def close(self) -> None:
        """Let the worker thread exit (after its current run, if one is going)."""
        with self._lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None

    def run_once(self) -> RunRecord:
        """One run: collect with the timeout, validate, record. Never raises."""
        with self._lock:  # belt and braces: APScheduler's max_instances=1 already serialises
            record = self._run()
        self.store.record(self.name, record)
        threads.trim_malloc()  # the replaced result's memory back to the kernel, not kept for the peak
        if record.success:
            log.debug("collector %s ok in %.3fs", self.name, record.duration_seconds)
        else:
            log.warning(
                "collector %s failed (%s): %s", self.name, record.failure_reason, record.failure_detail
            )
        return record

    def _run(self) -> RunRecord:
        started_at = self._clock()
        start = self._monotonic()
        timeout = float(self.collector.settings.timeout)
        self._hung = [w for w in self._hung if w.is_alive()]
        if len(self._hung) >= MAX_HUNG_WORKERS:
            items = sorted({progress.current(w) or "an unnamed step" for w in self._hung})
            return RunRecord(
                started_at=started_at, duration_seconds=0.0, success=False, failure_reason=reasons.TIMEOUT,
                failure_detail=f"{len(self._hung)} earlier runs still hang (in {', '.join(items)}); "
                               "not starting another until one returns",
            )
        if self._worker is None:
            self._worker = _Worker(f"collect-{self.name}", self.collector.collect)
        worker = self._worker
        outcome = worker.run(timeout)
        duration = self._monotonic() - start
        if outcome is None:
            worker.stop()  # it exits once the hung call returns; the next run gets a fresh worker
            self._worker = None
            self._hung.append(worker.thread)
            item = progress.current(worker.thread)
            return RunRecord(
                started_at=started_at, duration_seconds=duration, success=False, failure_reason=reasons.TIMEOUT,
                failure_detail=f"no result within the {timeout:g}s timeout"
                               + (f"; still waiting on {item}" if item else ""),
            )
        if "error" in outcome:
            exc = outcome["error"]
            return RunRecord(
                started_at=started_at, duration_seconds=duration, success=False, failure_reason="exception",
                failure_detail=f"{type(exc).__name__}: {exc}",
            )
        result = outcome.get("result")
        problem = result.problems() if isinstance(result, CollectResult) else (
            f"collect() returned {type(result).__name__}, not a CollectResult"
        )
        if problem:
            return RunRecord(
                started_at=started_at, duration_seconds=duration, success=False,
                failure_reason="invalid_result", failure_detail=problem,
            )
        return RunRecord(started_at=started_at, duration_seconds=duration, success=True, result=result)  # type: ignore[arg-type]


class CollectorScheduler:
    """One APScheduler interval job per runner, plus a heartbeat that /healthz reads."""

    HEARTBEAT_SECONDS = 2.0

    def __init__(self, runners: Iterable[CollectorRunner], monotonic: Callable[[], float] = time.monotonic) -> None:
        self.runners = list(runners)
        self._monotonic = monotonic
        self._heartbeat = monotonic()
        # Each collector job blocks its pool thread for at most its timeout: one thread each,
        # plus one for the heartbeat, so a slow collector never delays another. No job runs
        # twice at once (max_instances=1), so these threads are never all busy plus one more.
        self._executor = ThreadPoolExecutor(max_workers=self.pool_threads,
                                            pool_kwargs={"thread_name_prefix": "scheduler-job",
                                                         "initializer": threads.name_os_thread})
        self._scheduler = BackgroundScheduler(
            executors={"default": self._executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )

    @property
    def pool_threads(self) -> int:
        """One job thread per collector and one for the heartbeat: every job can run at once."""
        return len(self.runners) + 1

    def start(self) -> None:
        self._scheduler.add_job(
            self._beat, IntervalTrigger(seconds=self.HEARTBEAT_SECONDS), id="heartbeat", name="heartbeat"
        )
        for runner in self.runners:
            interval = float(runner.collector.settings.interval)
            jitter = min(interval * 0.1, MAX_JITTER_SECONDS)
            self._scheduler.add_job(
                runner.run_once,
                IntervalTrigger(seconds=interval, jitter=jitter or None),
                id=f"collector:{runner.name}",
                name=runner.name,
                next_run_time=datetime.datetime.now(datetime.UTC),  # first run right away: /readyz waits for it
            )
        # every job thread now, not when two jobs first overlap hours later (a soak counts them)
        threads.prestart(self._executor._pool, self.pool_threads)
        self._scheduler.start()

    def _beat(self) -> None:
        self._heartbeat = self._monotonic()

    def alive(self) -> bool:
        """The scheduler thread runs and has fired its heartbeat recently."""
        return self._scheduler.running and (self._monotonic() - self._heartbeat) < 5 * self.HEARTBEAT_SECONDS

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for runner in self.runners:
            runner.close()
