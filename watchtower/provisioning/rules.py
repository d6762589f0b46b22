"""Prometheus alert rules → Grafana alert rules: expressions, templates, uids, rule-file parsing; pure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from watchtower.core.results import ItemError
from watchtower.core.settings import parse_duration
from watchtower.provisioning import templates
from watchtower.provisioning.model import (
    _YAML_LOADER,
    CONDITION_REF,
    EXEC_ERR_STATE,
    EXPR_DATASOURCE_UID,
    JSON_SCALARS,
    NO_DATA_STATE,
    QUERY_RANGE_SECONDS,
    VALUE_REF,
    AlertRule,
    RuleGroup,
    canonical,
    go_duration,
)

# --------------------------------------------------------------------------------------------
# Expressions and templates


def presence_expr(expr: str) -> str:
    """The condition query: 1 for every series ``expr`` returns, whatever its value."""
    inner = expr.strip()
    if "#" in inner:  # a PromQL comment would swallow the closing parenthesis
        return f"count without () (\n{inner}\n)"
    return f"count without () ({inner})"


def value_expr(expr: str) -> str:
    """The original value with the same labels as the condition series (``__name__`` dropped)."""
    inner = expr.strip()
    return f"({inner}\n) + 0" if "#" in inner else f"({inner}) + 0"


# Grafana's AlertQuery.PreSave defaults (grafana/grafana pkg/services/ngalert/models/alert_query.go)
MAX_DATA_POINTS = 43200
INTERVAL_MS = 1000


def _json_copy(value: Any) -> Any:
    """``json.loads(json.dumps(value))`` without the text: plain dicts (str keys), lists and
    scalars are copied directly (the same result, ~3x faster: the idle reconcile copies every
    query several times); anything else (tuples, other key types, subclasses) still takes the
    JSON round trip, so its conversions and errors are exactly those of ``json``."""
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                return json.loads(json.dumps(value))
            out[k] = v if type(v) in JSON_SCALARS else _json_copy(v)
        return out
    if kind is list:
        return [v if type(v) in JSON_SCALARS else _json_copy(v) for v in value]
    if kind in JSON_SCALARS:
        return value
    return json.loads(json.dumps(value))


def pre_save(query: Mapping[str, Any]) -> dict[str, Any]:
    """A rule query as Grafana stores it: ``maxDataPoints``/``intervalMs`` set in the model when
    missing, not a number or 0, and a string model ``queryType`` copied to the query."""
    out: dict[str, Any] = _json_copy(query)
    model = out.get("model")
    if isinstance(model, dict):
        for key, default in (("maxDataPoints", MAX_DATA_POINTS), ("intervalMs", INTERVAL_MS)):
            value = model.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
                model[key] = default
        if isinstance(model.get("queryType"), str):
            out["queryType"] = model["queryType"]
    return out


def convert_template(text: str) -> str:
    """A Prometheus alert template → Grafana's: ``$value`` becomes ``$values.VALUE.Value``."""
    return templates.convert(text)


def uses_value(texts: Sequence[str]) -> bool:
    return any(templates.uses_value(t) for t in texts)


def convert_annotation(key: str, text: str) -> str:
    """The Grafana form of one annotation: converted, or a Grafana-specific text when it needs
    functions Grafana does not run (raw template text must never reach a notification)."""
    missing = templates.unsupported(text)
    return templates.fallback(key, missing) if missing else convert_template(text)


def _prometheus_query(ref: str, expr: str, datasource_uid: str) -> dict[str, Any]:
    return {
        "refId": ref,
        "queryType": "",
        "relativeTimeRange": {"from": QUERY_RANGE_SECONDS, "to": 0},
        "datasourceUid": datasource_uid,
        "model": {
            "refId": ref,
            "expr": expr,
            "instant": True,
            "range": False,
            "editorMode": "code",
            "intervalMs": INTERVAL_MS,
            "maxDataPoints": MAX_DATA_POINTS,
            "datasource": {"type": "prometheus", "uid": datasource_uid},
        },
    }


def _expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref,
        "queryType": "",
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPR_DATASOURCE_UID,
        "model": {"refId": ref, "datasource": {"type": "__expr__", "uid": EXPR_DATASOURCE_UID},
                  "intervalMs": INTERVAL_MS, "maxDataPoints": MAX_DATA_POINTS, **model},
    }


def rule_data(expr: str, datasource_uid: str, with_value: bool) -> list[dict[str, Any]]:
    """The query/expression chain of a converted rule: A presence, B last(A), C B > 0 [, V, VALUE]."""
    data = [
        _prometheus_query("A", presence_expr(expr), datasource_uid),
        _expression("B", {"type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": ""}}),
        _expression(CONDITION_REF, {
            "type": "threshold", "expression": "B",
            "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
        }),
    ]
    if with_value:
        data.append(_prometheus_query("V", value_expr(expr), datasource_uid))
        data.append(_expression(VALUE_REF, {
            "type": "reduce", "expression": "V", "reducer": "last", "settings": {"mode": ""},
        }))
    return data


