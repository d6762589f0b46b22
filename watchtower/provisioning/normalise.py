"""The normalised model of a dashboard, alert rule (group) and contact point; pure.

Drift detection, ``grafana diff`` and ``grafana pull`` all compare *this* form, so code and
live Grafana compare equal when nobody edited anything:

- keys sorted at every level (a stable order; ``order_like`` restores a file's own order);
- what Grafana adds or bumps on every save is dropped: ``id``, ``version``, ``iteration``,
  ``orgID``, ``updated``, ``provenance`` (dashboard meta never enters the model);
- a dashboard's datasource references to the configured Prometheus (``{"uid": "prometheus"}``,
  ``$datasource``) become the ``${datasource}`` variable the code uses; the ``cluster`` variable
  and every other template variable are kept as they are;
- Grafana's server-side defaults are folded: rule queries go through ``rules.pre_save``
  (``AlertQuery.PreSave``: ``maxDataPoints``/``intervalMs``), ``for`` becomes a Go duration,
  absent/null/default rule fields (``isPaused: false``, ``keep_firing_for: 0s``,
  ``notification_settings: null``, empty labels) are left out, and contact point settings that
  are empty are left out;
- contact point secrets are ``[REDACTED]`` (Grafana never shows them; a backup never holds them).

``content_hash`` is the SHA-256 of the canonical JSON text of a normalised model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from watchtower.core.settings import parse_duration
from watchtower.provisioning.model import JSON_SCALARS, canonical, go_duration
from watchtower.provisioning.rules import pre_save

DATASOURCE_VARIABLE = "${datasource}"
REDACTED = "[REDACTED]"
DASHBOARD_VOLATILE = frozenset({"id", "version", "iteration"})
RULE_VOLATILE = frozenset({"id", "orgID", "updated", "provenance", "version", "updated_by"})
# rule fields whose value here means "not set" (Grafana returns or omits them either way)
RULE_DEFAULTS: Mapping[str, Any] = {"isPaused": False, "keep_firing_for": "0s", "labels": {},
                                    "annotations": {}, "notification_settings": None, "record": None}
_DATASOURCE_ALIASES = frozenset({"$datasource", "${datasource}", "[[datasource]]"})


def sorted_tree(value: Any) -> Any:
    """``value`` with every mapping's keys in sorted order (lists keep theirs)."""
    kind = type(value)  # exact-type checks first (isinstance against the Mapping ABC is slow); leaves not recursed into
    if kind is dict or (kind not in JSON_SCALARS and isinstance(value, Mapping)):
        out = {}
        for k in sorted(value, key=str):
            v = value[k]
            out[str(k)] = v if type(v) in JSON_SCALARS else sorted_tree(v)
        return out
    if kind is list or kind is tuple or (kind not in JSON_SCALARS and isinstance(value, (list, tuple))):
        return [v if type(v) in JSON_SCALARS else sorted_tree(v) for v in value]
    return value


