"""Drift against the test Grafana: a UI edit is told apart from a code change and never lost."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from tests.grafana_api import GrafanaAPIServer
from tests.grafana_api.ui import find_panel
from tests.integration.grafana.conftest import SLACK_SECRET
from tests.integration.grafana.test_job import FakeTime, make_job, values
from watchtower.app.statuspage import render_page
from watchtower.core.details import jsonable
from watchtower.provisioning import provision
from watchtower.provisioning.driftstore import DriftMemory, read_backup
from watchtower.provisioning.normalise import content_hash, normalise_dashboard
from watchtower.provisioning.settings import GrafanaSettings

UID = "wt-test-certs"


def run(settings: GrafanaSettings, memory: DriftMemory, now: float = 1_800_000_000.0) -> provision.RunReport:
    report = provision.run(settings, budget_seconds=0, memory=memory, clock=lambda: now)
    assert report.error is None, report.error
    return report


def rename_panel(model: dict[str, Any]) -> None:
    find_panel(model, "up")["title"] = "up (fixed at 3 a.m.)"


def live_model(grafana: GrafanaAPIServer, uid: str = UID) -> dict[str, Any]:
    return normalise_dashboard(grafana.state.dashboards[uid]["dashboard"], ("prom-test",))


def dashboard_writes(grafana: GrafanaAPIServer, uid: str = UID) -> list[Any]:
    return [w for w in grafana.writes() if w.path == "/api/dashboards/db" and (w.body or {}).get("dashboard", {}).get("uid") == uid]


@pytest.fixture
def backed(settings: GrafanaSettings, tmp_path: Path) -> GrafanaSettings:
    return dataclasses.replace(settings, backup_dir=str(tmp_path / "backups"), state_file=str(tmp_path / "state.json"))


def test_ui_edit_detected_backed_up_restored_and_resolved(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    memory = DriftMemory(backed.state_file)
    run(backed, memory)
    code = live_model(grafana)
    assert run(backed, memory).drifts == ()
    version = grafana.ui_edit_dashboard(UID, rename_panel, login="oncall")
    edited = live_model(grafana)
    grafana.clear_log()

    report = run(backed, memory)  # the next interval
    (drift,) = report.drifts or ()
    assert (drift.kind, drift.uid, drift.by, drift.action) == ("dashboard", UID, "oncall", "backed_up")
    backup = read_backup(drift.backup)  # saved before the overwrite
    assert backup["model"] == edited and backup["updated_by"] == "oncall" and backup["grafana_version"] == version
    assert backup["hash"] == content_hash(edited)
    copy = grafana.state.dashboards[drift.copy_uid]
    assert copy["folderUid"] == backed.folder_uid and copy["dashboard"]["title"].startswith("Certificates (edited ")
    assert copy["dashboard"]["title"].endswith(" by oncall)")
    assert find_panel(copy["dashboard"], "up (fixed at 3 a.m.)")
    copy_write = next(i for i, w in enumerate(grafana.writes()) if (w.body or {}).get("dashboard", {}).get("uid") == drift.copy_uid)
    restore = next(i for i, w in enumerate(grafana.writes()) if (w.body or {}).get("dashboard", {}).get("uid") == UID)
    assert copy_write < restore, "the edit is saved before code's version overwrites it"
    assert live_model(grafana) == code  # code's version is back

    # still open while the backup waits to be pulled or discarded; the metric stays 1
    again = run(backed, memory, now=1_800_000_300.0)
    assert [d.uid for d in again.drifts or ()] == [UID] and again.drifts[0].since == drift.since  # type: ignore[index]
    state = json.loads(Path(backed.state_file or "").read_text())
    assert state["drifts"][0]["uid"] == UID

    # restorable: the backup's model saved back gives exactly the edit
    grafana.ui_request("POST", "/api/dashboards/db", {"dashboard": {**backup["model"], "uid": "restored"},
                                                     "folderUid": "", "overwrite": True}, login="oncall")
    assert normalise_dashboard(grafana.state.dashboards["restored"]["dashboard"], ("prom-test",)) == {**edited, "uid": "restored"}

    Path(drift.backup).unlink()  # discard: the file and the copy
    grafana.ui_request("DELETE", f"/api/dashboards/uid/{drift.copy_uid}", login="oncall")
    assert run(backed, memory).drifts == ()


def test_keep_leaves_the_edit_alone_and_keeps_reporting_it(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    settings = dataclasses.replace(backed, on_drift={"dashboard": "keep"})  # type: ignore[arg-type]
    memory = DriftMemory(settings.state_file)
    run(settings, memory)
    grafana.ui_edit_dashboard(UID, rename_panel, login="oncall")
    edited = live_model(grafana)
    grafana.clear_log()
    for now in (1_800_000_000.0, 1_800_000_300.0):
        report = run(settings, memory, now)
        assert [(d.uid, d.action) for d in report.drifts or ()] == [(UID, "kept")]
        assert dashboard_writes(grafana) == [] and live_model(grafana) == edited
    assert not Path(settings.backup_dir or "").exists()  # keep writes no backup either
    # a restarted watchtower remembers (state file) and still leaves it alone
    report = run(settings, DriftMemory(settings.state_file))
    assert [d.uid for d in report.drifts or ()] == [UID] and dashboard_writes(grafana) == []
    # pulled into code: the drift resolves and nothing is written
    (Path(settings.dashboards_dir or "") / f"{UID}.json").write_text(json.dumps(grafana.state.dashboards[UID]["dashboard"]))
    grafana.clear_log()
    assert run(settings, memory).drifts == () and grafana.writes() == []


def test_a_code_change_alone_is_not_drift(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    memory = DriftMemory(backed.state_file)
    run(backed, memory)
    path = Path(backed.dashboards_dir or "") / f"{UID}.json"
    model = json.loads(path.read_text())
    model["panels"][0]["title"] = "up, renamed in git"
    path.write_text(json.dumps(model))
    grafana.clear_log()
    report = run(backed, memory)
    assert report.drifts == () and len(dashboard_writes(grafana)) == 1
    assert find_panel(grafana.state.dashboards[UID]["dashboard"], "up, renamed in git")
    assert not Path(backed.backup_dir or "").exists()


def test_a_save_without_changes_is_not_drift(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    memory = DriftMemory(backed.state_file)
    run(backed, memory)
    grafana.ui_edit_dashboard(UID, lambda model: None, login="oncall")  # version bumps, content equal
    grafana.clear_log()
    assert run(backed, memory).drifts == () and grafana.writes() == []


def test_overwrite_reports_once_and_restores(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    settings = dataclasses.replace(settings, on_drift="overwrite")
    memory = DriftMemory(None)
    run(settings, memory)
    code = live_model(grafana)
    grafana.ui_edit_dashboard(UID, rename_panel, login="oncall")
    report = run(settings, memory)
    assert [(d.uid, d.action) for d in report.drifts or ()] == [(UID, "overwritten")]
    assert live_model(grafana) == code and len(grafana.state.dashboards) == 2  # no copy
    assert run(settings, memory).drifts == ()


def test_without_backup_dir_a_dashboard_is_copied_in_grafana(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    memory = DriftMemory(None)
    run(settings, memory)
    grafana.ui_edit_dashboard(UID, rename_panel, login="oncall")
    (drift,) = run(settings, memory).drifts or ()
    assert drift.action == "backed_up" and drift.backup == "" and drift.copy_uid in grafana.state.dashboards


def test_rule_group_edit_with_disable_provenance(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    settings = dataclasses.replace(backed, disable_provenance=True)
    memory = DriftMemory(settings.state_file)
    run(settings, memory)
    uid = next(u for u, r in grafana.state.rules.items() if r["title"] == "Watchdog")
    grafana.ui_edit_rule(uid, labels={"severity": "critical"})  # allowed: no provenance
    report = run(settings, memory)
    (drift,) = report.drifts or ()
    assert (drift.kind, drift.uid, drift.action) == ("rule-group", "heartbeat", "backed_up")
    saved = read_backup(drift.backup)
    assert saved["model"]["rules"][0]["labels"] == {"severity": "critical"}
    assert grafana.state.rules[uid]["labels"] == {"severity": "info"}  # code's version restored
    assert grafana.provenance("rule", uid) == ""  # still editable in the UI: disable_provenance respected


def test_api_provenance_refuses_ui_edits_so_there_is_nothing_to_detect(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    memory = DriftMemory(backed.state_file)
    run(backed, memory)
    uid = next(iter(grafana.state.rules))
    with pytest.raises(Exception, match="provisioned rule"):
        grafana.ui_edit_rule(uid, labels={"severity": "critical"})
    assert run(backed, memory).drifts == ()


def test_rule_group_without_backup_dir_is_held_not_overwritten(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    settings = dataclasses.replace(settings, disable_provenance=True)
    memory = DriftMemory(None)
    run(settings, memory)
    uid = next(u for u, r in grafana.state.rules.items() if r["title"] == "Watchdog")
    grafana.ui_edit_rule(uid, labels={"severity": "critical"})
    report = run(settings, memory)
    assert [(d.uid, d.action) for d in report.drifts or ()] == [("heartbeat", "backup_failed")]
    assert grafana.state.rules[uid]["labels"] == {"severity": "critical"}
    assert any(e.reason == "backup_failed" and "backup_dir" in e.detail for e in report.errors())


def test_contact_point_edit_backup_holds_no_secret(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    settings = dataclasses.replace(backed, disable_provenance=True)
    memory = DriftMemory(settings.state_file)
    run(settings, memory)
    grafana.state.contact_points["wt-slack"]["settings"]["recipient"] = "#somewhere-else"  # edited in the UI
    (drift,) = run(settings, memory).drifts or ()
    assert (drift.kind, drift.uid) == ("contact-point", "wt-slack")
    text = Path(drift.backup).read_text()
    assert "#somewhere-else" in text and SLACK_SECRET not in text and "[REDACTED]" in text
    assert SLACK_SECRET not in Path(settings.state_file or "").read_text()


def test_rules_deleted_from_code_are_backed_up_first(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    memory = DriftMemory(backed.state_file)
    run(backed, memory)
    alerts = backed.alerts_path() / "pipeline.rules.yaml"
    alerts.write_text(alerts.read_text().split("  - name: heartbeat")[0])  # type: ignore[attr-defined]
    report = run(backed, memory)
    assert report.outcome is not None and report.outcome.counts()[("alert-rule", "deleted")] == 1
    (saved,) = (Path(backed.backup_dir or "") / "alert-rule").glob("*/*.json")
    assert read_backup(saved)["model"]["title"] == "Watchdog"


def test_unwritable_backup_dir_blocks_the_overwrite(grafana: GrafanaAPIServer, settings: GrafanaSettings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = dataclasses.replace(settings, backup_dir=str(blocker / "backups"), disable_provenance=True)
    memory = DriftMemory(None)
    run(settings, memory)
    uid = next(u for u, r in grafana.state.rules.items() if r["title"] == "Watchdog")
    grafana.ui_edit_rule(uid, labels={"severity": "critical"})
    report = run(settings, memory)
    assert [d.action for d in report.drifts or ()] == ["backup_failed"]
    assert grafana.state.rules[uid]["labels"] == {"severity": "critical"} and not report.success


def test_corrupt_state_file_is_moved_aside(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    Path(backed.state_file or "").write_text("{not json")
    report = run(backed, DriftMemory(backed.state_file))
    assert any(e.reason == "state_error" for e in report.errors())
    assert Path((backed.state_file or "") + ".corrupt").exists()
    assert json.loads(Path(backed.state_file or "").read_text())["format"] == 1


def test_the_job_exports_drift_and_shows_it_on_the_status_page(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    job = make_job(backed, FakeTime())
    job.collect()
    quiet = values(job.collect().metrics)
    assert quiet[("watchtower_grafana_drift", (("kind", "dashboard"), ("title", "Certificates"), ("uid", UID)))] == 0
    assert quiet[("watchtower_grafana_drift", (("kind", "rule-group"), ("title", "heartbeat"), ("uid", "heartbeat")))] == 0
    grafana.ui_edit_dashboard(UID, rename_panel, login="oncall")
    edited_at = grafana.state.dashboards[UID]["updated"]
    result = job.collect()  # the next interval
    got = values(result.metrics)
    labels = (("kind", "dashboard"), ("title", "Certificates"), ("uid", UID))
    assert got[("watchtower_grafana_drift", labels)] == 1
    assert got[("watchtower_grafana_drift_since_timestamp_seconds", labels)] == pytest.approx(
        datetime.datetime.fromisoformat(edited_at).timestamp())
    assert any(f.subject == f"dashboard {UID}" and f.severity.name == "WARNING" and "oncall" in f.message for f in result.findings)
    (row,) = jsonable(result.details)["drift"]
    assert row["by"] == "oncall" and row["backup"].startswith(backed.backup_dir) and row["since"] == edited_at
    page = render_page({"status": "warning", "details": {"grafana": jsonable(result.details)}, "findings": [], "collectors": []})
    assert "drift" in page and UID in page and "oncall" in page

    grafana.down()  # cannot look: the last known drift stays, no 0 series are made up
    blind = values(job.collect().metrics)
    assert blind[("watchtower_grafana_drift", labels)] == 1
    assert not any(name == "watchtower_grafana_drift" and value == 0 for (name, _), value in blind.items())


def test_without_memory_the_version_history_tells_an_edit_from_a_code_change(
        grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    run(settings, DriftMemory(None))
    path = Path(settings.dashboards_dir or "") / f"{UID}.json"
    model = json.loads(path.read_text())
    model["panels"][0]["title"] = "up, renamed in git"
    path.write_text(json.dumps(model))
    assert run(settings, DriftMemory(None)).drifts == ()  # a restart with new code: the newest version is watchtower's
    assert find_panel(grafana.state.dashboards[UID]["dashboard"], "up, renamed in git")
    grafana.ui_edit_dashboard(UID, lambda m: m.update(title="Certificates (better)"), login="oncall")
    (drift,) = run(settings, DriftMemory(None)).drifts or ()  # a restart after someone edited
    assert (drift.uid, drift.by, drift.action) == (UID, "oncall", "backed_up") and drift.copy_uid


def test_dry_run_names_the_edit_and_writes_nothing(grafana: GrafanaAPIServer, backed: GrafanaSettings) -> None:
    memory = DriftMemory(backed.state_file)
    run(backed, memory)
    grafana.ui_edit_dashboard(UID, rename_panel, login="oncall")
    grafana.clear_log()
    report = provision.run(backed, dry_run=True, budget_seconds=0, memory=memory)
    assert report.plan is not None and grafana.writes() == [] and not Path(backed.backup_dir or "").exists()
    (line,) = [c.line() for c in report.plan.writes]
    assert UID in line and "edited in Grafana by oncall; on_drift: backup" in line


def test_without_backup_dir_nothing_is_deleted(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    memory = DriftMemory(None)
    run(settings, memory)
    alerts = settings.alerts_path() / "pipeline.rules.yaml"
    alerts.write_text(alerts.read_text().split("  - name: heartbeat")[0])  # type: ignore[attr-defined]
    report = run(settings, memory)
    assert any(r["title"] == "Watchdog" for r in grafana.state.rules.values())
    assert any(e.reason == "backup_failed" and "backup_dir" in e.detail for e in report.errors())
    assert all(w.method != "DELETE" for w in grafana.writes())
