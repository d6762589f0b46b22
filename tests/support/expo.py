"""Render a collector's metric families through prometheus_client and read the samples back."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families


def render(families: Iterable[Metric]) -> str:
    fixed = tuple(families)
    registry = CollectorRegistry()

    class Fixed:
        def collect(self) -> Iterable[Metric]:
            return fixed

    registry.register(Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def samples(families: Iterable[Metric]) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """sample name → {sorted label pairs → value}, parsed from the real exposition text."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(render(families)):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def one(data: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    """The value of the one sample ``name{labels}``; KeyError naming what exists otherwise."""
    series = data.get(name, {})
    key = tuple(sorted(labels.items()))
    if key not in series:
        raise KeyError(f"{name}{labels} not exported; have {sorted(series)}")
    return series[key]
