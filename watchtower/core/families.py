"""Metric families declared once: name, type, help and label names, in each collector's package.

Metric names and labels are public API (docs/metrics.md). Each collector package lists its
families in ``families.py`` and builds them from those declarations, so a name or a label is
written in one place; ``tests/unit/test_metric_families.py`` checks that every declared family
is documented in docs/metrics.md with its type and labels, and that every documented
``watchtower_`` metric is declared.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

__all__ = ["Family", "FamilyType"]

FamilyType = Literal["gauge", "counter", "info"]


@dataclasses.dataclass(frozen=True, slots=True)
class Family:
    """One metric family. ``name`` is as passed to prometheus_client: a counter's without ``_total``,
    an info's without ``_info`` (the client adds them); ``exposed`` is the name on /metrics."""

    name: str
    type: FamilyType
    help: str
    labels: tuple[str, ...] = ()

    @property
    def exposed(self) -> str:
        base = self.name.removesuffix("_total") if self.type == "counter" else self.name
        return {"counter": f"{base}_total", "info": f"{base}_info"}.get(self.type, base)

    def gauge(self, value: float | None = None) -> GaugeMetricFamily:
        """A fresh gauge family; ``value`` only for one without labels."""
        self._expect("gauge")
        if value is not None:
            return GaugeMetricFamily(self.name, self.help, value=value)
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))

    def counter(self, value: float | None = None) -> CounterMetricFamily:
        """A fresh counter family; ``value`` only for one without labels."""
        self._expect("counter")
        if value is not None:
            return CounterMetricFamily(self.name, self.help, value=value)
        return CounterMetricFamily(self.name, self.help, labels=list(self.labels))

    def info(self) -> InfoMetricFamily:
        self._expect("info")
        return InfoMetricFamily(self.name, self.help, labels=list(self.labels))

    def _expect(self, kind: FamilyType) -> None:
        if self.type != kind:
            raise TypeError(f"{self.name} is declared a {self.type}, not a {kind}")
