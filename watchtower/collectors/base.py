"""The small interface every collector implements.

A collector is constructed once with its validated settings and a context (clock, node name,
Kubernetes client factory), then ``collect()`` is called on a schedule. It returns fresh
metric families plus per-item errors (``watchtower.core.results``): a bad certificate file is
an ``ItemError``, not an exception. Raising is reserved for "this whole run failed"; the
scheduler turns that into ``watchtower_collector_success 0`` without disturbing other collectors.

A collector declares its ``name`` (config key, ``collector`` label), ``title`` (status page and
``check`` section), ``roles`` (where the Helm chart runs it), ``metric_prefixes`` and ``Settings``;
the registry, the status page, the chart presets and the dashboard tests all read those declarations.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Generic, Literal, TypeVar

from watchtower.core.details import NO_DETAILS, Details
from watchtower.core.results import CollectResult, Finding, ItemError, Severity, Status
from watchtower.core.sections import CollectorSettings, SharedConfig
from watchtower.io.kube import KubeClientFactory

# The result types and settings base live in watchtower.core; re-exported here for collector code.
__all__ = [
    "NO_DETAILS",
    "CollectResult",
    "Collector",
    "CollectorContext",
    "CollectorSettings",
    "Details",
    "Finding",
    "ItemError",
    "Role",
    "SettingsT",
    "Severity",
    "Status",
]

Role = Literal["cluster", "node"]
"""Where the Helm chart runs a collector: the cluster Deployment, or the DaemonSet on each
control-plane node (host network, read-only host paths)."""

SettingsT = TypeVar("SettingsT", bound=CollectorSettings)


def _default_node_name() -> str:
    return socket.gethostname()


@dataclasses.dataclass(frozen=True)
class CollectorContext:
    """What collectors may use from outside themselves; injected so tests control it."""

    config: SharedConfig
    kube: KubeClientFactory
    clock: Callable[[], float] = time.time  # wall-clock timestamps (Unix seconds)
    monotonic: Callable[[], float] = time.monotonic  # elapsed time: probe durations and deadlines
    node_name: str = dataclasses.field(default_factory=_default_node_name)
    # True in `watchtower check`: a person or CI waits for the answer, so a collector gives up on an
    # unreachable service after one bounded attempt instead of retrying with backoff like the daemon.
    one_shot: bool = False


class Collector(ABC, Generic[SettingsT]):
    """Base class: ``class XCollector(Collector[XSettings])`` with ``Settings = XSettings``.

    ``self.settings`` is then typed as ``XSettings``: no asserts or casts in the collector.

    Time comes only from the context: ``context.clock`` for timestamps, ``context.monotonic`` for
    durations and deadlines, so tests can drive both.

    ``collect()`` may run in two threads at once: the runner abandons a worker that outlives its
    timeout (Python threads cannot be killed) and starts the next scheduled run beside it (up to
    ``scheduler.MAX_HUNG_WORKERS``). A collector that keeps state across runs (error counters,
    transition counts, memo caches) guards it with its own lock; the runner does not serialise.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    roles: ClassVar[frozenset[Role]]
    # The names of the metric families it exports start with one of these (documented in
    # docs/metrics.md under the collector's name); the dashboard tests map panels to collectors by them.
    metric_prefixes: ClassVar[tuple[str, ...]] = ()
    Settings: ClassVar[type[CollectorSettings]] = CollectorSettings
    # True for jobs that change something outside watchtower (the Grafana provisioner):
    # `watchtower check` only looks, so it runs them only when asked for by --collector.
    changes_external_state: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and "title" not in cls.__dict__:
            cls.title = cls.name  # a collector without a title is shown by its name
        if not hasattr(cls, "roles"):
            cls.roles = frozenset()  # in no Helm role preset: off in both unless configured

    def __init__(self, settings: SettingsT, context: CollectorContext) -> None:
        self.settings: SettingsT = settings
        self.context = context

    @classmethod
    def unavailable_reason(cls, settings: SettingsT, context: CollectorContext) -> str | None:
        """Why ``enabled: auto`` should not run this collector here, or None to run it."""
        return None

    @abstractmethod
    def collect(self) -> CollectResult:
        """Collect once. Per-item problems go into ``errors``; raise only if the run failed."""

    @classmethod
    def check_table(cls, details: Details, color: bool = False) -> list[str] | None:
        """This collector's section of ``watchtower check``'s table; None: no section.

        The table belongs to the collector's typed details (``Details.check_table``)."""
        return details.check_table(color)
