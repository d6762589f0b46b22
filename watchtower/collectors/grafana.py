"""The Grafana provisioner as a scheduled job: each run reconciles Grafana and reports how it went.

It is a collector so the scheduler runs it at start and every ``interval`` (default 5m) with
a timeout, isolated from the others, and its outcome is on /metrics. A run never raises for
Grafana trouble: an unreachable Grafana is retried with exponential backoff inside the run's
timeout, then reported as ``watchtower_grafana_up 0`` / ``provision_success 0`` (with the
reason in ``watchtower_collector_errors_total``) and tried again at the next interval.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client.core import GaugeMetricFamily

from watchtower.collectors.base import Collector, CollectorContext, CollectorSettings, CollectResult, Finding, Severity
from watchtower.configtypes import ConfigError, SecretRef, Seconds

if TYPE_CHECKING:
    from watchtower.grafana.provision import RunReport

GRAFANA_UID_MAX = 40  # Grafana rejects longer uids for folders, dashboards, rules and contact points
_UID_RE = re.compile(r"^[a-zA-Z0-9\-_]+$")

# dashboards/ and alerts/ of a source checkout (the default when the config names none)
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def uid_problem(uid: object) -> str | None:
    """Why ``uid`` is not a valid Grafana uid, or None."""
    if not isinstance(uid, str) or not uid:
        return "a uid must be a non-empty string"
    if len(uid) > GRAFANA_UID_MAX:
        return f"uid {uid!r} is {len(uid)} characters long; Grafana allows at most {GRAFANA_UID_MAX}"
    if not _UID_RE.match(uid):
        return f"uid {uid!r} may only contain letters, digits, '-' and '_'"
    return None


@dataclasses.dataclass(frozen=True)
class GrafanaSettings(CollectorSettings):
    """Where Grafana is, how to authenticate, and what to provision there.

    Authentication is a service-account ``token`` (``token_file``/``token_env``) or, for a
    Grafana without persistent storage whose service accounts vanish on restart, the admin
    ``username`` plus ``password_file``/``password_env``.
    """

    interval: Seconds = Seconds(300)
    timeout: Seconds = Seconds(120)
    url: str = ""
    token: SecretRef | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    insecure: bool = False
    request_timeout: Seconds = Seconds(10)
    retry_max_delay: Seconds = Seconds(30)
    disable_provenance: bool = False
    folder_uid: str = "watchtower"
    folder_title: str = "watchtower"
    datasource_uid: str = "prometheus"
    dashboards_dir: str | None = None
    alerts_dir: str | None = None
    contact_point: str = "watchtower"
    email_addresses: tuple[str, ...] = ()
    slack_webhook: SecretRef | None = None
    slack_channel: str | None = None
    manage_policy: bool = True
    group_by: tuple[str, ...] = ("cluster", "alertname")
    group_wait: Seconds = Seconds(30)
    group_interval: Seconds = Seconds(300)
    repeat_interval: Seconds = Seconds(4 * 3600)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.url and not re.match(r"^https?://[^/]+", self.url):
            raise ConfigError(f"{path}.url", self.url, "an http:// or https:// URL")
        if "@" in self.url.split("://", 1)[-1].split("/", 1)[0]:
            raise ConfigError(f"{path}.url", "<redacted>", "a URL without credentials (use token_file or username + password_file)")
        if self.token is not None and self.password is not None:
            raise ConfigError(f"{path}.token_file", "<redacted>", "either a token or username + password, not both")
        if (self.username is None) != (self.password is None):
            raise ConfigError(f"{path}.username", self.username, "username and password_file/password_env together")
        problem = uid_problem(self.folder_uid)
        if problem:
            raise ConfigError(f"{path}.folder_uid", self.folder_uid, problem)
        if not self.folder_title.strip():
            raise ConfigError(f"{path}.folder_title", self.folder_title, "a non-empty title")
        if not self.contact_point.strip():
            raise ConfigError(f"{path}.contact_point", self.contact_point, "a non-empty contact point name")
        for i, address in enumerate(self.email_addresses):
            if "@" not in address or any(c in address for c in " ;,"):
                raise ConfigError(f"{path}.email_addresses[{i}]", address, "one e-mail address per entry")
        if self.request_timeout <= 0:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout, "a duration above 0s")

    def dashboards_path(self) -> Path:
        return Path(self.dashboards_dir) if self.dashboards_dir else _SOURCE_ROOT / "dashboards"

    def alerts_path(self) -> Path:
        return Path(self.alerts_dir) if self.alerts_dir else _SOURCE_ROOT / "alerts"


STATES = ("created", "updated", "deleted", "unchanged", "failed")


class GrafanaProvisioner(Collector):
    name = "grafana"
    description = "Provisions Grafana: folder, dashboards, alert rules, contact points and notification policy"
    Settings = GrafanaSettings

    changes_external_state: ClassVar[bool] = True
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)  # type: ignore[assignment]
    monotonic: ClassVar[Callable[[], float]] = staticmethod(time.monotonic)  # type: ignore[assignment]

    def __init__(self, settings: CollectorSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self._sent_secrets: dict[str, str] = {}  # contact point uid → fingerprint of the secret sent
        self._last_success: float | None = None

    @classmethod
    def unavailable_reason(cls, settings: CollectorSettings, context: CollectorContext) -> str | None:
        assert isinstance(settings, GrafanaSettings)
        return None if settings.url else "no Grafana URL configured (collectors.grafana.url)"

    def collect(self) -> CollectResult:
        settings = self.settings
        assert isinstance(settings, GrafanaSettings)
        from watchtower.grafana import provision  # the Grafana client is loaded only when used

        report = provision.run(settings, sent_secrets=self._sent_secrets, sleep=self.sleep, monotonic=self.monotonic,
                               budget_seconds=0.0 if self.context.one_shot else None)  # check: one attempt
        if report.success:
            self._last_success = self.context.clock()
        return CollectResult(
            metrics=self._metrics(report),
            errors=report.errors(),
            findings=(self._finding(report),),
            details=self._details(report),
        )

    def _metrics(self, report: RunReport) -> tuple[Any, ...]:
        up = GaugeMetricFamily("watchtower_grafana_up", "1 if Grafana answered the last provisioning run", value=float(report.grafana_answered))
        success = GaugeMetricFamily("watchtower_grafana_provision_success",
                                    "1 if the last provisioning run reconciled every object", value=float(report.success))
        attempts = GaugeMetricFamily("watchtower_grafana_provision_attempts",
                                     "Connection attempts the last provisioning run needed (retries with backoff)",
                                     value=float(report.attempts))
        objects = GaugeMetricFamily("watchtower_grafana_provision_objects",
                                    "Objects by kind and what the last provisioning run did to them",
                                    labels=["kind", "state"])
        from watchtower.grafana.api import KINDS

        counts = report.outcome.counts() if report.outcome else {}
        for kind in KINDS:
            for state in STATES:
                objects.add_metric([kind, state], float(counts.get((kind, state), 0)))
        families: list[Any] = [up, success, attempts, objects]
        if self._last_success is not None:
            families.append(GaugeMetricFamily("watchtower_grafana_last_provision_timestamp_seconds",
                                              "When the last fully successful provisioning run finished",
                                              value=self._last_success))
        return tuple(families)

    def _finding(self, report: RunReport) -> Finding:
        settings = self.settings
        assert isinstance(settings, GrafanaSettings)
        if report.success:
            counts = report.outcome.counts() if report.outcome else {}
            written = sum(n for (_, state), n in counts.items() if state in ("created", "updated", "deleted"))
            return Finding("grafana", settings.url, Severity.OK, f"provisioned ({written} written, "
                           f"{sum(n for (_, s), n in counts.items() if s == 'unchanged')} unchanged)")
        if report.error is not None:
            return Finding("grafana", settings.url, Severity.CRITICAL, str(report.error))
        failed = [e.location for e in (report.outcome.errors if report.outcome else ())]
        return Finding("grafana", settings.url, Severity.CRITICAL, f"{len(failed)} object(s) rejected: {', '.join(failed[:5])}")

    def _details(self, report: RunReport) -> dict[str, Any]:
        return {
            "success": report.success,
            "attempts": report.attempts,
            "changes": [c.line() for c in report.plan.writes] if report.plan else [],
            "error": str(report.error) if report.error else None,
        }