def rule_uid(group: str, alert: str, occurrence: int) -> str:
    """A stable uid (<= 40 chars) readable in Grafana's UI: ``wt-<alert>-<hash>``."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", alert).strip("-")[:27] or "rule"
    digest = hashlib.sha1(f"{group}\0{alert}\0{occurrence}".encode()).hexdigest()[:8]
    return f"wt-{slug}-{digest}"


# --------------------------------------------------------------------------------------------
# Prometheus rule files


@dataclasses.dataclass(frozen=True)
class PromAlert:
    """One alerting rule as read from a Prometheus rule file, values validated."""

    group: str
    alert: str
    expr: str
    for_seconds: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    source: str


def _string_map(value: object, where: str, problems: list[ItemError]) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(ItemError(where, "invalid_rule", "must be a mapping of names to strings"))
        return None
    return {str(k): str(v) for k, v in value.items()}


def parse_rule_file(text: str, source: str) -> tuple[list[dict[str, Any]], list[PromAlert], list[ItemError]]:
    """Parse one Prometheus rule file: (its groups as written, its alerts, problems).

    A bad rule is reported and skipped; the rest of the file still counts.
    """
    problems: list[ItemError] = []
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        return [], [], [ItemError(where, "invalid_yaml", getattr(exc, "problem", None) or "not valid YAML")]
    if not isinstance(data, Mapping) or not isinstance(data.get("groups"), list):
        return [], [], [ItemError(source, "invalid_rule_file", "expected a mapping with a 'groups' list")]
    groups: list[dict[str, Any]] = []
    alerts: list[PromAlert] = []
    for gi, group in enumerate(data["groups"]):
        gwhere = f"{source}: groups[{gi}]"
        if not isinstance(group, Mapping) or not isinstance(group.get("name"), str) or not group.get("name"):
            problems.append(ItemError(gwhere, "invalid_rule_file", "a group needs a name"))
            continue
        rules = group.get("rules") or []
        if not isinstance(rules, list):
            problems.append(ItemError(gwhere, "invalid_rule_file", "'rules' must be a list"))
            continue
        groups.append(dict(group))
        name = group["name"]
        for ri, rule in enumerate(rules):
            where = f"{source}: group {name} rules[{ri}]"
            if not isinstance(rule, Mapping):
                problems.append(ItemError(where, "invalid_rule", "a rule must be a mapping"))
                continue
            if "record" in rule:
                continue  # recording rules stay in Prometheus
            alert, expr = rule.get("alert"), rule.get("expr")
            if not isinstance(alert, str) or not alert:
                problems.append(ItemError(where, "invalid_rule", "needs 'alert' (or 'record')"))
                continue
            where = f"{source}: alert {alert}"
            if not isinstance(expr, str) or not expr.strip():
                problems.append(ItemError(where, "invalid_rule", "needs a non-empty 'expr'"))
                continue
            try:
                for_seconds = float(parse_duration(rule.get("for", 0) or 0))
            except ValueError:
                problems.append(ItemError(where, "invalid_rule", f"'for' is not a duration: {rule.get('for')!r}"))
                continue
            labels = _string_map(rule.get("labels"), where, problems)
            annotations = _string_map(rule.get("annotations"), where, problems)
            if labels is None or annotations is None:
                continue
            alerts.append(PromAlert(name, alert, expr, for_seconds, labels, annotations, source))
    return groups, alerts, problems


def convert_alerts(alerts: Sequence[PromAlert], folder_uid: str, datasource_uid: str) -> tuple[RuleGroup, ...]:
    """Prometheus alerts → Grafana rule groups (one per Prometheus group, order kept).

    Grafana wants rule titles unique within a folder; an alert name used more than once gets
    its severity (or a number) appended to the title, while its labels stay as written.
    """
    name_counts: dict[str, int] = {}
    for a in alerts:
        name_counts[a.alert] = name_counts.get(a.alert, 0) + 1
    titles: set[str] = set()
    occurrences: dict[tuple[str, str], int] = {}
    grouped: dict[str, list[AlertRule]] = {}
    for a in alerts:
        occurrence = occurrences.get((a.group, a.alert), 0)
        occurrences[(a.group, a.alert)] = occurrence + 1
        title = a.alert
        if name_counts[a.alert] > 1:
            title = f"{a.alert} ({a.labels['severity']})" if a.labels.get("severity") else a.alert
            n = 2
            base = title
            while title in titles:
                title = f"{base} #{n}"
                n += 1
        titles.add(title)
        annotations = {k: convert_annotation(k, v) for k, v in a.annotations.items()}
        kept = [v for k, v in a.annotations.items() if annotations[k] == convert_template(v)]
        with_value = uses_value([*kept, *a.labels.values()])
        uid = rule_uid(a.group, a.alert, occurrence)
        body = {
            "uid": uid,
            "title": title,
            "ruleGroup": a.group,
            "folderUID": folder_uid,
            "orgID": 1,
            "condition": CONDITION_REF,
            "data": rule_data(a.expr, datasource_uid, with_value),
            "noDataState": NO_DATA_STATE,
            "execErrState": EXEC_ERR_STATE,
            "for": go_duration(a.for_seconds),
            "labels": {k: convert_template(v) for k, v in a.labels.items()},
            "annotations": annotations,
            "isPaused": False,
        }
        grouped.setdefault(a.group, []).append(AlertRule(uid, title, a.group, a.source, canonical(body)))
    return tuple(RuleGroup(name, None, tuple(rules)) for name, rules in grouped.items())
