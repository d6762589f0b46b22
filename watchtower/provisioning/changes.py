"""What a reconciliation plans and did (changes, plan, outcome) and the canonical views it compares; pure."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from watchtower.core.results import ItemError
from watchtower.core.settings import parse_duration
from watchtower.provisioning.model import canonical
from watchtower.provisioning.rules import pre_save

MANAGED_PREFIX = "wt-"  # rules and contact points with this uid prefix are watchtower's to prune
KINDS = ("folder", "dashboard", "contact-point", "policy", "alert-rule", "rule-group")
ACTIONS = ("create", "update", "delete", "unchanged")


@dataclasses.dataclass(frozen=True)
class Change:
    """One object's fate in a plan. ``provenance`` is what Grafana has stored for it now."""

    kind: str
    uid: str
    name: str
    action: str
    detail: str = ""
    provenance: str = ""

    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.action:<9} {self.kind:<13} {self.uid:<40} {self.name}{detail}".rstrip()


@dataclasses.dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for c in self.changes:
            out[(c.kind, c.action)] = out.get((c.kind, c.action), 0) + 1
        return out

    @property
    def writes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action != "unchanged")

    def render(self) -> str:
        lines = [c.line() for c in self.changes]
        summary = ", ".join(f"{n} {a}" for a in ACTIONS if (n := sum(1 for c in self.changes if c.action == a)))
        return "\n".join(lines + [f"plan: {summary or 'nothing to do'}"]) + "\n"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What ``apply`` did: each change with its final state, and per-object errors."""

    changes: tuple[tuple[Change, str], ...]  # (change, state: created|updated|deleted|unchanged|failed)
    errors: tuple[ItemError, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for change, state in self.changes:
            out[(change.kind, state)] = out.get((change.kind, state), 0) + 1
        return out


_DONE = {"create": "created", "update": "updated", "delete": "deleted", "unchanged": "unchanged"}


def _seconds(value: object) -> float | None:
    try:
        return float(parse_duration(value)) if value not in (None, "") else 0.0  # type: ignore[arg-type]
    except ValueError:
        return None


def _rule_view(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a rule watchtower manages, normalised for comparison."""
    return {
        "title": rule.get("title"),
        "ruleGroup": rule.get("ruleGroup"),
        "folderUID": rule.get("folderUID"),
        "condition": rule.get("condition"),
        "data": [pre_save(q) for q in rule.get("data") or [] if isinstance(q, Mapping)],
        "noDataState": rule.get("noDataState"),
        "execErrState": rule.get("execErrState"),
        "for": _seconds(rule.get("for")),
        "labels": rule.get("labels") or {},
        "annotations": rule.get("annotations") or {},
        "isPaused": bool(rule.get("isPaused", False)),
    }


def _policy_view(policy: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in policy.items():
        if key == "provenance" or value in (None, "", [], {}, False):
            continue
        if key in ("group_wait", "group_interval", "repeat_interval"):
            value = _seconds(value)
        out[key] = value
    return out


def _dashboard_view(model: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in ("id", "version")}


def _diff_keys(want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))  # deep, order-insensitive
    return "differs in " + ", ".join(keys) if keys else ""


def _q(part: str) -> str:
    """One path segment, percent-encoded (rule group names may contain anything)."""
    return quote(part, safe="")


def _stale(kind: str, actual: Mapping[Any, Mapping[str, Any]], wanted: set[str], detail: str,
           describe: Callable[[Mapping[str, Any]], str]) -> list[Change]:
    """Deletions for objects watchtower once created (uid prefix) that are no longer desired."""
    return [
        Change(kind, uid, describe(have), "delete", detail, str(have.get("provenance") or ""))
        for uid, have in actual.items()
        if isinstance(uid, str) and uid.startswith(MANAGED_PREFIX) and uid not in wanted
    ]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _fingerprint(values: Mapping[str, str]) -> str:
    return hashlib.sha256(canonical(dict(values)).encode()).hexdigest()
