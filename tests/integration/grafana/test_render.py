"""`watchtower render`: Grafana file provisioning + PrometheusRule, and no secret anywhere in them."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
from pathlib import Path

import pytest
import yaml

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
    # Grafana expands $VAR in provisioning files: templates are escaped, and unescape to the API body.
    assert rule["annotations"]["summary"] == "collector {{ $$labels.collector }} failing"
    api_body = state.rules[0].body()
    assert json.loads(json.dumps(rule).replace("$$", "$")) == {k: api_body[k] for k in rule}
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
