"""`watchtower render`: Grafana file provisioning + PrometheusRule, and no secret anywhere in them."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.grafana_api import GrafanaAPIServer
from tests.integration.grafana.conftest import SLACK_SECRET
from tests.support.services import require_binary
from watchtower.app import cli
from watchtower.core.settings import SecretRef
from watchtower.provisioning import desired, render
from watchtower.provisioning.settings import GrafanaSettings


def rendered_text(out: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(out.rglob("*")) if p.is_file())


def test_render_layout_and_content(settings: GrafanaSettings, tmp_path: Path) -> None:
    state = desired.load(settings)
    out = tmp_path / "out"
    paths = render.render(state, out, "/dash")
    assert [p.relative_to(out).as_posix() for p in paths] == [
        "grafana/dashboards/wt-test-certs.json", "grafana/dashboards/wt-test-overview.json",
        "grafana/provisioning/alerting/watchtower.yaml", "grafana/provisioning/dashboards/watchtower.yaml",
        "prometheus/watchtower-prometheusrule.yaml",
    ]
    provider = yaml.safe_load((out / "grafana/provisioning/dashboards/watchtower.yaml").read_text())
    assert provider["apiVersion"] == 1
    assert provider["providers"][0]["options"]["path"] == "/dash"
    assert provider["providers"][0]["folderUid"] == "watchtower"
    assert json.loads((out / "grafana/dashboards/wt-test-overview.json").read_text()) == state.dashboards[1].model()

    doc = yaml.safe_load((out / "grafana/provisioning/alerting/watchtower.yaml").read_text())
    assert doc["apiVersion"] == 1
    assert [g["name"] for g in doc["groups"]] == ["pipeline", "heartbeat"]
    assert {g["folder"] for g in doc["groups"]} == {"watchtower"}
    rule = doc["groups"][0]["rules"][0]
    assert rule["data"][0]["model"]["expr"] == "count without () (watchtower_collector_success == 0)"
    # Grafana stores annotations and query models from a file raw (rules_types.go): no $$ there;
    # the interpolated fields carry no $ here, so the file rule is the API body field for field.
    assert rule["annotations"]["summary"] == "collector {{ $labels.collector }} failing"
    api_body = state.rules[0].body()
    assert rule == {k: api_body[k] for k in rule}
    (point,) = doc["contactPoints"]
    assert point["name"] == "watchtower"
    slack = next(r for r in point["receivers"] if r["type"] == "slack")
    assert slack["settings"]["url"] == f"$__file{{{settings.slack_webhook.file}}}"  # type: ignore[union-attr]
    assert doc["policies"][0]["receiver"] == "watchtower"
    assert doc["policies"][0]["group_by"] == ["cluster", "alertname"]

    manifest = yaml.safe_load((out / "prometheus/watchtower-prometheusrule.yaml").read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
    assert [g["name"] for g in manifest["spec"]["groups"]] == ["pipeline", "heartbeat"]
    assert manifest["spec"]["groups"][0]["rules"][1]["annotations"]["summary"] == "data is {{ $value | humanizeDuration }} old"


def test_env_secret_is_a_reference(settings: GrafanaSettings, tmp_path: Path) -> None:
    state = desired.load(dataclasses.replace(settings, slack_webhook=SecretRef(env="SLACK_WEBHOOK_URL")))
    doc = render.alerting(state)
    slack = next(r for r in doc["contactPoints"][0]["receivers"] if r["type"] == "slack")
    assert slack["settings"]["url"] == "${SLACK_WEBHOOK_URL}"


def test_secrets_appear_nowhere_in_rendered_files_or_logs(
    settings: GrafanaSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "glsa_render_token_must_not_leak_0042"
    monkeypatch.setenv("WT_TEST_GRAFANA_TOKEN", token)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"grafana": {
        "url": settings.url, "token_env": "WT_TEST_GRAFANA_TOKEN", "dashboards_dir": settings.dashboards_dir,
        "alerts_dir": settings.alerts_dir, "email_addresses": ["oncall@example.org"],
        "slack_webhook_file": settings.slack_webhook.file,  # type: ignore[union-attr]
    }}}))
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "rendered"
    assert cli.main(["render", "--config", str(config), "--out", str(out), "--log-level", "debug"]) == 0
    printed = capsys.readouterr()
    text = rendered_text(out)
    assert "$__file{" in text, "the secret must be referenced"
    for secret in (SLACK_SECRET, token, SLACK_SECRET.rsplit("/", 1)[1]):
        assert secret not in text
        assert secret not in caplog.text
        assert secret not in printed.out + printed.err


@pytest.mark.promtool
def test_prometheusrule_spec_passes_promtool(settings: GrafanaSettings, tmp_path: Path) -> None:
    """The manifest's groups are valid Prometheus rules — for the fixtures and for the repository's alerts/."""
    for s in (settings, GrafanaSettings()):
        if not s.alerts_path().is_dir():
            continue
        state = desired.load(s)
        spec = render.prometheus_rule(state)["spec"]
        assert spec["groups"], f"no groups rendered from {s.alerts_path()}"
        rule_file = tmp_path / "spec.rules.yaml"
        rule_file.write_text(yaml.safe_dump(spec, sort_keys=False))
        done = subprocess.run([require_binary("promtool"), "check", "rules", str(rule_file)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_render_reports_bad_inputs_and_writes_the_rest(settings: GrafanaSettings, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (settings.dashboards_path() / "broken.json").write_text("{")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"grafana": {
        "dashboards_dir": settings.dashboards_dir, "alerts_dir": settings.alerts_dir}}}))
    out = tmp_path / "out"
    assert cli.main(["render", "--config", str(config), "--out", str(out)]) == 2
    assert "broken.json:1: invalid_json" in capsys.readouterr().err
    assert len(list((out / "grafana/dashboards").glob("*.json"))) == 2


def test_the_helm_chart_carries_the_current_grafana_alerting_render() -> None:
    chart_copy = Path(__file__).resolve().parents[3] / "helm/watchtower/files/grafana-alerting/watchtower.yaml"
    expected = render.alerting_yaml(desired.load(GrafanaSettings()))
    assert chart_copy.is_file() and chart_copy.read_text() == expected, "stale: run scripts/sync-helm-files.py"


DOLLAR_RULES = """
groups:
  - name: "pay $team"
    rules:
      - alert: RelabelledDown
        expr: 'label_replace(up == 0, "host", "$1", "instance", "(.*):.*")'
        labels: {severity: warning, owner: "$$team"}
        annotations:
          summary: "{{ $labels.host }} is down"
          description: "{{ $labels.instance }} returned {{ $value }}; cost $5"
