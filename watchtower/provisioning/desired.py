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
import json
import math
from collections.abc import Sequence
from fnmatch import fnmatch
from importlib.resources.abc import Traversable
from typing import Any

from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.core.settings import format_duration, parse_duration
from watchtower.provisioning.model import (
    GRAFANA_BASE_INTERVAL,
    ContactPoint,
    Dashboard,
    DesiredState,
    Folder,
    PromRuleGroup,
    canonical,
    go_duration,
)

# the model and the rule conversion live in model.py and rules.py; what callers read from here
from watchtower.provisioning.rules import (
    PromAlert,
    convert_alerts,
    convert_annotation,
    convert_template,
    parse_rule_file,
    pre_save,
    presence_expr,
    rule_uid,
)
from watchtower.provisioning.settings import GrafanaSettings, uid_problem

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


def rule_sources(settings: GrafanaSettings) -> tuple[list[tuple[str, str]], list[ItemError]]:
    """(name, text) of each configured rule file, as ``load`` reads them (``grafana pull`` edits them)."""
    return _read_sources(settings.alerts_path(), "*.rules.yaml")


def load(settings: GrafanaSettings) -> DesiredState:
    """Read the configured dashboards and alerts directories and build the desired state."""
    dashboard_files, p1 = _read_sources(settings.dashboards_path(), "*.json")
    rule_files, p2 = rule_sources(settings)
    state = build(settings, dashboard_files, rule_files)
    return dataclasses.replace(state, problems=tuple(p1 + p2) + state.problems)


__all__ = [
    "DesiredState", "build", "contact_points", "convert_annotation", "convert_template", "go_duration", "load", "notification_policy", "parse_dashboard", "pre_save", "presence_expr", "rule_sources", "rule_uid",
]
