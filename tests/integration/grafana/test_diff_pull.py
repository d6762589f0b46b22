"""`watchtower grafana diff` and `pull` against the test Grafana, after UI-style edits."""

from __future__ import annotations

import dataclasses
import difflib
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana_api import GrafanaAPIServer, find_panel
from tests.integration.grafana.conftest import SLACK_SECRET, TOKEN_ENV
from watchtower.app import cli
from watchtower.provisioning import provision
from watchtower.provisioning.driftstore import DriftMemory
from watchtower.provisioning.rules import rule_uid
from watchtower.provisioning.settings import GrafanaSettings, bundled

PANEL = "apiserver /livez"  # a panel of dashboards/control-plane.json
DASHBOARD = "watchtower-control-plane"


@pytest.fixture
def shipped(settings: GrafanaSettings, tmp_path: Path) -> tuple[GrafanaSettings, Path]:
    """The shipped dashboards and alerts as a checkout's dashboards/ and alerts/, provisioned."""
    code = tmp_path / "code"
    shutil.copytree(str(bundled("dashboards")), code / "dashboards")
    shutil.copytree(str(bundled("alerts")), code / "alerts")
    # objects without provenance stay editable in Grafana's UI (what people who edit there configure)
    repo = dataclasses.replace(settings, dashboards_dir=str(code / "dashboards"), alerts_dir=str(code / "alerts"),
                               disable_provenance=True)
    report = provision.run(repo, sent_secrets={}, budget_seconds=0)
    assert report.success, report.errors()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"grafana": {
        "url": repo.url, "token_env": TOKEN_ENV, "dashboards_dir": repo.dashboards_dir, "alerts_dir": repo.alerts_dir,
        "datasource_uid": repo.datasource_uid, "email_addresses": list(repo.email_addresses),
        "slack_webhook_file": repo.slack_webhook.file, "timeout": "5s",  # type: ignore[union-attr]
        "request_timeout": "2s", "disable_provenance": True,
    }}}))
    return repo, config


def _retitle(model: dict[str, Any], title: str = "apiserver /livez per endpoint") -> None:
    find_panel(model, PANEL)["title"] = title


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_diff_exit_codes(grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path],
                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, config = shipped
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("diff: ") and "differs" not in out

    grafana.ui_edit_dashboard(DASHBOARD, _retitle)
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f'dashboard {DASHBOARD} "watchtower / Control plane": differs from code (version 2, updated ' in out
    assert "by oncall)" in out
    assert f'  panel id=2 "{PANEL}":\n    title: "{PANEL}" -> "apiserver /livez per endpoint"\n' in out
    assert "diff: 1 differs" in out
    assert SLACK_SECRET not in out

    monkeypatch.setenv(TOKEN_ENV, "glsa_wrong")
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "UNKNOWN: Grafana rejected the token (401)\n"
    monkeypatch.setenv(TOKEN_ENV, grafana.token)
    grafana.down()
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("UNKNOWN: cannot reach Grafana at ") and "Connection refused" in err and err.count("\n") == 1


