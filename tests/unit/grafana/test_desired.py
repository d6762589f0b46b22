"""Desired Grafana state from rule files and dashboards: pure, fed with strings."""

from __future__ import annotations

import json

import pytest

from watchtower.core.settings import SecretRef
from watchtower.provisioning import desired
from watchtower.provisioning.settings import GRAFANA_UID_MAX, GrafanaSettings

RULES = """
groups:
  - name: certs
    interval: 2m
    rules:
      - record: job:up:sum
        expr: sum(up)
      - alert: CertExpiring
        expr: watchtower_cert_not_after_seconds - time() < 7 * 86400
        for: 10m
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.path }} expires in {{ $value | humanizeDuration }}"
      - alert: CertExpiring
        expr: watchtower_cert_not_after_seconds - time() < 30 * 86400
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.path }} expires soon"}
  - name: pipeline
    rules:
      - alert: CollectorFailing
        expr: watchtower_collector_success == 0
        for: 15m
        labels: {severity: warning}
"""


def dashboard(uid: str = "wt-overview", title: str = "Overview", **extra: object) -> str:
    return json.dumps({"uid": uid, "title": title, "id": 7, "version": 12, "panels": [], **extra})


def build(**settings: object) -> desired.DesiredState:
    s = GrafanaSettings(url="http://grafana.test", email_addresses=("oncall@example.org",), **settings)  # type: ignore[arg-type]
    return desired.build(s, [("dashboards/overview.json", dashboard())], [("alerts/certs.rules.yaml", RULES)])


def test_one_grafana_group_per_prometheus_group_and_recording_rules_skipped() -> None:
    state = build()
    assert state.problems == ()
    assert [(g.name, len(g.rules)) for g in state.rule_groups] == [("certs", 2), ("pipeline", 1)]
    assert [g.interval_seconds for g in state.rule_groups] == [120.0, None]


