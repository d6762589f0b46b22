"""The desired Grafana state, computed purely from dashboards/*.json, alerts/*.rules.yaml and settings.

Nothing here talks to Grafana or reads a secret: the API reconciler (``api.py``) and the file
renderer (``render.py``) both start from the same ``DesiredState``. Secrets appear only as
``SecretRef`` (where the secret lives), resolved at the last moment by whoever sends them.

Converting a Prometheus alert into a Grafana-managed rule
----------------------------------------------------------
A Prometheus alerting rule fires for *every series its expression returns*, whatever the
value: ``watchtower_collector_success == 0`` returns series whose value is 0 and they fire.
A Grafana rule instead fires when its condition expression is non-zero, so the naive
``[query EXPR, reduce last, threshold > 0]`` would never fire for those series (and would
also miss negative and NaN values). The condition query is therefore::

    count without () (EXPR)

which turns each returned series into one series with the same labels (minus ``__name__``,
which Prometheus drops from alerts as well) and the value 1, whatever the original value was
(0, negative, NaN, +Inf). ``absent(...)`` and ``vector(1)`` return one series with value 1 and
stay 1. Then ``B = last(A)`` and ``C = B > 0`` fire exactly for the series Prometheus would
fire for. An empty result is "no data", which Prometheus treats as "nothing fires", hence
``noDataState: OK``. Query errors become Grafana's ``Error`` state (a DatasourceError alert).

Templates (``templates.py``): ``{{ $labels.x }}`` works the same in Grafana. ``$value`` (the
sample value; Grafana's own ``$value`` is its evaluation *string*) is rewritten to
``$values.VALUE.Value``, where VALUE is ``last()`` of a second query ``(EXPR) + 0`` (the original
value with the same labels as the condition series); that second query is only added to rules
whose labels or annotations use ``$value``. An annotation that calls a function Grafana does not
run (``query`` and what reads its result) gets a Grafana-specific text saying so instead of
template text that would fail at notification time.

Every query model carries Grafana's PreSave defaults (``maxDataPoints``, ``intervalMs``), so
what watchtower sends is what Grafana stores and a second run finds nothing to change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.core.settings import SecretRef, format_duration, parse_duration
from watchtower.provisioning import templates
from watchtower.provisioning.settings import GrafanaSettings, uid_problem

EXPR_DATASOURCE_UID = "__expr__"
CONDITION_REF = "C"
VALUE_REF = templates.VALUE_REF
NO_DATA_STATE = "OK"  # an empty result: Prometheus fires nothing, so neither does Grafana
EXEC_ERR_STATE = "Error"  # a failing query raises Grafana's DatasourceError alert
QUERY_RANGE_SECONDS = 600
GRAFANA_BASE_INTERVAL = 10  # Grafana evaluates rule groups at multiples of this many seconds
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on big rule files


def go_duration(seconds: float) -> str:
    """A duration both Go's time.ParseDuration (file provisioning) and Prometheus' parser accept:
    hours, minutes, seconds only — 86400 → ``24h``, 90 → ``1m30s``, 0 → ``0s``."""
    rest = round(seconds)
    if rest == 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def canonical(obj: object) -> str:
    """Deterministic JSON text: frozen dataclasses hold it, comparisons and hashes use it."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass(frozen=True)
class Folder:
    uid: str
    title: str

    def body(self) -> dict[str, Any]:
        return {"uid": self.uid, "title": self.title}


@dataclasses.dataclass(frozen=True)
class Dashboard:
    """One dashboard JSON file; ``model_json`` is the dashboard without ``id``/``version``."""

    uid: str
    title: str
    source: str
    model_json: str

    def model(self) -> dict[str, Any]:
        return json.loads(self.model_json)


@dataclasses.dataclass(frozen=True)
class AlertRule:
    """One Grafana-managed alert rule in the provisioning API's shape (``body()``)."""

    uid: str
    title: str
    group: str
    source: str
    body_json: str

    def body(self) -> dict[str, Any]:
        return json.loads(self.body_json)


@dataclasses.dataclass(frozen=True)
class RuleGroup:
    name: str
    interval_seconds: float | None
    rules: tuple[AlertRule, ...]


