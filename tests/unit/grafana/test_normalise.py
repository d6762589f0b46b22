"""The normalised model: code and what Grafana stores compare equal; a real edit does not."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping
from types import MappingProxyType

import pytest

from tests.grafana_api import format_prometheus_duration
from tests.grafana_api import pre_save as grafana_pre_save
from watchtower.core.settings import parse_duration
from watchtower.provisioning import desired
from watchtower.provisioning.normalise import (
    DATASOURCE_VARIABLE,
    REDACTED,
    content_hash,
    file_text,
    normalise_contact_point,
    normalise_dashboard,
    normalise_rule,
    normalise_rule_group,
    order_like,
    sorted_tree,
)
from watchtower.provisioning.rules import _json_copy, pre_save
from watchtower.provisioning.settings import GrafanaSettings

STATE = desired.load(GrafanaSettings(url="http://grafana.invalid"))


def stored_dashboard(model: dict, version: int = 3) -> dict:
    """What GET /api/dashboards/uid/:uid returns as ``dashboard`` after an API save."""
    return {**copy.deepcopy(model), "id": 17, "version": version, "iteration": 1712345678901}


def stored_rule(body: dict) -> dict:
    """What the provisioning API returns for a rule: PreSave, ``for`` re-formatted, server fields."""
    out = copy.deepcopy(body)
    out["data"] = [grafana_pre_save(q) for q in out["data"]]
    out["for"] = format_prometheus_duration(float(parse_duration(out.get("for") or "0s")))
    out.update(id=99, orgID=1, updated="2026-12-02T22:00:00Z", provenance="api", notification_settings=None)
    return out


def test_every_shipped_dashboard_equals_its_stored_form() -> None:
    assert STATE.dashboards
    for dashboard in STATE.dashboards:
        code = normalise_dashboard(dashboard.model())
        live = normalise_dashboard(stored_dashboard(dashboard.model()))
        assert code == live, dashboard.uid
        assert content_hash(code) == content_hash(live)
        assert "id" not in live and "version" not in live and "iteration" not in live


def test_every_shipped_rule_equals_its_stored_form() -> None:
    assert STATE.rules
    for rule in STATE.rules:
        assert normalise_rule(rule.body()) == normalise_rule(stored_rule(rule.body())), rule.uid


def test_presave_defaults_are_folded_not_lost() -> None:
    body = STATE.rules[0].body()
    bare = copy.deepcopy(body)
    for query in bare["data"]:
        query["model"].pop("maxDataPoints", None)
        query["model"].pop("intervalMs", None)
    assert normalise_rule(bare) == normalise_rule(body)
    edited = copy.deepcopy(body)
    edited["data"][0]["model"]["maxDataPoints"] = 500  # a real edit survives
    assert normalise_rule(edited) != normalise_rule(body)


def test_concrete_datasource_uid_becomes_the_variable_cluster_variable_kept() -> None:
    model = json.loads(STATE.dashboards[0].model_json)
    i = next(n for n, p in enumerate(model["panels"]) if p.get("targets"))
    ui_saved = stored_dashboard(model)
    ui_saved["panels"][i]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    for target in ui_saved["panels"][i]["targets"]:
        target["datasource"] = {"type": "prometheus", "uid": "$datasource"}
    live = normalise_dashboard(ui_saved, datasource_uids=("prometheus",))
    assert live == normalise_dashboard(model)
    assert live["panels"][i]["datasource"]["uid"] == DATASOURCE_VARIABLE
    names = [v["name"] for v in live["templating"]["list"]]
    assert "cluster" in names and "datasource" in names
    other = stored_dashboard(model)
    other["panels"][i]["datasource"] = {"type": "prometheus", "uid": "another-prometheus"}
    assert normalise_dashboard(other) != normalise_dashboard(model)


def test_keys_sorted_and_hash_independent_of_input_order() -> None:
    a = normalise_dashboard({"uid": "x", "title": "T", "panels": [{"type": "stat", "id": 1}]})
    b = normalise_dashboard({"panels": [{"id": 1, "type": "stat"}], "title": "T", "uid": "x", "version": 9})
    assert list(a) == sorted(a) and list(a["panels"][0]) == ["id", "type"]  # a panel's id is kept
    assert a == b and content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({**a, "title": "U"})
    assert file_text(a).endswith("}\n") and json.loads(file_text(a)) == a


def test_rule_defaults_and_volatile_fields_folded() -> None:
    rule = {"uid": "r1", "title": "T", "for": "24h", "labels": {}, "isPaused": False, "data": []}
    live = {**rule, "for": "1d", "keep_firing_for": "0s", "updated": "now", "version": 4, "record": None}
    assert normalise_rule(rule) == normalise_rule(live)
    assert normalise_rule(rule)["for"] == "24h"
    assert normalise_rule({**live, "isPaused": True}) != normalise_rule(rule)


def test_rule_group_order_insensitive() -> None:
    group = STATE.rule_groups[0]
    rules = [r.body() for r in group.rules]
    a = normalise_rule_group(group.name, "watchtower", 60, rules)
    b = normalise_rule_group(group.name, "watchtower", 60, [stored_rule(r) for r in reversed(rules)])
    assert a == b and a["interval"] == "1m"
    assert normalise_rule_group(group.name, "watchtower", 120, rules) != a


def test_contact_point_secret_redacted_and_empty_settings_folded() -> None:
    code = {"uid": "wt-slack", "name": "watchtower", "type": "slack",
            "settings": {"recipient": "#ops", "url": "https://hooks.slack.invalid/T000/SECRET"}}
    live = {"uid": "wt-slack", "name": "watchtower", "type": "slack", "provenance": "api",
            "settings": {"recipient": "#ops", "url": REDACTED, "title": ""}, "disableResolveMessage": False}
    a, b = normalise_contact_point(code, ("url",)), normalise_contact_point(live, ("url",))
    assert a == b
    assert "SECRET" not in json.dumps(a)
    gone = {**live, "settings": {"recipient": "#ops"}}
    assert normalise_contact_point(gone, ("url",)) != a  # a deleted secret is a difference


def test_order_like_keeps_the_files_layout() -> None:
    reference = {"uid": "x", "title": "T", "panels": [{"type": "stat", "title": "A"}]}
    model = normalise_dashboard({**reference, "panels": [{"type": "stat", "title": "B", "new": 1}], "tags": ["t"]})
    ordered = order_like(model, reference)
    assert list(ordered) == ["uid", "title", "panels", "tags"]
    assert list(ordered["panels"][0]) == ["type", "title", "new"]
    assert ordered == model


def _reference_sorted_tree(value: object) -> object:
    """sorted_tree as first written (isinstance only): the fast paths must give the same."""
    if isinstance(value, Mapping):
        return {str(k): _reference_sorted_tree(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_reference_sorted_tree(v) for v in value]
    return value


def _tree(rng: random.Random, depth: int = 0) -> object:
    leaves = ["a", "", "\ud800", 0, -(10**20), 1.5, -0.0, float("inf"), True, False, None,
              (1, [2]), {1: "a", "1": "b"}, {None: 1, True: 2, "b": 3}, {"a": (1, {2: 3})},
              MappingProxyType({"z": 1, "y": (3,)}), bytes(1)]
    choice = rng.randrange(4 if depth < 4 else 1)
    if choice == 0:
        return rng.choice(leaves)
    if choice == 1:
        return [_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice("abcdefg"): _tree(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_fast_copy_and_sort_equal_the_json_round_trip_and_the_generic_sort() -> None:
    """pre_save's copy is json.loads(json.dumps(...)) without the text, and sorted_tree skips
    isinstance for plain values (the idle reconcile runs both thousands of times): same results,
    same errors, the input never aliased."""
    rng = random.Random(14)
    for _ in range(5000):
        tree = {"model": _tree(rng), "refId": "A"}
        assert repr(sorted_tree(tree)) == repr(_reference_sorted_tree(tree))
        try:
            expected: object = json.loads(json.dumps(tree))
        except TypeError as exc:
            with pytest.raises(TypeError):
                _json_copy(tree)
            assert "not JSON serializable" in str(exc)
            continue
        before = repr(tree)
        copied = _json_copy(tree)
        assert repr(copied) == repr(expected)
        copied["model"] = {"changed": [1]}
        assert repr(tree) == before
        query = copy.deepcopy(tree)
        assert repr(pre_save(query)) == repr(pre_save(json.loads(json.dumps(tree))))
        assert repr(query) == before
