"""The desired Grafana state as values: folder, dashboards, rule groups, contact points; pure."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml

from watchtower.core.results import ItemError
from watchtower.core.settings import SecretRef
from watchtower.provisioning import templates

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


# the types JSON decodes to that hold no other value: tree walks copy them as they are, without a call
JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


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
