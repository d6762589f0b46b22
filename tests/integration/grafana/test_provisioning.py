"""The reconciler against the test Grafana API: restore after restart, idempotence, errors."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import yaml

from tests.grafana_api import GrafanaAPIServer
from tests.integration.grafana.conftest import SLACK_SECRET
from watchtower.core.settings import SecretRef
from watchtower.provisioning import desired, provision
from watchtower.provisioning.api import GrafanaClient, Reconciler
from watchtower.provisioning.settings import GrafanaSettings


def reconcile(settings: GrafanaSettings, memory: dict[str, str] | None = None) -> provision.RunReport:
    report = provision.run(settings, sent_secrets=memory if memory is not None else {}, budget_seconds=0)
    assert report.error is None, report.error
    return report


def snapshot(grafana: GrafanaAPIServer) -> dict[str, object]:
    st = grafana.state
    return {
        "folders": sorted((f["uid"], f["title"]) for f in st.folders.values()),
        "dashboards": sorted((u, d["folderUid"]) for u, d in st.dashboards.items()),
        "rules": sorted((r["uid"], r["title"], r["ruleGroup"], r["folderUID"]) for r in st.rules.values()),
        "contact_points": sorted((p["uid"], p["name"], p["type"]) for p in st.contact_points.values()),
        "policy": st.policy,
    }


def test_first_run_creates_everything(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    report = reconcile(settings)
    assert report.success
    st = grafana.state
    assert list(st.folders) == ["watchtower"]
    assert set(st.dashboards) == {"wt-test-overview", "wt-test-certs"}
    assert {d["folderUid"] for d in st.dashboards.values()} == {"watchtower"}
    assert sorted(r["title"] for r in st.rules.values()) == ["CollectorFailing", "CollectorStale", "Watchdog"]
    assert {r["ruleGroup"] for r in st.rules.values()} == {"pipeline", "heartbeat"}
    assert {(p["type"], p["name"]) for p in st.contact_points.values() if p["uid"].startswith("wt-")} == {
        ("email", "watchtower"), ("slack", "watchtower")}
    assert st.contact_points["wt-slack"]["settings"]["url"] == SLACK_SECRET
    assert st.policy["receiver"] == "watchtower"
    assert st.policy["group_by"] == ["cluster", "alertname"]
    assert grafana.provenance("rule", next(iter(st.rules))) == "api"
    counts = report.outcome.counts()  # type: ignore[union-attr]
    assert counts[("alert-rule", "created")] == 3
    assert counts[("dashboard", "created")] == 2


def test_second_run_writes_nothing(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    memory: dict[str, str] = {}
    reconcile(settings, memory)
    grafana.clear_log()
    report = reconcile(settings, memory)
    assert grafana.writes() == []
    assert {c.action for c in report.plan.changes} == {"unchanged"}  # type: ignore[union-attr]
    assert len(grafana.requests) > 0, "the second run must still have looked"


def test_everything_restored_after_grafana_restarts_empty(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    memory: dict[str, str] = {}
    reconcile(settings, memory)
    before = snapshot(grafana)
    grafana.restart_empty()
    assert snapshot(grafana) != before
    assert grafana.state.rules == {} and grafana.state.dashboards == {}
    report = reconcile(settings, memory)
    assert report.success
    assert snapshot(grafana) == before
    assert grafana.state.contact_points["wt-slack"]["settings"]["url"] == SLACK_SECRET


def test_drift_is_repaired_and_only_the_drifted_object_written(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    memory: dict[str, str] = {}
    reconcile(settings, memory)
    uid = next(u for u, r in grafana.state.rules.items() if r["title"] == "Watchdog")
    grafana.state.rules[uid]["for"] = "1h"  # someone changed it behind watchtower's back
    grafana.state.dashboards["wt-test-certs"]["dashboard"]["title"] = "Edited"
    grafana.clear_log()
    report = reconcile(settings, memory)
    assert sorted((w.method, w.path) for w in grafana.writes()) == [
        ("POST", "/api/dashboards/db"), ("PUT", f"/api/v1/provisioning/alert-rules/{uid}")]
    assert grafana.state.rules[uid]["for"] == "0s"
    assert grafana.state.dashboards["wt-test-certs"]["dashboard"]["title"] == "Certificates"
    assert report.success


def test_rules_removed_from_alerts_are_deleted_but_foreign_rules_kept(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    settings = dataclasses.replace(settings, on_drift="overwrite")  # deleted without a backup (test_drift: with one)
    reconcile(settings)
    foreign = dict(next(iter(grafana.state.rules.values())), uid="someone-elses", title="Hand made")
    grafana.state.rules["someone-elses"] = foreign
    alerts = settings.alerts_path() / "pipeline.rules.yaml"
    alerts.write_text(alerts.read_text().split("  - name: heartbeat")[0])
    report = reconcile(settings)
    titles = sorted(r["title"] for r in grafana.state.rules.values())
    assert titles == ["CollectorFailing", "CollectorStale", "Hand made"]
    assert report.outcome.counts()[("alert-rule", "deleted")] == 1  # type: ignore[union-attr]


def test_dry_run_writes_nothing_and_lists_every_object(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    report = provision.run(settings, dry_run=True, budget_seconds=0)
    assert grafana.writes() == []
    assert report.outcome is None
    text = report.plan.render()  # type: ignore[union-attr]
    assert text.count("create ") == 1 + 2 + 2 + 3  # folder, dashboards, contact points, rules
    assert "update    policy" in text
    assert SLACK_SECRET not in text


def test_wrong_token_is_reported_clearly_without_the_token(
    grafana: GrafanaAPIServer, settings: GrafanaSettings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    bad = "glsa_wrong_token_do_not_leak_4711"
    monkeypatch.setenv("WT_TEST_GRAFANA_TOKEN", bad)
    caplog.set_level(logging.DEBUG)
    report = provision.run(settings, sent_secrets={}, budget_seconds=5)
    assert not report.success
    assert str(report.error) == "Grafana rejected the token (401)"
    assert report.attempts == 1, "a rejected token is not retried"
    assert [e.reason for e in report.errors()] == ["unauthorized"]
    assert grafana.writes() == []
    assert bad not in caplog.text and bad not in repr(report)


def test_viewer_token_is_denied_clearly(grafana: GrafanaAPIServer, settings: GrafanaSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WT_TEST_GRAFANA_TOKEN", "glsa_viewer_token_abcdef")
    report = provision.run(settings, sent_secrets={}, budget_seconds=0)
    assert "(403)" in str(report.error) and "Permissions needed" in str(report.error)


def test_basic_auth_admin_user(grafana: GrafanaAPIServer, settings: GrafanaSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WT_TEST_GRAFANA_PASSWORD", "admin-password")
    basic = dataclasses.replace(settings, token=None, username="admin", password=SecretRef(env="WT_TEST_GRAFANA_PASSWORD"))
    assert reconcile(basic).success
    monkeypatch.setenv("WT_TEST_GRAFANA_PASSWORD", "nope")
    assert str(provision.run(basic, budget_seconds=0).error) == "Grafana rejected the username/password (401)"


def test_disable_provenance_leaves_objects_editable_in_the_ui(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    editable = dataclasses.replace(settings, disable_provenance=True)
    reconcile(editable)
    uid = next(iter(grafana.state.rules))
    assert grafana.provenance("rule", uid) == ""
    assert all(r.disable_provenance for r in grafana.writes() if "/provisioning/" in r.path)
    grafana.ui_edit_rule(uid, title="edited in the UI")
    reconcile(editable)
    assert grafana.state.rules[uid]["title"] != "edited in the UI"


def test_api_provenance_blocks_ui_edits_and_is_kept_when_config_changes(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    from tests.grafana_api import ApiError

    reconcile(settings)
    uid = next(iter(grafana.state.rules))
    with pytest.raises(ApiError, match="provisioned"):
        grafana.ui_edit_rule(uid, title="x")
    grafana.state.rules[uid]["for"] = "2h"
    # Flipping disable_provenance later must not trip Grafana's "cannot change provenance" check.
    report = reconcile(dataclasses.replace(settings, disable_provenance=True))
    assert report.success, report.errors()
    assert grafana.provenance("rule", uid) == "api"


def test_file_provisioned_object_is_reported_not_overwritten(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    reconcile(settings)
    uid = next(iter(grafana.state.rules))
    grafana.state.provenance[("rule", uid)] = "file"
    grafana.state.rules[uid]["for"] = "2h"
    report = provision.run(settings, budget_seconds=0)
    assert not report.success
    assert [e.reason for e in report.outcome.errors] == ["foreign_provenance"]  # type: ignore[union-attr]
    assert grafana.state.rules[uid]["for"] == "2h"


def test_a_rejected_object_does_not_stop_the_others(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    state = desired.load(settings)
    rule = state.rules[0]
    broken = dataclasses.replace(rule, body_json=rule.body_json.replace('"condition":"C"', '"condition":"Z"'))
    groups = (dataclasses.replace(state.rule_groups[0], rules=(broken, *state.rule_groups[0].rules[1:])), *state.rule_groups[1:])
    state = dataclasses.replace(state, rule_groups=groups)
    _plan, outcome = Reconciler(GrafanaClient(settings), settings).reconcile(state)
    assert [(e.location, e.reason) for e in outcome.errors] == [(f"alert-rule {rule.uid}", "rejected")]
    assert "condition 'Z' does not exist" in outcome.errors[0].detail
    assert len(grafana.state.rules) == len(state.rules) - 1


def test_a_new_process_writes_nothing_either(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    """Secrets are compared through the decrypting export, so no per-process memory is needed."""
    reconcile(settings, {})
    grafana.clear_log()
    reconcile(settings, {})
    assert grafana.writes() == []


def test_a_rotated_slack_webhook_is_rewritten(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    memory: dict[str, str] = {}
    reconcile(settings, memory)
    rotated = "https://hooks.slack.test/services/T0WT/B0WT/rotated-secret"
    Path(settings.slack_webhook.file).write_text(rotated)  # type: ignore[union-attr, arg-type]
    grafana.clear_log()
    report = reconcile(settings, memory)
    assert [(w.method, w.path) for w in grafana.writes()] == [("PUT", "/api/v1/provisioning/contact-points/wt-slack")]
    assert grafana.state.contact_points["wt-slack"]["settings"]["url"] == rotated
    change = next(c for c in report.plan.changes if c.uid == "wt-slack")  # type: ignore[union-attr]
    assert change.detail == "secret differs" and rotated not in change.line()


def test_without_secret_read_permission_the_secret_is_written_once_per_process(
    grafana: GrafanaAPIServer, settings: GrafanaSettings,
) -> None:
    grafana.secrets_readable = False
    reconcile(settings, {})
    memory: dict[str, str] = {}
    grafana.clear_log()
    reconcile(settings, memory)  # a new process cannot know what is stored: one rewrite
    assert [(w.method, w.path) for w in grafana.writes()] == [("PUT", "/api/v1/provisioning/contact-points/wt-slack")]
    grafana.clear_log()
    reconcile(settings, memory)
    assert grafana.writes() == []


def test_cli_provision_dry_run_then_apply(grafana: GrafanaAPIServer, settings: GrafanaSettings, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from watchtower.app import cli

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"collectors": {"grafana": {
        "url": settings.url, "token_env": "WT_TEST_GRAFANA_TOKEN", "dashboards_dir": settings.dashboards_dir,
        "alerts_dir": settings.alerts_dir, "email_addresses": ["oncall@example.org"],
        "slack_webhook_file": settings.slack_webhook.file, "timeout": "5s",  # type: ignore[union-attr]
    }}}))
    assert cli.main(["provision", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert grafana.writes() == []
    assert "create    alert-rule" in out and "plan: 8 create, 1 update" in out
    assert cli.main(["provision", "--config", str(config)]) == 0
    assert "applied: 8 created, 1 updated" in capsys.readouterr().out
    grafana.clear_log()
    assert cli.main(["provision", "--config", str(config)]) == 0
    assert grafana.writes() == []
    assert "plan: 9 unchanged" in capsys.readouterr().out
    monkeypatch.setenv("WT_TEST_GRAFANA_TOKEN", "wrong")
    assert cli.main(["provision", "--config", str(config)]) == 2
    assert "grafana: unauthorized: Grafana rejected the token (401)" in capsys.readouterr().err
    grafana.down()
    assert cli.main(["provision", "--config", str(config)]) == 2
    assert "Connection refused" in capsys.readouterr().err


def test_the_repository_dashboards_and_alerts_provision_into_grafana(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    """Whatever dashboards/ and alerts/ hold today is accepted by the (strict) test Grafana, twice."""
    repo = dataclasses.replace(settings, dashboards_dir=None, alerts_dir=None)
    assert repo.alerts_path().is_dir()
    state = desired.load(repo)
    report = provision.run(repo, sent_secrets={}, budget_seconds=0)
    assert report.success, report.errors()
    assert len(grafana.state.rules) == len(state.rules) > 0
    assert len(grafana.state.dashboards) == len(state.dashboards)
    grafana.clear_log()
    provision.run(repo, sent_secrets={}, budget_seconds=0)
    assert grafana.writes() == []


def test_group_interval_is_provisioned_and_restored(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    alerts = settings.alerts_path() / "pipeline.rules.yaml"
    alerts.write_text(alerts.read_text().replace("  - name: pipeline\n", "  - name: pipeline\n    interval: 2m\n"))
    memory: dict[str, str] = {}
    report = reconcile(settings, memory)
    assert report.success, report.errors()
    assert grafana.state.group_intervals[("watchtower", "pipeline")] == 120
    assert grafana.state.group_intervals[("watchtower", "heartbeat")] == 60  # no interval: Grafana's default
    grafana.clear_log()
    reconcile(settings, memory)
    assert grafana.writes() == []
    grafana.restart_empty()
    reconcile(settings, memory)
    assert grafana.state.group_intervals[("watchtower", "pipeline")] == 120
    assert len(grafana.state.rules) == 3


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_https_with_ca_file_insecure_and_a_wrong_ca(settings: GrafanaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trustme

    ca, other_ca = trustme.CA(), trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    other_ca.cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    with GrafanaAPIServer(tls_cert_file=str(tmp_path / "server.pem"), tls_key_file=str(tmp_path / "server.pem")) as tls:
        monkeypatch.setenv("WT_TEST_GRAFANA_TOKEN", tls.token)
        verified = dataclasses.replace(settings, url=tls.url, ca_file=str(tmp_path / "ca.pem"))
        assert reconcile(verified).success
        assert len(tls.state.rules) == 3
        wrong = provision.run(dataclasses.replace(verified, ca_file=str(tmp_path / "other-ca.pem")), budget_seconds=30)
        assert wrong.error is not None and "certificate verify failed" in str(wrong.error)
        assert wrong.attempts == 1, "a certificate that does not verify is not retried"
        assert [e.reason for e in wrong.errors()] == ["tls_verify_failed"]
        insecure = dataclasses.replace(settings, url=tls.url, insecure=True)
        assert reconcile(insecure).success


def test_credentials_in_the_url_are_refused() -> None:
    from watchtower.app import config as config_mod
    from watchtower.core.settings import ConfigError

    with pytest.raises(ConfigError, match="without credentials") as caught:
        config_mod.from_mapping({"collectors": {"grafana": {"url": "https://admin:hunter2@grafana.example.org"}}})
    assert "hunter2" not in str(caught.value)


def test_a_rejected_secret_is_not_echoed_into_errors_or_logs(
    grafana: GrafanaAPIServer, settings: GrafanaSettings, caplog: pytest.LogCaptureFixture,
) -> None:
    bad = "hooks.slack.test/no-scheme/wt-secret-in-an-error-0815"
    Path(settings.slack_webhook.file).write_text(bad)  # type: ignore[union-attr, arg-type]
    caplog.set_level(logging.DEBUG)
    report = provision.run(settings, sent_secrets={}, budget_seconds=0)
    (error,) = report.outcome.errors  # type: ignore[union-attr]
    assert error.location == "contact-point wt-slack" and "invalid URL '<redacted>'" in error.detail
    assert bad not in caplog.text and bad not in repr(report.errors())
    assert len(grafana.state.rules) == 3, "the other objects are still provisioned"
