"""Rule edits back into Prometheus rule files: mapping a Grafana rule back, editing the text in place."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml

from watchtower.provisioning.desired import build
from watchtower.provisioning.ruleedit import EditError, RuleEdit, apply, set_group_interval
from watchtower.provisioning.rulemap import map_back, occurrences
from watchtower.provisioning.rulepull import pull_rules
from watchtower.provisioning.rules import convert_alerts, parse_rule_file
from watchtower.provisioning.settings import GrafanaSettings

FILE = """# header comment
groups:
  - name: g
    interval: 1m
    rules:
      - alert: Stale
        # why this expression
        expr: time() - last_success > 3600
        for: 15m
        labels: {severity: warning}
        annotations:
          summary: "data is {{ $value | humanizeDuration }} old"
          description: >-
            A long text
            folded over lines.
      - alert: Down
        expr: |
          up
            == 0
        labels:
          severity: critical
          team: infra
"""


def _alerts() -> list:
    return parse_rule_file(FILE, "x.rules.yaml")[1]


def _live(alert_index: int, **changes: object) -> dict:
    alerts = _alerts()
    body = [r for g in convert_alerts(alerts, "wt", "prom") for r in g.rules][alert_index].body()
    live = copy.deepcopy(body)
    live.update(changes)
    return {**live, "id": 9, "updated": "2026-01-01T00:00:00Z", "provenance": ""}


def test_edits_touch_only_their_lines() -> None:
    out = apply(FILE, RuleEdit("g", "Stale", 0, {"for": "20m", "labels": {"severity": "critical", "owner": "me"}}))
    assert out.replace("for: 20m", "for: 15m").replace(
        "labels: {severity: critical, owner: me}", "labels: {severity: warning}") == FILE
    out = apply(FILE, RuleEdit("g", "Down", 0, {"labels": {"severity": "critical", "page": "yes"},
                                                 "expr": "up == 0 and on() vector(1)"}))
    assert "        expr: up == 0 and on() vector(1)\n        labels:\n          severity: critical\n" \
           "          page: yes\n" in out.replace("'yes'", "yes")
    assert yaml.safe_load(out)["groups"][0]["rules"][1]["labels"] == {"severity": "critical", "page": "yes"}
    assert out.startswith("# header comment\n") and "# why this expression" in out


def test_multi_line_values_and_new_mappings() -> None:
    text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
    out = apply(text, RuleEdit("g", "A", 0, {"expr": "sum(\n  up\n)", "annotations": {"summary": "s"}, "for": "5m"}))
    rule = yaml.safe_load(out)["groups"][0]["rules"][0]
    assert rule == {"alert": "A", "expr": "sum(\n  up\n)", "for": "5m", "annotations": {"summary": "s"}}
    assert "expr: |-\n          sum(\n            up\n          )\n" in out


def test_comments_stay_on_their_lines() -> None:
    text = ("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up  # why\n        labels:\n"
            "          a: x  # first\n          b: y  # second\n")
    out = apply(text, RuleEdit("g", "A", 0, {"for": "1m", "labels": {"a": "x", "c": "z"}}))
    assert out == ("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up  # why\n        for: 1m\n"
                   "        labels:\n          a: x  # first\n          c: z\n")


def test_a_missing_alert_is_an_edit_error() -> None:
    with pytest.raises(EditError):
        apply(FILE, RuleEdit("g", "Nope", 0, {"for": "1m"}))


def test_a_value_template_maps_back_to_dollar_value() -> None:
    alerts = _alerts()
    live = _live(0)
    live["annotations"] = {**live["annotations"],
                           "summary": live["annotations"]["summary"].replace(" old", " stale")}
    pulled = map_back(alerts[0], 0, alerts, live, "wt", "prom")
    assert pulled.reason == ""
    assert pulled.edit is not None and dict(pulled.edit.fields) == {"annotations": {
        "summary": "data is {{ $value | humanizeDuration }} stale",
        "description": "A long text folded over lines."}}


def test_an_expression_edit_maps_back_when_both_queries_agree() -> None:
    alerts = _alerts()
    edited = dataclasses.replace(alerts[0], expr="time() - last_success > 7200")
    want = next(r for g in convert_alerts([edited, alerts[1]], "wt", "prom") for r in g.rules).body()
    pulled = map_back(alerts[0], 0, alerts, {**want, "updated": "x"}, "wt", "prom")
    assert pulled.edit is not None and dict(pulled.edit.fields) == {"expr": "time() - last_success > 7200"}
    only_a = copy.deepcopy(want)
    only_a["data"][0]["model"]["expr"] = "count without () (other)"  # the value query V still says the old one
    assert "query chain" in map_back(alerts[0], 0, alerts, only_a, "wt", "prom").reason


def test_what_a_prometheus_rule_cannot_say_is_a_reason() -> None:
    alerts = _alerts()
    reason = map_back(alerts[1], 0, alerts, _live(1, noDataState="Alerting", title="Renamed"), "wt", "prom").reason
    assert "renamed to 'Renamed'" in reason and "noDataState changed to 'Alerting'" in reason
    assert occurrences(alerts) == [0, 0]


def test_a_stand_in_annotation_edited_in_grafana_does_not_replace_the_rule_files_text() -> None:
    text = FILE.replace('description: >-\n            A long text\n            folded over lines.',
                        'description: \'{{ with query "up" }}{{ . | first | value }}{{ end }}\'')
    alerts = parse_rule_file(text, "x.rules.yaml")[1]
    body = next(r for g in convert_alerts(alerts, "wt", "prom") for r in g.rules).body()
    assert "{{ with query" not in body["annotations"]["description"]  # Grafana holds a stand-in
    same = map_back(alerts[0], 0, alerts, {**body, "for": "20m"}, "wt", "prom")
    assert same.edit is not None and dict(same.edit.fields) == {"for": "20m"}
    edited = {**body, "annotations": {**body["annotations"], "description": "rewritten in Grafana"}}
    reason = map_back(alerts[0], 0, alerts, edited, "wt", "prom").reason
    assert "annotation description is a stand-in in Grafana (the rule file's text uses first, query, value" in reason


def test_a_group_interval_is_replaced_or_inserted_after_the_name() -> None:
    assert set_group_interval(FILE, "g", "2m") == FILE.replace("    interval: 1m\n", "    interval: 2m\n")
    text = "groups:\n  - name: h  # the heartbeat\n    rules: []\n"
    assert set_group_interval(text, "h", "30s") == "groups:\n  - name: h  # the heartbeat\n    interval: 30s\n    rules: []\n"
    with pytest.raises(EditError):
        set_group_interval(FILE, "nope", "1m")


def test_pull_rules_writes_a_changed_group_interval_and_names_rules_only_in_grafana() -> None:
    state = build(GrafanaSettings(enabled=True), [], [("alerts/x.rules.yaml", FILE)])
    stray = {"uid": "made-in-ui", "title": "Mine", "folderUID": state.folder.uid}
    result = pull_rules([("alerts/x.rules.yaml", FILE)], state, {"made-in-ui": stray}, {"g": 120}, "prometheus")
    assert result.files == {"x.rules.yaml": FILE.replace("interval: 1m", "interval: 2m")}
    assert result.intervals == (("g", "alerts/x.rules.yaml", "2m"),)
    assert [(p.uid, p.reason.split(":")[0]) for p in result.not_pulled] == [("made-in-ui", "exists only in Grafana")]