"""


def test_file_provisioned_rules_equal_the_api_bodies(settings: GrafanaSettings, tmp_path: Path,
                                                     grafana: GrafanaAPIServer) -> None:
    """Loaded by the test Grafana's file provisioner (interpolation as rules_types.go/values.go),
    every rule is stored exactly as the API path would store it, `$` in PromQL, annotations,
    labels and group names included; a provision run then plans no rule change."""
    (settings.alerts_path() / "dollar.rules.yaml").write_text(DOLLAR_RULES)  # type: ignore[union-attr]
    settings = dataclasses.replace(settings, folder_title="Ops $HOME", slack_webhook=None, email_addresses=())
    state = desired.load(settings)
    assert state.problems == ()
    grafana.provision_file(render.alerting_yaml(state), env={"HOME": "/root", "team": "EXPANDED"})
    stored = {r["uid"]: r for r in grafana.state.rules.values()}
    assert set(stored) == {r.uid for r in state.rules}
    for rule in state.rules:
        body = rule.body()
        got = stored[rule.uid]
        assert got["annotations"] == body["annotations"], rule.title
        assert got["labels"] == body["labels"], rule.title
        assert got["title"] == body["title"] and got["ruleGroup"] == body["ruleGroup"]
        assert got["data"] == [desired.pre_save(q) for q in body["data"]] == body["data"], rule.title
    folder = grafana.state.folders[next(iter(stored.values()))["folderUID"]]
    assert folder["title"] == "Ops $HOME"
    relabel = next(r for r in state.rules if r.title == "RelabelledDown").body()
    assert '"$1"' in relabel["data"][0]["model"]["expr"] and relabel["labels"]["owner"] == "$$team"
    assert relabel["annotations"]["description"] == "{{ $labels.instance }} returned {{ $values.VALUE.Value }}; cost $5"


def test_rendered_annotations_expand_in_promtool(settings: GrafanaSettings, tmp_path: Path) -> None:
    """The annotations as rendered into the file are valid Go templates that expand as the rule
    file's do: promtool expands them (a `$$labels` would not even parse)."""
    promtool = require_binary("promtool")
    doc = render.alerting(desired.load(settings))
    rendered = {r["title"]: r["annotations"] for g in doc["groups"] for r in g["rules"]}
    summary = rendered["CollectorFailing"]["summary"]
    rules = {"groups": [{"name": "g", "rules": [{
        "alert": "CollectorFailing", "expr": "watchtower_collector_success == 0", "annotations": {"summary": summary}}]}]}
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": 'watchtower_collector_success{collector="certs"}', "values": "0 0 0"}],
        "alert_rule_test": [{"eval_time": "2m", "alertname": "CollectorFailing", "exp_alerts": [{
            "exp_labels": {"collector": "certs"}, "exp_annotations": {"summary": "collector certs failing"}}]}],
    }]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    done = subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_repository_alerting_file_annotations_are_the_converted_rule_annotations() -> None:
    """Every annotation in the shipped alerting file is the rule file's annotation as converted
    for Grafana ($value → $values.VALUE.Value, or the Grafana-specific text), never escaped."""
    state = desired.load(GrafanaSettings())
    doc = yaml.safe_load((Path(__file__).resolve().parents[3] / "helm/watchtower/files/grafana-alerting/watchtower.yaml")
                         .read_text())
    shipped = {r["uid"]: r["annotations"] for g in doc["groups"] for r in g["rules"]}
    assert shipped, "no rules in the shipped alerting file"
    for rule in state.rules:
        assert shipped[rule.uid] == rule.body()["annotations"], rule.title
        assert not any("$$" in text for text in shipped[rule.uid].values()), rule.title