@dataclasses.dataclass(frozen=True)
class ContactPoint:
    """One integration of a contact point; secret settings stay references until sent."""

    uid: str
    name: str
    type: str
    settings_json: str
    secret_settings: tuple[tuple[str, SecretRef], ...] = ()

    def settings(self) -> dict[str, Any]:
        return json.loads(self.settings_json)


@dataclasses.dataclass(frozen=True)
class PromRuleGroup:
    """A Prometheus rule group as written in alerts/, for the PrometheusRule manifest."""

    source: str
    group_json: str

    def group(self) -> dict[str, Any]:
        return json.loads(self.group_json)


@dataclasses.dataclass(frozen=True)
class DesiredState:
    folder: Folder
    dashboards: tuple[Dashboard, ...] = ()
    rule_groups: tuple[RuleGroup, ...] = ()
    contact_points: tuple[ContactPoint, ...] = ()
    policy_json: str | None = None  # the notification policy tree, None when not managed
    prometheus_groups: tuple[PromRuleGroup, ...] = ()
    problems: tuple[ItemError, ...] = ()

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return tuple(r for g in self.rule_groups for r in g.rules)

    def policy(self) -> dict[str, Any] | None:
        return json.loads(self.policy_json) if self.policy_json else None


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


def pre_save(query: Mapping[str, Any]) -> dict[str, Any]:
    """A rule query as Grafana stores it: ``maxDataPoints``/``intervalMs`` set in the model when
    missing, not a number or 0, and a string model ``queryType`` copied to the query."""
    out = json.loads(json.dumps(query))
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


# --------------------------------------------------------------------------------------------
# Dashboards


def parse_dashboard(text: str, source: str) -> tuple[Dashboard | None, ItemError | None]:
    """One dashboard JSON file → Dashboard; ``id`` and ``version`` are Grafana's to set."""
    try:
        model = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, ItemError(f"{source}:{exc.lineno}", "invalid_json", exc.msg)
    if not isinstance(model, dict):
        return None, ItemError(source, "invalid_dashboard", "a dashboard must be a JSON object")
    if "dashboard" in model and isinstance(model["dashboard"], dict) and "panels" not in model:
        return None, ItemError(source, "invalid_dashboard", "an API wrapper ({\"dashboard\": ...}); store the dashboard itself")
    problem = uid_problem(model.get("uid"))
    if problem:
        return None, ItemError(source, "invalid_dashboard", problem)
    title = model.get("title")
    if not isinstance(title, str) or not title.strip():
        return None, ItemError(source, "invalid_dashboard", "a dashboard needs a non-empty title")
    model = {k: v for k, v in model.items() if k not in ("id", "version")}
    return Dashboard(model["uid"], title, source, canonical(model)), None


# --------------------------------------------------------------------------------------------
# Contact points and the notification policy


def contact_points(settings: GrafanaSettings) -> tuple[ContactPoint, ...]:
    """E-mail and Slack integrations, all under one contact point name the policy routes to."""
    points = []
    if settings.email_addresses:
        points.append(ContactPoint(
            uid="wt-email", name=settings.contact_point, type="email",
            settings_json=canonical({"addresses": ";".join(settings.email_addresses), "singleEmail": False}),
        ))
    if settings.slack_webhook is not None:
        slack = {"recipient": settings.slack_channel} if settings.slack_channel else {}
        points.append(ContactPoint(
            uid="wt-slack", name=settings.contact_point, type="slack",
            settings_json=canonical(slack), secret_settings=(("url", settings.slack_webhook),),
        ))
    return tuple(points)


def notification_policy(settings: GrafanaSettings, points: Sequence[ContactPoint]) -> dict[str, Any] | None:
    if not settings.manage_policy or not points:
        return None
    return {
        "receiver": settings.contact_point,
        "group_by": list(settings.group_by),
        "group_wait": go_duration(settings.group_wait),
        "group_interval": go_duration(settings.group_interval),
        "repeat_interval": go_duration(settings.repeat_interval),
    }


# --------------------------------------------------------------------------------------------
# Putting it together


