"""The small interface every collector implements, and the values a collection returns.

A collector is constructed once with its validated settings and a context (clock, node name,
Kubernetes client factory), then ``collect()`` is called on a schedule. It returns fresh
metric families plus per-item errors: a bad certificate file is an ``ItemError``, not an
exception. Raising is reserved for "this whole run failed"; the scheduler turns that into
``watchtower_collector_success 0`` without disturbing other collectors.
"""

from __future__ import annotations

import dataclasses
import enum
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from prometheus_client.core import Metric

from watchtower.configtypes import ConfigError, Seconds

if TYPE_CHECKING:
    from watchtower.config import Config
    from watchtower.kube import KubeClientFactory


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


@dataclasses.dataclass(frozen=True)
class Finding:
    """One row of ``watchtower check`` and the status page: a judged fact about one subject."""

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
    details: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))  # JSON-able facts for `check --output json` and /api/status

    def problems(self) -> str | None:
        """Why this result is malformed (the "garbage" case), or None when it is well-formed."""
        if not isinstance(self.metrics, tuple) or not all(isinstance(m, Metric) for m in self.metrics):
            return "metrics must be a tuple of prometheus_client Metric families"
        if not all(isinstance(e, ItemError) for e in self.errors):
            return "errors must be ItemError values"
        if not all(isinstance(f, Finding) for f in self.findings):
            return "findings must be Finding values"
        if not isinstance(self.details, Mapping):
            return "details must be a mapping"
        return None


@dataclasses.dataclass(frozen=True)
class CollectorSettings:
    """Settings every collector has; a collector's own ``Settings`` subclasses this.

    ``enabled: auto`` runs the collector when its inputs exist (a kubeconfig, a PKI
    directory, ...) and logs why not otherwise; ``true`` runs it regardless, so missing inputs
    surface as errors; ``false`` turns it off.
    """

    enabled: bool | Literal["auto"] = "auto"
    interval: Seconds = Seconds(60)
    timeout: Seconds = Seconds(30)

    def validate(self, path: str) -> None:
        if self.interval <= 0:
            raise ConfigError(f"{path}.interval", self.interval, "a duration above 0s")
        if self.timeout <= 0:
            raise ConfigError(f"{path}.timeout", self.timeout, "a duration above 0s")


def _default_node_name() -> str:
    return socket.gethostname()


@dataclasses.dataclass(frozen=True)
class CollectorContext:
    """What collectors may use from outside themselves; injected so tests control it."""

    config: Config
    kube: KubeClientFactory
    clock: Callable[[], float] = time.time
    node_name: str = dataclasses.field(default_factory=_default_node_name)
    # True in `watchtower check`: a person or CI waits for the answer, so a collector gives up on an
    # unreachable service after one bounded attempt instead of retrying with backoff like the daemon.
    one_shot: bool = False


class Collector(ABC):
    """Base class: subclasses set ``name``/``description``, may override ``Settings``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type[CollectorSettings]] = CollectorSettings
    # True for jobs that change something outside watchtower (the Grafana provisioner):
    # `watchtower check` only looks, so it runs them only when asked for by --collector.
    changes_external_state: ClassVar[bool] = False

    def __init__(self, settings: CollectorSettings, context: CollectorContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def unavailable_reason(cls, settings: CollectorSettings, context: CollectorContext) -> str | None:
        """Why ``enabled: auto`` should not run this collector here, or None to run it."""
        return None

    @abstractmethod
    def collect(self) -> CollectResult:
        """Collect once. Per-item problems go into ``errors``; raise only if the run failed."""
