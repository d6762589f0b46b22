"""The Grafana provisioner as a scheduled job: each run reconciles Grafana and reports how it went.

It is a collector so the scheduler runs it at start and every ``interval`` (default 5m) with
a timeout, isolated from the others, and its outcome is on /metrics. A run never raises for
Grafana trouble: an unreachable Grafana is retried with exponential backoff inside the run's
timeout, then reported as ``watchtower_grafana_up 0`` / ``provision_success 0`` (with the
reason in ``watchtower_collector_errors_total``) and tried again at the next interval.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core.details import Details, json_field
from watchtower.core.results import CollectResult, Finding, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.provisioning import families as fam
from watchtower.provisioning.settings import GrafanaSettings

if TYPE_CHECKING:
    from watchtower.provisioning.drift import Drift
    from watchtower.provisioning.driftstore import DriftMemory
    from watchtower.provisioning.provision import RunReport

STATES = ("created", "updated", "deleted", "unchanged", "failed")
_DRIFT_ACTIONS = {"kept": "left as edited (on_drift: keep)", "backed_up": "backed up, code's version restored",
                  "overwritten": "overwritten (on_drift: overwrite); the edit is lost",
                  "backup_failed": "left as edited: no backup could be made"}


def drift_metrics(drifts: tuple[Drift, ...], tracked: tuple[tuple[str, str, str], ...]) -> tuple[Any, ...]:
    """1/0 per tracked object (only the open drifts when this run could not look) and since when."""
    flag = fam.GRAFANA_DRIFT.gauge()
    since = fam.GRAFANA_DRIFT_SINCE_TIMESTAMP_SECONDS.gauge()
    open_ = {(d.kind, d.uid): d for d in drifts}
    for kind, uid, title in tracked:
        if (kind, uid) not in open_:
            flag.add_metric([kind, uid, title], 0.0)
    for d in drifts:
        flag.add_metric([d.kind, d.uid, d.title], 1.0)
        since.add_metric([d.kind, d.uid, d.title], d.since)
    return (flag, since)


def drift_findings(drifts: tuple[Drift, ...]) -> tuple[Finding, ...]:
    return tuple(Finding("grafana", f"{d.kind} {d.uid}", Severity.WARNING,
                         f"edited outside code{f' by {d.by}' if d.by else ''}: {_DRIFT_ACTIONS.get(d.action, d.action)}"
                         f"{f'; backup {d.backup}' if d.backup else ''}{f'; copy {d.copy_uid}' if d.copy_uid else ''}")
                 for d in drifts)


@dataclasses.dataclass(frozen=True, slots=True)
class DriftRow:
    """One open drift on the status page and in /api/status."""

    kind: str
    uid: str
    title: str
    since: float = json_field(time="rfc3339_seconds")
    by: str | None = None
    action: str = ""
    backup: str | None = None
    copy_uid: str | None = None
    status: str = "warning"


def drift_rows(drifts: tuple[Drift, ...]) -> tuple[DriftRow, ...]:
    return tuple(DriftRow(d.kind, d.uid, d.title, d.since, d.by or None, _DRIFT_ACTIONS.get(d.action, d.action),
                          d.backup or None, d.copy_uid or None) for d in drifts)


@dataclasses.dataclass(frozen=True, slots=True)
class GrafanaDetails(Details):
    """How the last provisioning run went: the writes it made, or why it failed."""

    success: bool
    attempts: int
    changes: tuple[str, ...]
    error: str | None
    drift: tuple[DriftRow, ...] = ()  # open edits made outside code


class GrafanaProvisioner(Collector[GrafanaSettings]):
    name: ClassVar[str] = "grafana"
    title: ClassVar[str] = "Grafana provisioning"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_grafana_",)
    Settings: ClassVar[type[CollectorSettings]] = GrafanaSettings

    changes_external_state: ClassVar[bool] = True

    def __init__(self, settings: GrafanaSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        # the retry back-off's waiting and timing; tests replace both with a fake time
        self.sleep: Callable[[float], None] = time.sleep
        self.monotonic: Callable[[], float] = context.monotonic
        self._sent_secrets: dict[str, str] = {}  # contact point uid → fingerprint of the secret sent
        self._last_success: float | None = None
        self._memory: DriftMemory | None = None  # what was last written, across runs (and state_file)

    @classmethod
    def unavailable_reason(cls, settings: GrafanaSettings, context: CollectorContext) -> str | None:
        return None if settings.url else "no Grafana URL configured (collectors.grafana.url)"

    def collect(self) -> CollectResult:
        settings = self.settings

        from watchtower.provisioning import provision  # requests (~10 MB): only when provisioning runs
        from watchtower.provisioning.driftstore import DriftMemory  # loaded with provision anyway

        if self._memory is None:
            self._memory = DriftMemory(settings.state_file)
        report = provision.run(settings, sent_secrets=self._sent_secrets, sleep=self.sleep, monotonic=self.monotonic,
                               budget_seconds=0.0 if self.context.one_shot else None,  # check: one attempt
                               memory=self._memory, clock=self.context.clock)
        if report.success:
            self._last_success = self.context.clock()
        drifts = report.drifts if report.drifts is not None else self._memory.state.drifts  # last known
        return CollectResult(
            metrics=self._metrics(report) + drift_metrics(drifts, report.tracked if report.drifts is not None else ()),
            errors=report.errors(),
            findings=(self._finding(report), *drift_findings(drifts)),
            details=dataclasses.replace(self._details(report), drift=drift_rows(drifts)),
        )

    def _metrics(self, report: RunReport) -> tuple[Any, ...]:
        up = fam.GRAFANA_UP.gauge(float(report.grafana_answered))
        success = fam.GRAFANA_PROVISION_SUCCESS.gauge(float(report.success))
        attempts = fam.GRAFANA_PROVISION_ATTEMPTS.gauge(float(report.attempts))
        objects = fam.GRAFANA_PROVISION_OBJECTS.gauge()
        counts = report.outcome.counts() if report.outcome else {}
        from watchtower.provisioning.changes import KINDS  # loaded by collect() already

        for kind in KINDS:
            for state in STATES:
                objects.add_metric([kind, state], float(counts.get((kind, state), 0)))
        families: list[Any] = [up, success, attempts, objects]
        if self._last_success is not None:
            families.append(fam.GRAFANA_LAST_PROVISION_TIMESTAMP_SECONDS.gauge(self._last_success))
        return tuple(families)

    def _finding(self, report: RunReport) -> Finding:
        settings = self.settings
        if report.success:
            counts = report.outcome.counts() if report.outcome else {}
            written = sum(n for (_, state), n in counts.items() if state in ("created", "updated", "deleted"))
            return Finding("grafana", settings.url, Severity.OK, f"provisioned ({written} written, "
                           f"{sum(n for (_, s), n in counts.items() if s == 'unchanged')} unchanged)")
        if report.error is not None:
            return Finding("grafana", settings.url, Severity.CRITICAL, str(report.error))
        failed = [e.location for e in (report.outcome.errors if report.outcome else ())]
        return Finding("grafana", settings.url, Severity.CRITICAL, f"{len(failed)} object(s) rejected: {', '.join(failed[:5])}")

    def _details(self, report: RunReport) -> GrafanaDetails:
        return GrafanaDetails(report.success, report.attempts,
                              tuple(c.line() for c in report.plan.writes) if report.plan else (),
                              str(report.error) if report.error else None)