def content_hash(model: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a normalised model: equal models, equal hashes."""
    return text_hash(canonical(model))


def text_hash(text: str) -> str:
    """``content_hash`` of the model whose ``canonical`` text this is (for a caller that has the text already)."""
    return hashlib.sha256(text.encode()).hexdigest()


def file_text(model: Any) -> str:
    """Deterministic JSON for a file: two-space indent, keys as given, a final newline."""
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def order_like(model: Any, reference: Any) -> Any:
    """``model`` with each mapping's keys in ``reference``'s order (new keys after, sorted).

    Lists are matched by position, so a file written back from live Grafana keeps the layout
    of the file it replaces and its diff shows only what changed.
    """
    if isinstance(model, Mapping):
        ref = reference if isinstance(reference, Mapping) else {}
        keys = [k for k in ref if k in model] + sorted((k for k in model if k not in ref), key=str)
        return {k: order_like(model[k], ref.get(k)) for k in keys}
    if isinstance(model, list):
        ref_list = reference if isinstance(reference, list) else []
        return [order_like(v, ref_list[i] if i < len(ref_list) else None) for i, v in enumerate(model)]
    return model


# --------------------------------------------------------------------------------------------
# Dashboards


def _datasource_ref(value: Any, uids: Collection[str]) -> Any:
    """A panel/target/variable ``datasource`` value with the configured datasource as the variable."""
    if isinstance(value, str) and (value in _DATASOURCE_ALIASES or value in uids):
        return DATASOURCE_VARIABLE
    if isinstance(value, Mapping) and isinstance(value.get("uid"), str):
        uid = value["uid"]
        if uid in _DATASOURCE_ALIASES or uid in uids:
            return {**value, "uid": DATASOURCE_VARIABLE}
    return value


def _datasources(value: Any, uids: Collection[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _datasource_ref(_datasources(v, uids), uids) if k == "datasource" else _datasources(v, uids)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_datasources(v, uids) for v in value]
    return value


def normalise_dashboard(model: Mapping[str, Any], datasource_uids: Collection[str] = ("prometheus",)) -> dict[str, Any]:
    """A dashboard model (code's file or the ``dashboard`` of a GET) as watchtower compares it."""
    body = {k: v for k, v in model.items() if k not in DASHBOARD_VOLATILE}
    result: dict[str, Any] = sorted_tree(_datasources(body, frozenset(datasource_uids)))
    return result


# --------------------------------------------------------------------------------------------
# Alert rules and rule groups


def _go_duration_text(value: Any) -> Any:
    if value in (None, ""):
        return "0s"
    try:
        return go_duration(float(parse_duration(value)))
    except (TypeError, ValueError):
        return value  # not a duration: compared as written


def normalise_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """One alert rule in the provisioning API's shape, server-side defaults folded."""
    out: dict[str, Any] = {}
    for key, value in rule.items():
        if key in RULE_VOLATILE or value is None:
            continue
        if key == "data":
            value = [pre_save(q) for q in value if isinstance(q, Mapping)] if isinstance(value, list) else value
        elif key in ("for", "keep_firing_for"):
            value = _go_duration_text(value)
        if key in RULE_DEFAULTS and value == RULE_DEFAULTS[key]:
            continue
        out[key] = value
    result: dict[str, Any] = sorted_tree(out)
    return result


def normalise_rule_group(title: str, folder_uid: str, interval_seconds: float | None,
                         rules: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A rule group: its interval and its rules (sorted by uid: Grafana's order is not code's)."""
    normalised = sorted((normalise_rule(r) for r in rules), key=lambda r: str(r.get("uid", "")))
    return {
        "folderUid": folder_uid,
        "interval": go_duration(interval_seconds) if interval_seconds else None,
        "rules": normalised,
        "title": title,
    }


# --------------------------------------------------------------------------------------------
# Contact points


def normalise_contact_point(point: Mapping[str, Any], secret_keys: Collection[str] = ()) -> dict[str, Any]:
    """One contact point integration; secrets as ``[REDACTED]``, empty settings left out.

    ``secret_keys`` are redacted where present; a secret missing from ``settings`` stays missing
    (so code's model lists its secret keys with any value, and a deleted secret shows)."""
    settings = point.get("settings") or {}
    shown: dict[str, Any] = {}
    for key, value in (settings.items() if isinstance(settings, Mapping) else ()):
        if key in secret_keys or value == REDACTED:
            shown[key] = REDACTED
        elif value not in (None, "", [], {}):
            shown[key] = value
    result: dict[str, Any] = sorted_tree({
        "disableResolveMessage": bool(point.get("disableResolveMessage", False)),
        "name": point.get("name"),
        "settings": shown,
        "type": point.get("type"),
        "uid": point.get("uid"),
    })
    return result


__all__ = [
    "DATASOURCE_VARIABLE", "REDACTED", "content_hash", "file_text", "normalise_contact_point", "normalise_dashboard",
    "normalise_rule", "normalise_rule_group", "order_like", "sorted_tree", "text_hash",
]