def test_rule_body_has_query_reduce_threshold_and_keeps_labels_for_annotations() -> None:
    rule = build(datasource_uid="prom-main").rule_groups[1].rules[0]
    body = rule.body()
    assert [d["refId"] for d in body["data"]] == ["A", "B", "C"]
    query, reduce, threshold = body["data"]
    assert query["datasourceUid"] == "prom-main"
    assert query["model"]["expr"] == "count without () (watchtower_collector_success == 0)"
    assert query["model"]["instant"] is True
    assert reduce["model"] | {} == reduce["model"] and reduce["model"]["reducer"] == "last"
    assert reduce["model"]["expression"] == "A"
    assert threshold["model"]["expression"] == "B"
    assert threshold["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}
    assert body["condition"] == "C"
    assert body["for"] == "15m"
    assert body["labels"] == {"severity": "warning"}
    assert body["folderUID"] == "watchtower"
    assert body["ruleGroup"] == "pipeline"
    assert body["noDataState"] == "OK"
    assert body["execErrState"] == "Error"


def test_value_template_uses_a_separate_value_query() -> None:
    critical = build().rule_groups[0].rules[0].body()
    assert critical["annotations"]["summary"] == "{{ $labels.path }} expires in {{ $values.VALUE.Value | humanizeDuration }}"
    refs = [d["refId"] for d in critical["data"]]
    assert refs == ["A", "B", "C", "V", "VALUE"]
    value_query = critical["data"][3]["model"]["expr"]
    assert value_query == "(watchtower_cert_not_after_seconds - time() < 7 * 86400) + 0"
    assert critical["data"][4]["model"]["expression"] == "V"


@pytest.mark.parametrize("text, expected", [
    ("{{ $value }}", "{{ $values.VALUE.Value }}"),
    ("{{ $value | humanize }} and {{ $labels.x }}", "{{ $values.VALUE.Value | humanize }} and {{ $labels.x }}"),
    ("{{ $values.B }} stays", "{{ $values.B }} stays"),
    ("{{ printf \"%.0f\" $value }}", "{{ printf \"%.0f\" $values.VALUE.Value }}"),
])
def test_convert_template(text: str, expected: str) -> None:
    assert desired.convert_template(text) == expected


def test_presence_expr_survives_a_trailing_comment() -> None:
    expr = "up == 0 # the target is down"
    converted = desired.presence_expr(expr)
    assert converted.endswith("\n)")
    assert converted.startswith("count without () (")


def test_duplicate_alert_names_get_unique_titles_and_uids() -> None:
    rules = build().rule_groups[0].rules
    assert [r.title for r in rules] == ["CertExpiring (critical)", "CertExpiring (warning)"]
    assert len({r.uid for r in build().rules}) == 3
    assert all(len(r.uid) <= GRAFANA_UID_MAX for r in build().rules)
    assert [r.uid for r in build().rules] == [r.uid for r in build().rules], "uids must be stable"


def test_long_alert_names_still_give_short_uids() -> None:
    name = "A" * 120
    uid = desired.rule_uid("group", name, 0)
    assert len(uid) <= GRAFANA_UID_MAX
    assert desired.rule_uid("group", name, 0) != desired.rule_uid("group", name, 1)


def test_dashboard_id_and_version_are_grafanas() -> None:
    state = build()
    (dash,) = state.dashboards
    assert "id" not in dash.model() and "version" not in dash.model()
    assert dash.uid == "wt-overview"


@pytest.mark.parametrize("text, reason, needle", [
    (dashboard(uid="x" * 41), "invalid_dashboard", "at most 40"),
    (dashboard(uid="has space"), "invalid_dashboard", "may only contain"),
    (dashboard(title=""), "invalid_dashboard", "title"),
    ("{not json", "invalid_json", ""),
    ("[1, 2]", "invalid_dashboard", "JSON object"),
    (json.dumps({"title": "no uid"}), "invalid_dashboard", "uid"),
])
def test_bad_dashboards_are_reported_and_the_rest_kept(text: str, reason: str, needle: str) -> None:
    s = GrafanaSettings()
    state = desired.build(s, [("bad.json", text), ("good.json", dashboard())], [])
    assert [d.uid for d in state.dashboards] == ["wt-overview"]
    (problem,) = state.problems
    assert problem.location.startswith("bad.json")
    assert problem.reason == reason
    assert needle in problem.detail


def test_duplicate_dashboard_uid_is_reported() -> None:
    state = desired.build(GrafanaSettings(), [("a.json", dashboard()), ("b.json", dashboard(title="Other"))], [])
    assert [d.source for d in state.dashboards] == ["a.json"]
    assert state.problems[0].reason == "duplicate_uid"


@pytest.mark.parametrize("text, needle", [
    ("groups: [", "invalid_yaml"),
    ("rules: []", "invalid_rule_file"),
    ("groups:\n- name: g\n  rules:\n  - alert: X\n", "invalid_rule"),
    ("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n    for: soon\n", "invalid_rule"),
])
def test_bad_rule_files_are_reported_and_other_files_kept(text: str, needle: str) -> None:
    state = desired.build(GrafanaSettings(), [], [("bad.rules.yaml", text), ("good.rules.yaml", RULES)])
    assert len(state.rules) == 3
    assert [p.reason for p in state.problems] == [needle]
    assert state.problems[0].location.startswith("bad.rules.yaml")


def test_a_group_defined_twice_is_reported_once() -> None:
    state = desired.build(GrafanaSettings(), [], [("a.rules.yaml", RULES), ("b.rules.yaml", RULES)])
    assert len(state.rules) == 3
    assert {p.reason for p in state.problems} == {"duplicate_group"}
    assert [g.source for g in state.prometheus_groups] == ["a.rules.yaml", "a.rules.yaml"]


def test_contact_points_and_policy_hold_no_secret_value(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "slack"
    secret.write_text("https://hooks.slack.test/services/T/B/VERYSECRET\n")
    s = GrafanaSettings(email_addresses=("a@example.org", "b@example.org"), slack_webhook=SecretRef(file=str(secret)),
                        slack_channel="#oncall")
    state = desired.build(s, [], [])
    email, slack = state.contact_points
    assert email.settings() == {"addresses": "a@example.org;b@example.org", "singleEmail": False}
    assert slack.settings() == {"recipient": "#oncall"}
    assert slack.secret_settings == (("url", SecretRef(file=str(secret))),)
    assert {p.name for p in state.contact_points} == {"watchtower"}
    assert state.policy() == {"receiver": "watchtower", "group_by": ["cluster", "alertname"], "group_wait": "30s",
                              "group_interval": "5m", "repeat_interval": "4h"}
    assert "VERYSECRET" not in repr(state)


def test_no_contact_points_means_no_policy() -> None:
    assert desired.build(GrafanaSettings(), [], []).policy() is None


def test_the_repository_dashboards_and_alerts_convert_cleanly() -> None:
    """Whatever dashboards/ and alerts/ hold today must convert without a problem."""
    s = GrafanaSettings()
    assert s.dashboards_path().is_dir() and s.alerts_path().is_dir()
    state = desired.load(s)
    problems = [p for p in state.problems if p.reason != "missing_directory"]
    assert problems == []
    for rule in state.rules:
        assert len(rule.uid) <= GRAFANA_UID_MAX
        assert rule.body()["data"][0]["model"]["expr"].startswith("count without () (")


def test_group_interval_rounded_up_to_grafanas_base_interval() -> None:
    text = "groups:\n- name: fast\n  interval: 15s\n  rules:\n  - alert: X\n    expr: up == 0\n"
    state = desired.build(GrafanaSettings(), [], [("fast.rules.yaml", text)])
    assert state.rule_groups[0].interval_seconds == 20
    assert [p.reason for p in state.problems] == ["interval_rounded"]
    assert "20s" in state.problems[0].detail


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (90, "1m30s"), (86400, "24h"), (14 * 86400 + 1, "336h1s"), (600, "10m")])
def test_durations_are_spelled_for_go_and_prometheus(seconds: float, text: str) -> None:
    """File provisioning parses ``for`` with Go's time.ParseDuration, which knows no ``d``."""
    assert desired.go_duration(seconds) == text


def test_a_one_day_for_is_24h() -> None:
    text = "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up == 0\n    for: 1d\n"
    (rule,) = desired.build(GrafanaSettings(), [], [("g.rules.yaml", text)]).rules
    assert rule.body()["for"] == "24h"
