"""``fieldSelector`` and ``labelSelector`` as the apiserver parses and applies them.

Field selectors are strict per resource (a field the real server does not index is a 400, so a
collector using one would break in production); label selectors support equality, inequality,
existence and ``in``/``notin`` sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.kubeapi.errors import ApiError, bad_request

FieldGetter = Callable[[dict[str, Any]], str]


def _meta(key: str) -> FieldGetter:
    return lambda obj: str(obj["metadata"].get(key, ""))


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


# The field labels each resource supports for selection, as registered by kube-apiserver.
FIELDS: dict[str, dict[str, FieldGetter]] = {
    "nodes": {
        "metadata.name": _meta("name"),
        "spec.unschedulable": lambda obj: _bool_text(obj["spec"].get("unschedulable")),
    },
    "secrets": {
        "metadata.name": _meta("name"),
        "metadata.namespace": _meta("namespace"),
        "type": lambda obj: str(obj.get("type", "")),
    },
    "configmaps": {"metadata.name": _meta("name"), "metadata.namespace": _meta("namespace")},
    "namespaces": {"metadata.name": _meta("name"), "status.phase": lambda obj: str(obj["status"].get("phase", ""))},
}

_FIELD_TERM = re.compile(r"^([^=!]+)(==|!=|=)(.*)$")
_SET_TERM = re.compile(r"^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$")
_EQ_TERM = re.compile(r"^([^\s!=(),]+)\s*(==|!=|=)\s*([^\s!=(),]*)$")
_EXISTS_TERM = re.compile(r"^(!?)([^\s!=(),]+)$")


@dataclass(frozen=True)
class _Requirement:
    """One term: ``key`` compared by ``op`` (=, !=, in, notin, exists, !exists) against ``values``."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, actual: str | None) -> bool:
        if self.op in ("=", "in"):
            return actual in self.values
        if self.op in ("!=", "notin"):
            return actual not in self.values
        return (actual is not None) == (self.op == "exists")


@dataclass(frozen=True)
class FieldSelector:
    """A parsed fieldSelector for one resource; empty selects everything."""

    terms: tuple[tuple[FieldGetter, _Requirement], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, obj: dict[str, Any]) -> bool:
        return all(req.matches(getter(obj)) for getter, req in self.terms)


@dataclass(frozen=True)
class LabelSelector:
    """A parsed labelSelector; empty selects everything."""

    terms: tuple[_Requirement, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, obj: dict[str, Any]) -> bool:
        labels: Mapping[str, str] = obj["metadata"].get("labels") or {}
        return all(req.matches(labels.get(req.key)) for req in self.terms)


def parse_field_selector(resource: str, text: str | None) -> FieldSelector:
    """Parse ``a=b,c!=d``; unknown fields are 400 ``field label not supported`` like the real server."""
    if not text:
        return FieldSelector()
    getters = FIELDS.get(resource, {"metadata.name": _meta("name"), "metadata.namespace": _meta("namespace")})
    terms = []
    for term in text.split(","):
        match = _FIELD_TERM.match(term.strip())
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = match.group(1).strip(), match.group(2), match.group(3).strip()
        if field not in getters:
            raise bad_request(f"field label not supported: {field}")
        terms.append((getters[field], _Requirement(field, "!=" if op == "!=" else "=", frozenset([value]))))
    return FieldSelector(tuple(terms))


def _split_outside_parens(text: str) -> list[str]:
    """Split on commas that are not inside an ``in (a,b)`` value list."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_label_term(term: str) -> _Requirement:
    term = term.strip()
    if match := _SET_TERM.match(term):
        values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
        return _Requirement(match.group(1), match.group(2), values)
    if match := _EQ_TERM.match(term):
        op = "!=" if match.group(2) == "!=" else "="
        return _Requirement(match.group(1), op, frozenset([match.group(3)]))
    if match := _EXISTS_TERM.match(term):
        return _Requirement(match.group(2), "!exists" if match.group(1) else "exists")
    raise ApiError(400, f"unable to parse requirement: found '{term}', expected: identifier")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a labelSelector (equality, ``!=``, ``in``, ``notin``, ``key``, ``!key``)."""
    if not text:
        return LabelSelector()
    return LabelSelector(tuple(_parse_label_term(term) for term in _split_outside_parens(text)))
