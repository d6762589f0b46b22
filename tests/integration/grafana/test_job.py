"""The provisioner as a daemon job: Grafana down at start, backoff, metrics, recovery."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from prometheus_client.core import Metric

from tests.grafana_api import GrafanaAPIServer
from tests.integration.grafana.conftest import SLACK_SECRET
from watchtower.app import config as config_mod
from watchtower.app.scheduler import CollectorRunner
from watchtower.app.store import SnapshotStore, StoreExposition
from watchtower.collectors.base import CollectorContext
from watchtower.core.results import Severity
from watchtower.core.settings import Seconds
from watchtower.io.kube import KubeClientFactory
from watchtower.provisioning import provision
from watchtower.provisioning.api import GrafanaUnreachable
from watchtower.provisioning.job import GrafanaProvisioner
from watchtower.provisioning.settings import GrafanaSettings


class FakeTime:
    """A monotonic clock that only moves when the job sleeps; hooks run at given sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: dict[int, object] = {}

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        hook = self.on_sleep.get(len(self.sleeps))
        if callable(hook):
            hook()


def make_job(settings: GrafanaSettings, fake: FakeTime) -> GrafanaProvisioner:
    context = CollectorContext(config=config_mod.from_mapping({}), kube=KubeClientFactory(config_mod.KubernetesConfig()),
                               clock=lambda: 1_700_000_000.0, node_name="test")
    job = GrafanaProvisioner(settings, context)
    job.sleep = fake.sleep
    job.monotonic = fake.monotonic
    return job


def values(metrics: tuple[Metric, ...]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in metrics for s in m.samples}


def test_backoff_is_exponential_capped_and_within_the_budget() -> None:
    fake = FakeTime()
    calls = []

    def attempt() -> None:
        calls.append(fake.now)
        raise GrafanaUnreachable("down")

    with pytest.raises(GrafanaUnreachable):
        provision.retry_with_backoff(attempt, budget_seconds=60, max_delay=8, sleep=fake.sleep, monotonic=fake.monotonic)
    assert fake.sleeps == [1, 2, 4, 8, 8, 8, 8, 8, 8]
    assert sum(fake.sleeps) <= 60
    assert len(calls) == len(fake.sleeps) + 1


def test_grafana_down_at_start_then_up_during_the_retries(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    grafana.down()
    fake = FakeTime()
    fake.on_sleep[3] = grafana.up  # comes up after the 3rd back-off sleep
    job = make_job(settings, fake)
    result = job.collect()
    assert fake.sleeps == [1, 2, 4]
    got = values(result.metrics)
    assert got[("watchtower_grafana_up", ())] == 1
    assert got[("watchtower_grafana_provision_success", ())] == 1
    assert got[("watchtower_grafana_provision_attempts", ())] == 4
    assert got[("watchtower_grafana_provision_objects", (("kind", "alert-rule"), ("state", "created")))] == 3
    assert got[("watchtower_grafana_last_provision_timestamp_seconds", ())] == 1_700_000_000.0
    assert len(grafana.state.rules) == 3


def test_grafana_down_for_the_whole_run_is_reported_then_recovers(
    grafana: GrafanaAPIServer, settings: GrafanaSettings, caplog: pytest.LogCaptureFixture,
) -> None:
    grafana.down()
    fake = FakeTime()
    job = make_job(dataclasses.replace(settings, timeout=Seconds(30)), fake)
    caplog.set_level(logging.DEBUG)
    result = job.collect()  # must not raise
    assert sum(fake.sleeps) <= 30 * 0.8
    got = values(result.metrics)
    assert got[("watchtower_grafana_up", ())] == 0
    assert got[("watchtower_grafana_provision_success", ())] == 0
    assert ("watchtower_grafana_last_provision_timestamp_seconds", ()) not in got
    assert [e.reason for e in result.errors] == ["unreachable"]
    assert "Connection refused" in result.errors[0].detail
    assert result.findings[0].severity is Severity.CRITICAL
    grafana.up()
    result = job.collect()
    got = values(result.metrics)
    assert got[("watchtower_grafana_up", ())] == 1 and got[("watchtower_grafana_provision_success", ())] == 1
    assert result.findings[0].severity is Severity.OK
    assert SLACK_SECRET not in caplog.text


def test_the_job_runs_in_the_scheduler_and_its_metrics_reach_the_exposition(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    """Through the real runner and store: the job's outcome is on /metrics, a second run writes nothing."""
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    job = make_job(settings, FakeTime())
    store = SnapshotStore(["grafana"])
    runner = CollectorRunner(job, store)
    assert runner.run_once().success
    grafana.clear_log()
    assert runner.run_once().success
    assert grafana.writes() == [], "the daemon's second run must write nothing (secret fingerprints kept)"
    registry = CollectorRegistry()
    registry.register(StoreExposition(store))
    text = generate_latest(registry).decode()
    assert 'watchtower_grafana_provision_objects{kind="alert-rule",state="unchanged"} 3.0' in text
    assert "watchtower_grafana_provision_success 1.0" in text
    assert SLACK_SECRET not in text


def test_unavailable_without_url() -> None:
    reason = GrafanaProvisioner.unavailable_reason(GrafanaSettings(), None)  # type: ignore[arg-type]
    assert reason is not None and "url" in reason
