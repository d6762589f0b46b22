"""Collectors that behave well or badly on purpose, for scheduler, HTTP and CLI tests."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping

from prometheus_client.core import GaugeMetricFamily

from watchtower.app.config import Config
from watchtower.collectors.base import Collector, CollectorContext
from watchtower.core import progress
from watchtower.core.details import Details
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import Seconds
from watchtower.io.kube import KubeClientFactory


def context() -> CollectorContext:
    config = Config()
    return CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=lambda: 1_700_000_000.0)


def settings(interval: float = 0.2, timeout: float = 0.5) -> CollectorSettings:
    return CollectorSettings(enabled=True, interval=Seconds(interval), timeout=Seconds(timeout))


@dataclasses.dataclass(frozen=True, slots=True)
class RunsDetails(Details):
    runs: int


class GoodCollector(Collector):
    """Counts its runs and exports the count, so a test can see it keep updating."""

    name = "good"
    description = "always succeeds"

    def __init__(self, settings: CollectorSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.runs = 0

    def collect(self) -> CollectResult:
        self.runs += 1
        family = GaugeMetricFamily("watchtower_test_good_runs", "Runs of the good test collector.")
        family.add_metric([], float(self.runs))
        return CollectResult(
            metrics=(family,),
            errors=(ItemError("/bad/file", "parse_error", "not a certificate"),),
            findings=(Finding("Test", "good", Severity.OK, "fine"),),
            details=RunsDetails(self.runs),
        )


class WarningCollector(Collector):
    name = "warning"
    description = "succeeds with a warning finding"

    def collect(self) -> CollectResult:
        return CollectResult(findings=(Finding("Test", "thing", Severity.WARNING, "expires in 20d"),))


class CriticalCollector(Collector):
    name = "critical"
    description = "succeeds with a critical finding"

    def collect(self) -> CollectResult:
        return CollectResult(findings=(Finding("Test", "thing", Severity.CRITICAL, "expired"),))


class RaisingCollector(Collector):
    name = "raising"
    description = "always raises"

    def collect(self) -> CollectResult:
        raise RuntimeError("disk on fire")


class HangingCollector(Collector):
    """Blocks until released (bounded: at most 30 s, so no thread outlives the test run)."""

    name = "hanging"
    description = "never answers in time"
    release = threading.Event()

    def collect(self) -> CollectResult:
        progress.note("/test/hanging-item")
        self.release.wait(30)
        return CollectResult()


class GarbageCollector(Collector):
    name = "garbage"
    description = "returns something that is not a CollectResult"

    def collect(self) -> CollectResult:
        return {"not": "a result"}  # type: ignore[return-value]


class BadMetricsCollector(Collector):
    name = "badmetrics"
    description = "returns a CollectResult whose metrics are not metric families"

    def collect(self) -> CollectResult:
        return CollectResult(metrics=("watchtower_x 1",))  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Registry:
    collectors: tuple[type[Collector], ...]

    def mapping(self) -> Mapping[str, type[Collector]]:
        return {c.name: c for c in self.collectors}