def test_diff_names_missing_and_edited_contact_points_without_secrets(
        grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, config = shipped
    grafana.state.contact_points["wt-slack"]["settings"]["recipient"] = "#somewhere-else"
    del grafana.state.dashboards["watchtower-overview"]
    grafana.state.policy["group_wait"] = "1m"
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert 'policy root "watchtower": differs from code\n  group_wait: 30.0 -> 60.0\n' in out
    assert 'contact-point wt-slack "watchtower (slack)": differs from code' in out
    assert 'settings.recipient: (absent) -> "#somewhere-else"' in out
    assert 'dashboard watchtower-overview "watchtower / Overview": missing in Grafana' in out
    assert SLACK_SECRET not in out and "hooks.slack" not in out


def test_pull_after_a_ui_edit_is_exactly_the_edit_and_provisions_nothing(
        grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, config = shipped
    code_dir = Path(str(repo.dashboards_dir))
    before = {p.name: p.read_text() for p in code_dir.glob("*.json")}
    grafana.ui_edit_dashboard(DASHBOARD, _retitle, message="per endpoint")

    out_dir = code_dir.parent / "pulled"
    assert cli.main(["grafana", "pull", "--out", str(out_dir), "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert f"{out_dir}/control-plane.json: dashboard {DASHBOARD} (edited in Grafana; version 2, updated " in printed
    pulled = {p.name: p.read_text() for p in out_dir.glob("*.json")}
    assert set(pulled) == set(before)
    for name, text in before.items():
        if name != "control-plane.json":
            assert pulled[name] == text, name  # byte for byte
    assert _changed_lines(before["control-plane.json"], pulled["control-plane.json"]) == [
        f'-      "title": "{PANEL}",', '+      "title": "apiserver /livez per endpoint",']

    # pulled into the code's own directory (`--out dashboards/`), then provisioned: nothing to write
    assert cli.main(["grafana", "pull", "--out", str(code_dir), "--config", str(config)]) == 0
    grafana.clear_log()
    report = provision.run(repo, sent_secrets={}, budget_seconds=0)
    assert report.success and report.outcome is not None
    states = {state for _, state in report.outcome.changes}
    assert states == {"unchanged"}, report.outcome.changes
    assert [w for w in grafana.writes() if "dashboards" in w.path] == []
    assert cli.main(["grafana", "diff", "--config", str(config), "--uid", DASHBOARD]) == 0


def test_pull_turns_a_picked_data_source_back_into_the_variable(
        grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, config = shipped
    before = Path(str(repo.dashboards_dir), "control-plane.json").read_text()

    def pick(model: dict[str, Any]) -> None:
        panel = find_panel(model, PANEL)
        panel["datasource"] = {"type": "prometheus", "uid": repo.datasource_uid}  # chosen in the panel editor
        for target in panel.get("targets") or []:
            target["datasource"] = {"type": "prometheus", "uid": repo.datasource_uid}
        _retitle(model)

    grafana.ui_edit_dashboard(DASHBOARD, pick)
    out_dir = Path(str(repo.dashboards_dir)).parent / "pulled"
    assert cli.main(["grafana", "pull", "--uid", DASHBOARD, "--out", str(out_dir), "--config", str(config)]) == 0
    assert [p.name for p in out_dir.iterdir()] == ["control-plane.json"]
    after = (out_dir / "control-plane.json").read_text()
    assert '"uid": "prom-test"' not in after
    assert _changed_lines(before, after) == [
        f'-      "title": "{PANEL}",', '+      "title": "apiserver /livez per endpoint",']


def test_pull_of_an_unknown_uid_says_so(grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path],
                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, config = shipped
    assert cli.main(["grafana", "pull", "--uid", "no-such-dashboard", "--out", str(tmp_path / "o"),
                     "--config", str(config)]) == 1
    assert "dashboard no-such-dashboard: not in Grafana; nothing pulled" in capsys.readouterr().err
    grafana.down()
    assert cli.main(["grafana", "pull", "--out", str(tmp_path / "o"), "--config", str(config)]) == 3


RULE_FILE = "grafana.rules.yaml"
RULE_UID = rule_uid("watchtower-grafana", "WatchtowerGrafanaProvisioningFailing", 0)


def test_pull_writes_a_rule_edit_back_into_its_rule_file(
        grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, config = shipped
    alerts = Path(str(repo.alerts_dir))
    before = (alerts / RULE_FILE).read_text()
    summary = grafana.state.rules[RULE_UID]["annotations"]["summary"]
    grafana.ui_edit_rule(RULE_UID, **{"for": "45m", "annotations": {
        **grafana.state.rules[RULE_UID]["annotations"], "summary": summary.replace("cannot", "still cannot")}})

    assert cli.main(["grafana", "diff", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f'alert-rule {RULE_UID} "WatchtowerGrafanaProvisioningFailing": differs from code (updated ' in out
    assert '  for: "30m" -> "45m"' in out

    pulled = alerts.parent / "pulled-alerts"
    assert cli.main(["grafana", "pull", "--out", str(alerts.parent / "d"), "--alerts-out", str(pulled),
                     "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert f"{pulled}/{RULE_FILE}: alert-rule {RULE_UID} 'WatchtowerGrafanaProvisioningFailing' (edited in Grafana: " \
           "for, annotations)" in printed
    assert [p.name for p in pulled.iterdir()] == [RULE_FILE]
    after = (pulled / RULE_FILE).read_text()
    assert _changed_lines(before, after) == [
        "-        for: 30m",
        "+        for: 45m",
        "-          summary: watchtower on {{ $labels.instance }} cannot provision Grafana.",
        "+          summary: watchtower on {{ $labels.instance }} still cannot provision Grafana.",
    ]

    (alerts / RULE_FILE).write_text(after)  # the pull, committed
    report = provision.run(repo, sent_secrets={}, budget_seconds=0)
    assert report.success and report.outcome is not None
    assert {state for _, state in report.outcome.changes} == {"unchanged"}, report.outcome.changes
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 0


def test_rules_that_do_not_map_back_are_named_with_the_reason(
        grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, config = shipped
    alerts = Path(str(repo.alerts_dir))
    data = grafana.state.rules[RULE_UID]["data"]
    next(q for q in data if q["refId"] == "C")["model"]["conditions"][0]["evaluator"]["params"] = [5]
    grafana.ui_edit_rule(RULE_UID, data=data)
    paused = next(uid for uid in grafana.state.rules if uid != RULE_UID)
    grafana.ui_edit_rule(paused, isPaused=True)
    grafana.state.rules["made-in-ui"] = {**grafana.state.rules[paused], "uid": "made-in-ui", "title": "Made in the UI"}

    pulled = alerts.parent / "pulled-alerts"
    assert cli.main(["grafana", "pull", "--out", str(alerts.parent / "d"), "--alerts-out", str(pulled),
                     "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"alert-rule {RULE_UID} 'WatchtowerGrafanaProvisioningFailing': cannot map back to a rule file: Grafana's " \
           "rule is not the conversion of any Prometheus rule: the query chain (threshold, reducer or value query) " \
           "was changed in Grafana" in err
    assert f"alert-rule {paused} " in err and "paused in Grafana: a Prometheus rule cannot be paused" in err
    assert "alert-rule made-in-ui 'Made in the UI': cannot map back to a rule file: exists only in Grafana" in err
    assert not pulled.exists()


def test_pull_from_the_backups_made_before_code_was_restored(
        grafana: GrafanaAPIServer, shipped: tuple[GrafanaSettings, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, config = shipped
    backed = dataclasses.replace(repo, backup_dir=str(Path(str(repo.alerts_dir)).parent / "backups"))
    memory = DriftMemory(None)
    assert provision.run(backed, sent_secrets={}, budget_seconds=0, memory=memory).success
    code_dashboards, code_alerts = Path(str(repo.dashboards_dir)), Path(str(repo.alerts_dir))
    before = (code_dashboards / "control-plane.json").read_text(), (code_alerts / RULE_FILE).read_text()
    grafana.ui_edit_dashboard(DASHBOARD, _retitle)
    grafana.ui_edit_rule(RULE_UID, **{"for": "45m"})

    report = provision.run(backed, sent_secrets={}, budget_seconds=0, memory=memory)  # backs up, restores code
    backups = sorted(d.backup for d in report.drifts or () if d.backup)
    assert len(backups) == 2, report.drifts
    assert cli.main(["grafana", "diff", "--config", str(config)]) == 0  # the edits are gone from Grafana...
    capsys.readouterr()

    args = ["grafana", "pull", "--out", str(code_dashboards), "--alerts-out", str(code_alerts), "--config", str(config)]
    assert cli.main([*args, *(f"--backup={b}" for b in backups)]) == 0  # ...and come back from the backups
    out = capsys.readouterr().out
    assert f"dashboard {DASHBOARD} (edited in Grafana; version 2, updated " in out and "by oncall)" in out
    assert _changed_lines(before[0], (code_dashboards / "control-plane.json").read_text()) == [
        f'-      "title": "{PANEL}",', '+      "title": "apiserver /livez per endpoint",']
    assert _changed_lines(before[1], (code_alerts / RULE_FILE).read_text()) == ["-        for: 30m", "+        for: 45m"]
    assert cli.main([*args[:3], str(code_dashboards), "--backup", str(code_alerts / RULE_FILE), "--config",
                     str(config)]) == 3  # not a backup file