def build(
    settings: GrafanaSettings,
    dashboard_files: Sequence[tuple[str, str]],
    rule_files: Sequence[tuple[str, str]],
) -> DesiredState:
    """The desired state from (source name, text) pairs; pure, so tests feed it strings."""
    problems: list[ItemError] = []
    dashboards: list[Dashboard] = []
    seen_uids: dict[str, str] = {}
    for source, text in dashboard_files:
        dashboard, problem = parse_dashboard(text, source)
        if problem:
            problems.append(problem)
            continue
        assert dashboard is not None
        if dashboard.uid in seen_uids:
            problems.append(ItemError(source, "duplicate_uid", f"uid {dashboard.uid!r} is already used by {seen_uids[dashboard.uid]}"))
            continue
        seen_uids[dashboard.uid] = source
        dashboards.append(dashboard)
    alerts: list[PromAlert] = []
    prom_groups: list[PromRuleGroup] = []
    group_sources: dict[str, str] = {}
    for source, text in rule_files:
        groups, file_alerts, file_problems = parse_rule_file(text, source)
        problems += file_problems
        clashing = {g["name"] for g in groups if g["name"] in group_sources}
        for name in sorted(clashing):
            problems.append(ItemError(source, "duplicate_group", f"rule group {name!r} is already defined in {group_sources[name]}"))
        for g in groups:
            if g["name"] not in clashing:
                group_sources[g["name"]] = source
                prom_groups.append(PromRuleGroup(source, canonical(g)))
        alerts += [a for a in file_alerts if a.group not in clashing]
    points = contact_points(settings)
    policy = notification_policy(settings, points)
    rule_groups = convert_alerts(alerts, settings.folder_uid, settings.datasource_uid)
    intervals = {}
    for pg in prom_groups:
        interval = pg.group().get("interval")
        if interval is not None:
            try:
                seconds = float(parse_duration(interval))
            except ValueError:
                problems.append(ItemError(pg.source, "invalid_rule_file", f"group interval {interval!r} is not a duration"))
                continue
            grafana_seconds = max(GRAFANA_BASE_INTERVAL, math.ceil(seconds / GRAFANA_BASE_INTERVAL) * GRAFANA_BASE_INTERVAL)
            if grafana_seconds != seconds:
                problems.append(ItemError(f"{pg.source}: group {pg.group()['name']}", "interval_rounded",
                                          f"interval {interval} is evaluated every {format_duration(grafana_seconds)} in "
                                          f"Grafana (a multiple of {GRAFANA_BASE_INTERVAL}s)"))
            intervals[pg.group()["name"]] = float(grafana_seconds)
    rule_groups = tuple(dataclasses.replace(g, interval_seconds=intervals.get(g.name)) for g in rule_groups)
    return DesiredState(
        folder=Folder(settings.folder_uid, settings.folder_title),
        dashboards=tuple(dashboards),
        rule_groups=rule_groups,
        contact_points=points,
        policy_json=canonical(policy) if policy else None,
        prometheus_groups=tuple(prom_groups),
        problems=tuple(problems),
    )


def _read_sources(directory: Traversable, pattern: str) -> tuple[list[tuple[str, str]], list[ItemError]]:
    """(name, text) of each file matching ``pattern``: a directory or a package resource alike."""
    files: list[tuple[str, str]] = []
    problems: list[ItemError] = []
    if not directory.is_dir():
        return files, [ItemError(str(directory), "missing_directory", "not a directory")]
    for entry in sorted((e for e in directory.iterdir() if fnmatch(e.name, pattern) and e.is_file()), key=lambda e: e.name):
        try:
            files.append((str(entry), entry.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(ItemError(str(entry), reasons.READ_ERROR, str(getattr(exc, "strerror", None) or exc)))
    return files, problems


def load(settings: GrafanaSettings) -> DesiredState:
    """Read the configured dashboards and alerts directories and build the desired state."""
    dashboard_files, p1 = _read_sources(settings.dashboards_path(), "*.json")
    rule_files, p2 = _read_sources(settings.alerts_path(), "*.rules.yaml")
    state = build(settings, dashboard_files, rule_files)
    return dataclasses.replace(state, problems=tuple(p1 + p2) + state.problems)
