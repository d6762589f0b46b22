"""The small interface every collector implements, and the values a collection returns.

A collector is constructed once with its validated settings and a context (clock, node name,
Kubernetes client factory), then ``collect()`` is called on a schedule. It returns fresh
metric families plus per-item errors: a bad certificate file is an ``ItemError``, not an
exception. Raising is reserved for "this whole run failed"; the scheduler turns that into
``watchtower_collector_success 0`` without disturbing other collectors.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from watchtower.core.results import CollectResult, Finding, ItemError, Severity, Status
from watchtower.core.sections import CollectorSettings, SharedConfig
from watchtower.io.kube import KubeClientFactory

# The result types and settings base live in watchtower.core; re-exported here for collector code.
__all__ = [
    "CollectResult", "Collector", "CollectorContext", "CollectorSettings", "Finding", "ItemError", "Severity", "Status",
]


def _default_node_name() -> str:
    return socket.gethostname()


@dataclasses.dataclass(frozen=True)
class CollectorContext:
    """What collectors may use from outside themselves; injected so tests control it."""

    config: SharedConfig
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
