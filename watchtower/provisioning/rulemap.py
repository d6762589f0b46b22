"""Grafana alert rules edited in Grafana back to the Prometheus rules they were converted from; pure.

A Grafana rule maps back when a Prometheus rule exists whose conversion (``rules.py``) is
exactly the live rule: its expression (query A is ``count without () (EXPR)``, and the value
query, if any, agrees), its ``for``, its labels and annotations (``$values.VALUE.Value`` read
back as ``$value``). Text Grafana holds that code's own value converts to keeps code's
spelling. The candidate is converted again and compared with the live rule (both
normalised); anything the conversion cannot produce — a renamed rule (its uid comes from the
alert name), a moved one, a changed threshold, reducer or no-data state, a paused rule — does
not map back, and the reason says which.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from watchtower.core.settings import parse_duration
from watchtower.provisioning.model import go_duration
from watchtower.provisioning.normalise import normalise_rule
from watchtower.provisioning.ruleedit import RuleEdit
from watchtower.provisioning.rules import (
    PromAlert,
    convert_alerts,
    convert_annotation,
    convert_template,
    presence_expr,
    rule_uid,
)
from watchtower.provisioning.templates import GRAFANA_VALUE, unsupported

_PRESENCE_RE = re.compile(r"\Acount without \(\) \((.*)\)\Z", re.DOTALL)
_MAPPED = ("data", "for", "labels", "annotations")


@dataclasses.dataclass(frozen=True)
class RulePull:
    """One live rule that differs from code: an ``edit`` for its file, or ``reason`` it cannot map back."""

    uid: str
    title: str
    source: str
    edit: RuleEdit | None = None
    reason: str = ""


def _expr(data: Any) -> str | None:
    """EXPR from the live query A, ``count without () (EXPR)``; None if A is not that shape."""
    query = next((q for q in data or [] if isinstance(q, Mapping) and q.get("refId") == "A"), None)
    expr = ((query or {}).get("model") or {}).get("expr")
    m = _PRESENCE_RE.match(expr) if isinstance(expr, str) else None
    if m is None:
        return None
    inner = m.group(1)
    return inner[1:-1] if inner.startswith("\n") and inner.endswith("\n") else inner


def _texts(code: Mapping[str, str], live: Mapping[str, Any], convert: Any) -> tuple[dict[str, str], list[str]]:
    """Prometheus texts for live labels/annotations: code's own where it converts to the live
    text, else the live text with Grafana's value reference read back; keys that cannot be."""
    out: dict[str, str] = {}
    bad: list[str] = []
    for key, value in live.items():
        value = str(value)
        if key in code and convert(key, code[key]) == value:
            out[key] = code[key]
            continue
        back = value.replace(GRAFANA_VALUE, "$value")
        if convert(key, back) != value:
            bad.append(key)
        out[key] = back
    return out, bad


def _reasons(code: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Differences no Prometheus rule can express."""
    out = []
    for key in sorted(set(code) | set(live)):
        if key in _MAPPED or code.get(key) == live.get(key):
            continue
        if key == "title":
            out.append(f"renamed to {live.get(key)!r} in Grafana; the rule's uid comes from the alert name, "
                       "so rename the alert in its rule file instead (it becomes a new rule)")
        elif key in ("ruleGroup", "folderUID"):
            out.append(f"{key} changed to {live.get(key)!r}: moved in Grafana")
        elif key == "isPaused":
            out.append("paused in Grafana: a Prometheus rule cannot be paused")
        else:
            out.append(f"{key} changed to {live.get(key)!r}: a converted rule always has {code.get(key)!r}")
    return out


def map_back(alert: PromAlert, occurrence: int, alerts: Sequence[PromAlert], live: Mapping[str, Any],
             folder_uid: str, datasource_uid: str) -> RulePull:
    """The edit of ``alert``'s rule file that makes its conversion equal ``live``, or why there is none."""
    uid = rule_uid(alert.group, alert.alert, occurrence)
    title = str(live.get("title") or alert.alert)
    code_body = _convert(alerts, folder_uid, datasource_uid)[uid]
    want, have = normalise_rule(code_body), normalise_rule(live)
    reasons = _reasons(want, have)
    expr = _expr(live.get("data"))
    if expr is None:
        reasons.append("query A is no longer `count without () (EXPR)`: the query chain was rebuilt in Grafana")
        expr = alert.expr
    elif presence_expr(alert.expr) == presence_expr(expr):
        expr = alert.expr
    labels, bad_labels = _texts(alert.labels, have.get("labels") or {}, lambda _k, v: convert_template(v))
    annotations, bad_notes = _texts(alert.annotations, have.get("annotations") or {}, convert_annotation)
    reasons += [f"label {k} cannot be written as a Prometheus template" for k in bad_labels]
    reasons += [f"annotation {k} cannot be written as a Prometheus template" for k in bad_notes]
    reasons += [f"annotation {k} is a stand-in in Grafana (the rule file's text uses {', '.join(unsupported(v))}, which "
                "Grafana does not run); edit it in the rule file" for k, v in alert.annotations.items()
                if unsupported(v) and annotations.get(k) != v]
    try:
        for_seconds = float(parse_duration(live.get("for") or "0s"))
    except ValueError:
        reasons.append(f"'for' {live.get('for')!r} is not a duration")
        for_seconds = alert.for_seconds
    if reasons:
        return RulePull(uid, title, alert.source, reason="; ".join(reasons))
    candidate = dataclasses.replace(alert, expr=expr, for_seconds=for_seconds, labels=labels, annotations=annotations)
    again = normalise_rule(_convert([candidate if a is alert else a for a in alerts], folder_uid, datasource_uid)[uid])
    if again != have:
        keys = sorted(k for k in set(again) | set(have) if again.get(k) != have.get(k))
        detail = ("the query chain (threshold, reducer or value query) was changed in Grafana"
                  if keys == ["data"] else "differs in " + ", ".join(keys))
        return RulePull(uid, title, alert.source, reason=f"Grafana's rule is not the conversion of any Prometheus rule: {detail}")
    fields: dict[str, Any] = {}
    if expr != alert.expr:
        fields["expr"] = expr
    if for_seconds != alert.for_seconds:
        fields["for"] = go_duration(for_seconds)
    if labels != dict(alert.labels):
        fields["labels"] = labels
    if annotations != dict(alert.annotations):
        fields["annotations"] = annotations
    return RulePull(uid, title, alert.source, edit=RuleEdit(alert.group, alert.alert, occurrence, fields))


def _convert(alerts: Sequence[PromAlert], folder_uid: str, datasource_uid: str) -> dict[str, dict[str, Any]]:
    """Bodies by uid of the converted rules (converted together: titles depend on each other)."""
    return {r.uid: r.body() for g in convert_alerts(alerts, folder_uid, datasource_uid) for r in g.rules}


def occurrences(alerts: Sequence[PromAlert]) -> list[int]:
    """For each alert, how many alerts of its name came before it in its group (as ``rule_uid`` counts)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for a in alerts:
        out.append(seen.get((a.group, a.alert), 0))
        seen[(a.group, a.alert)] = out[-1] + 1
    return out


__all__ = ["RulePull", "map_back", "occurrences"]
