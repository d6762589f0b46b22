"""Which metric names a PromQL expression uses, and whether docs/metrics.md documents them.

Good enough for the project's own rules and dashboards (not a PromQL parser): strings, label
matchers, range/subquery brackets and grouping clauses are blanked out, then every identifier
that is not a function call, keyword or Grafana variable is a metric name.
"""

from __future__ import annotations

import re

# Series suffixes that exposition adds to a documented family name.
SERIES_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_info")
KEYWORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "atan2", "inf", "nan",
})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?!\w)")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("{}", text)
    text = _BRACKETS.sub("[]", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(1)
        rest = text[match.end():].lstrip()
        if name.lower() in KEYWORDS or rest.startswith("("):
            continue
        names.add(name)
    return names


def documented(metric: str, metrics_doc: str) -> bool:
    """``metric`` (or its family name without an exposition suffix) appears in the document."""
    candidates = [metric] + [metric[: -len(s)] for s in SERIES_SUFFIXES if metric.endswith(s)]
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", metrics_doc) for name in candidates)
