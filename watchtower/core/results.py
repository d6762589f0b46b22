"""The values a collection returns: shared by /metrics, ``watchtower check`` and the status page.

A bad certificate file is an ``ItemError``, not an exception; a judged fact is a ``Finding``;
``CollectResult`` bundles one run's metric families, errors, findings and typed details
(``watchtower.core.details``).
"""

from __future__ import annotations

import dataclasses
import enum

from prometheus_client.core import Metric

from watchtower.core.details import NO_DETAILS, Details


class Severity(enum.IntEnum):
    """How bad a finding is; doubles as the ``watchtower check`` exit status."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(enum.Enum):
    """A run's overall verdict in the monitoring-plugins convention; the value is the exit status.

    Not ordered like ``Severity``: CRITICAL wins over UNKNOWN (something seen is certainly
    wrong), UNKNOWN over WARNING and OK (what could not be looked at may be worse).
    """

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def judge(cls, worst: Severity, unknown: bool) -> Status:
        """Critical findings → CRITICAL; else anything not looked at → UNKNOWN; else the worst finding."""
        if worst >= Severity.CRITICAL:
            return cls.CRITICAL
        if unknown:
            return cls.UNKNOWN
        return cls(int(worst))


@dataclasses.dataclass(frozen=True)
class ItemError:
    """One thing a collector could not read; the rest of the run still counts.

    ``reason`` is a short token used as a metric label (``parse_error``, ``timeout``, ...);
    ``detail`` is for people. Neither may contain a secret.
    """

    location: str
    reason: str
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One row of ``watchtower check`` and the status page: a judged fact about one subject.

    Slotted: a certificate scan keeps one per expiring certificate (tens of thousands), and a
    per-instance ``__dict__`` would cost more than the fact."""

    section: str
    subject: str
    severity: Severity
    message: str


@dataclasses.dataclass(frozen=True)
class CollectResult:
    """What one collection produced. Immutable: it is shared by /metrics, check and the page."""

    metrics: tuple[Metric, ...] = ()
    errors: tuple[ItemError, ...] = ()
    findings: tuple[Finding, ...] = ()
    details: Details = NO_DETAILS  # typed facts for `check`'s table, `check --output json`, /api/status, the page

    def problems(self) -> str | None:
        """Why this result is malformed (the "garbage" case), or None when it is well-formed."""
        if not isinstance(self.metrics, tuple) or not all(isinstance(m, Metric) for m in self.metrics):
            return "metrics must be a tuple of prometheus_client Metric families"
        if not all(isinstance(e, ItemError) for e in self.errors):
            return "errors must be ItemError values"
        if not all(isinstance(f, Finding) for f in self.findings):
            return "findings must be Finding values"
        if not isinstance(self.details, Details):
            return "details must be a watchtower.core.details.Details value"
        return None
