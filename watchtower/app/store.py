"""Immutable per-collector snapshots, swapped atomically, and their Prometheus exposition.

Collector jobs write here; /metrics, ``watchtower check`` and the status page only read.
A reader takes one reference to the current ``StoreView`` and sees a consistent picture,
however many collectors finish meanwhile. /metrics never triggers a collection.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType

from prometheus_client.core import Metric
from prometheus_client.registry import Collector as PromCollector

from watchtower import __version__
from watchtower.app import families as fam
from watchtower.core import reasons
from watchtower.core.results import CollectResult

log = logging.getLogger(__name__)

# Whole-run failure reasons; exported as 0 from the start so increase() sees the first one.
RUN_FAILURE_REASONS = ("exception", reasons.TIMEOUT, "invalid_result")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """The outcome of one scheduled run of one collector."""

    started_at: float
    duration_seconds: float
    success: bool
    failure_reason: str | None = None  # exception | timeout | invalid_result
    failure_detail: str = ""
    result: CollectResult | None = None


@dataclasses.dataclass(frozen=True)
class CollectorState:
    """Everything known about one collector; replaced whole, never mutated."""

    name: str
    last_run: RunRecord | None = None
    last_success: RunRecord | None = None
    runs_total: int = 0
    errors_total: Mapping[str, int] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    @property
    def result(self) -> CollectResult | None:
        """The freshest good data: failures keep the last successful result visible."""
        return self.last_success.result if self.last_success else None

    def with_run(self, run: RunRecord) -> CollectorState:
        errors = dict(self.errors_total)
        if run.failure_reason:
            errors[run.failure_reason] = errors.get(run.failure_reason, 0) + 1
        if run.result is not None:
            for item in run.result.errors:
                errors[item.reason] = errors.get(item.reason, 0) + 1
        return dataclasses.replace(
            self,
            last_run=run,
            last_success=run if run.success else self.last_success,
            runs_total=self.runs_total + 1,
            errors_total=MappingProxyType(errors),
        )


@dataclasses.dataclass(frozen=True)
class CollectorPlan:
    """What the configuration asks of one registered collector here: does it run, how often, how long.

    Exported as ``watchtower_collector_enabled`` / ``_interval_seconds`` / ``_timeout_seconds`` so
    that alerts can tell a blind watchtower (nothing enabled) and judge staleness per collector.
    """

    name: str
    enabled: bool
    interval_seconds: float
    timeout_seconds: float


@dataclasses.dataclass(frozen=True)
class StoreView:
    """A consistent picture of all collectors at one moment."""

    generation: int
    states: Mapping[str, CollectorState]


class SnapshotStore:
    """Holds the current ``StoreView``; writers swap in a new one under a lock."""

    def __init__(self, collector_names: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        states = {name: CollectorState(name=name) for name in collector_names}
        self._view = StoreView(generation=0, states=MappingProxyType(states))

    def view(self) -> StoreView:
        return self._view  # a single attribute read: atomic

    def record(self, name: str, run: RunRecord) -> None:
        with self._lock:
            current = self._view
            state = current.states.get(name) or CollectorState(name=name)
            states = dict(current.states)
            states[name] = state.with_run(run)
            self._view = StoreView(generation=current.generation + 1, states=MappingProxyType(states))


class StoreExposition(PromCollector):
    """A prometheus_client collector yielding meta-metrics and each collector's last result."""

    def __init__(self, store: SnapshotStore, build_labels: Mapping[str, str] | None = None,
                 plan: Sequence[CollectorPlan] = ()) -> None:
        self._store = store
        self._build_labels = dict(build_labels or {"version": __version__})
        self._plan = tuple(plan)

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: families vary with the snapshots

    def collect(self) -> Iterator[Metric]:
        view = self._store.view()
        yield from meta_metrics(view, self._build_labels, self._plan)
        seen: set[str] = set()
        for name in sorted(view.states):
            result = view.states[name].result
            if result is None:
                continue
            for family in result.metrics:
                if family.name in seen:
                    log.warning("collector %s repeats metric family %s; dropped", name, family.name)
                    continue
                seen.add(family.name)
                yield family


def meta_metrics(view: StoreView, build_labels: Mapping[str, str],
                 plan: Sequence[CollectorPlan] = ()) -> Iterator[Metric]:
    """watchtower's own health: one series per collector, from the snapshot view and the plan."""
    build = fam.BUILD.info()
    build.add_metric([], dict(build_labels))
    yield build
    if plan:
        enabled = fam.COLLECTOR_ENABLED.gauge()
        interval = fam.COLLECTOR_INTERVAL_SECONDS.gauge()
        timeout = fam.COLLECTOR_TIMEOUT_SECONDS.gauge()
        for item in sorted(plan, key=lambda p: p.name):
            enabled.add_metric([item.name], 1.0 if item.enabled else 0.0)
            interval.add_metric([item.name], item.interval_seconds)
            timeout.add_metric([item.name], item.timeout_seconds)
        yield enabled
        yield interval
        yield timeout
    success = fam.COLLECTOR_SUCCESS.gauge()
    duration = fam.COLLECTOR_DURATION_SECONDS.gauge()
    last_success = fam.COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS.gauge()
    errors = fam.COLLECTOR_ERRORS.counter()
    for name in sorted(view.states):
        state = view.states[name]
        if state.last_run is not None:
            success.add_metric([name], 1.0 if state.last_run.success else 0.0)
            duration.add_metric([name], state.last_run.duration_seconds)
        if state.last_success is not None:
            finished = state.last_success.started_at + state.last_success.duration_seconds
            last_success.add_metric([name], finished)
        counts = {reason: 0 for reason in RUN_FAILURE_REASONS} | dict(state.errors_total)
        for reason in sorted(counts):
            errors.add_metric([name, reason], float(counts[reason]))
    yield success
    yield duration
    yield last_success
    yield errors
