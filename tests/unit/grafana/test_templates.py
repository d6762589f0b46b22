"""Converted alert templates call only what Grafana-managed alerts can run.

The supported set is read from Grafana's source (pkg/services/ngalert/state/template/
template.go: Prometheus' template expander with a no-op ``query``, plus funcs.go's own
functions) and Go's text/template builtins; see watchtower/provisioning/templates.py.
"""

from __future__ import annotations

import pytest

from watchtower.provisioning import desired, templates
from watchtower.provisioning.settings import GrafanaSettings

STATE = desired.load(GrafanaSettings())
CONVERTED = [(rule.title, key, text) for rule in STATE.rules
             for key, text in {**rule.body()["annotations"], **rule.body()["labels"]}.items()]


def test_the_repository_rules_are_converted() -> None:
    assert STATE.problems == ()
    assert len(STATE.rules) >= 30


@pytest.mark.parametrize("title, key, text", CONVERTED, ids=[f"{t}:{k}" for t, k, _ in CONVERTED])
def test_each_converted_template_uses_only_grafana_functions(title: str, key: str, text: str) -> None:
    used = templates.functions(text)
    assert used <= templates.GRAFANA_FUNCTIONS, f"{title} {key}: {sorted(used - templates.GRAFANA_FUNCTIONS)}"
    assert "$value " not in text and not text.endswith("$value") and "$value}" not in text
    assert "$$" not in text


def test_listing_of_functions_per_rule_is_not_empty_where_templates_are() -> None:
    """The check above has teeth: the rules do call functions, and some needed the fallback."""
    used = set().union(*(templates.functions(t) for _, _, t in CONVERTED))
    assert {"humanizeDuration", "printf"} <= used
    assert any("Grafana-managed alerts do not run" in t for _, _, t in CONVERTED)


def test_query_is_not_supported_and_gets_the_fallback() -> None:
    text = '{{ with query "up" }}{{ . | first | value }}{{ else }}none{{ end }}'
    assert templates.unsupported(text) == ["first", "query", "value"]
    converted = desired.convert_annotation("description", text)
    assert "query" in converted and templates.functions(converted) <= templates.GRAFANA_FUNCTIONS


def test_value_becomes_grafanas_number_outside_rebinding_blocks() -> None:
    assert desired.convert_template("{{ $value | humanizeDuration }}") == "{{ $values.VALUE.Value | humanizeDuration }}"
    assert desired.convert_template("{{ .Value }}") == "{{ $values.VALUE.Value }}"
    inner = '{{ with $labels.x }}{{ .Value }}{{ end }}'
    assert desired.convert_template(inner) == inner  # the dot is rebound: not the alert's value
    assert desired.convert_template('{{ printf "$value" }}') == '{{ printf "$value" }}'  # strings untouched
    assert desired.convert_template("{{ $values.B.Value }}") == "{{ $values.B.Value }}"


def test_functions_ignores_strings_comments_and_fields() -> None:
    text = '{{/* query */}}{{ if lt $value 0.0 }}{{ "humanize" }}{{ (index $labels "x").Labels.y }}{{ end }}'
    assert templates.functions(text) == {"lt", "index"}


def test_value_query_only_where_the_kept_text_uses_value() -> None:
    rules = ("groups:\n- name: g\n  rules:\n"
             "  - alert: A\n    expr: up == 0\n    annotations: {summary: '{{ $value }}'}\n"
             "  - alert: B\n    expr: up == 0\n    annotations: {summary: '{{ with query \"x\" }}{{ $value }}{{ end }}'}\n")
    state = desired.build(GrafanaSettings(), [], [("r.rules.yaml", rules)])
    refs = {r.title: [d["refId"] for d in r.body()["data"]] for r in state.rules}
    assert refs == {"A": ["A", "B", "C", "V", "VALUE"], "B": ["A", "B", "C"]}
