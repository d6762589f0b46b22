"""The one line format every benchmark prints, and small measuring helpers."""

from __future__ import annotations

import dataclasses
import gc
import resource
import statistics
import time
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Line:
    """``NAME: value unit | baseline value unit | ratio R | target T | ok|MISS``.

    ``target`` is the bound on ``ratio`` (``<= 1.2``) or on ``value`` when ``target_on_value``
    (e.g. peak RSS in MB); ``None`` means report only.
    """

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_unit: str | None = None
    target: str | None = None  # e.g. "<= 1.2", ">= 50"
    target_on_value: bool = False

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        op, bound_text = self.target.split()
        subject = self.value if self.target_on_value else self.ratio
        if subject is None:
            return False
        bound = float(bound_text)
        return subject <= bound if op == "<=" else subject >= bound

    def render(self) -> str:
        baseline = (f"baseline {self.baseline:.4g} {self.baseline_unit or self.unit}"
                    if self.baseline is not None else "baseline -")
        ratio = f"ratio {self.ratio:.3f}" if self.ratio is not None else "ratio -"
        target = f"target {self.target}{' ' + self.unit if self.target_on_value else ''}" if self.target else "target -"
        return f"{self.name}: {self.value:.4g} {self.unit} | {baseline} | {ratio} | {target} | {'ok' if self.ok else 'MISS'}"


def median_seconds(fn: Callable[[], object], repeat: int = 5, number: int = 1, gc_on: bool = False) -> float:
    """Median wall time of ``number`` calls, over ``repeat`` rounds, with GC off while timing
    (``gc_on``: left on, as in production)."""
    samples = []
    for _ in range(repeat):
        gc.collect()
        if not gc_on:
            gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - start) / number)
        finally:
            gc.enable()
    return statistics.median(samples)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
