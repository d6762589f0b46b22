"""The test Grafana keeps dashboard versions, who saved them and their history like Grafana does."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.grafana_api import ApiError, GrafanaAPIServer, find_panel


def _api(grafana: GrafanaAPIServer, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return requests.request(method, f"{grafana.url}/api{path}", json=body, params=params, timeout=5,
                            headers={"Authorization": f"Bearer {grafana.token}"})


def _save(grafana: GrafanaAPIServer, model: dict[str, Any], **extra: Any) -> requests.Response:
    return _api(grafana, "POST", "/dashboards/db", {"dashboard": model, **extra})


MODEL = {"uid": "wt-versions", "title": "Versions", "panels": [{"type": "stat", "title": "up", "id": 1}]}


def test_each_save_is_a_version_with_who_and_when(grafana: GrafanaAPIServer) -> None:
    first = _save(grafana, MODEL, message="first")
    assert first.status_code == 200 and first.json()["version"] == 1
    second = _save(grafana, {**MODEL, "description": "two"}, overwrite=True, message="second")
    assert second.json()["version"] == 2
    got = _api(grafana, "GET", "/dashboards/uid/wt-versions").json()
    assert got["dashboard"]["version"] == 2 and got["meta"]["version"] == 2
    assert got["meta"]["createdBy"] == got["meta"]["updatedBy"] == "sa-1-watchtower"
    assert got["meta"]["created"] and got["meta"]["updated"]

    history = _api(grafana, "GET", "/dashboards/uid/wt-versions/versions").json()
    assert history["continueToken"] == ""
    rows = history["versions"]
    assert [(r["version"], r["parentVersion"], r["message"], r["createdBy"]) for r in rows] == [
        (2, 1, "second", "sa-1-watchtower"), (1, 0, "first", "sa-1-watchtower")]
    assert "data" not in rows[0]
    assert [r["version"] for r in _api(grafana, "GET", "/dashboards/uid/wt-versions/versions", limit="1", start="1")
            .json()["versions"]] == [1]
    one = _api(grafana, "GET", "/dashboards/uid/wt-versions/versions/1").json()
    assert one["data"]["version"] == 1 and "description" not in one["data"]
    assert _api(grafana, "GET", "/dashboards/uid/wt-versions/versions/9").status_code == 500  # as Grafana answers
    assert _api(grafana, "GET", "/dashboards/uid/nope/versions").status_code == 404


def test_a_stale_version_without_overwrite_is_412(grafana: GrafanaAPIServer) -> None:
    _save(grafana, MODEL)
    _save(grafana, {**MODEL, "version": 1, "description": "saved by someone"})
    stale = _save(grafana, {**MODEL, "version": 1, "description": "stale"})
    assert stale.status_code == 412 and stale.json()["status"] == "version-mismatch"
    assert _save(grafana, {**MODEL, "version": 1}, overwrite=True).json()["version"] == 3


def test_a_ui_edit_is_saved_by_the_person(grafana: GrafanaAPIServer) -> None:
    _save(grafana, MODEL)
    version = grafana.ui_edit_dashboard("wt-versions", lambda d: find_panel(d, "up").update(title="up (edited)"),
                                        message="better title")
    assert version == 2
    meta = _api(grafana, "GET", "/dashboards/uid/wt-versions").json()["meta"]
    assert (meta["createdBy"], meta["updatedBy"]) == ("sa-1-watchtower", "oncall")
    rows = _api(grafana, "GET", "/dashboards/uid/wt-versions/versions").json()["versions"]
    assert (rows[0]["createdBy"], rows[0]["message"]) == ("oncall", "better title")
    # a service account can make the same kind of edit; a viewer cannot
    grafana.ui_edit_dashboard("wt-versions", lambda d: d.update(description="by a bot"), token=grafana.token)
    with pytest.raises(ApiError) as denied:
        grafana.ui_edit_dashboard("wt-versions", lambda d: d.update(description="no"), token=grafana.viewer_token)
    assert denied.value.code == 403


def test_restore_saves_an_old_version_as_a_new_one(grafana: GrafanaAPIServer) -> None:
    _save(grafana, MODEL)
    grafana.ui_edit_dashboard("wt-versions", lambda d: d.update(title="Versions (edited)"))
    restored = _api(grafana, "POST", "/dashboards/uid/wt-versions/restore", {"version": 1})
    assert restored.status_code == 200 and restored.json()["version"] == 3
    got = _api(grafana, "GET", "/dashboards/uid/wt-versions").json()
    assert got["dashboard"]["title"] == "Versions"
    row = _api(grafana, "GET", "/dashboards/uid/wt-versions/versions").json()["versions"][0]
    assert (row["restoredFrom"], row["message"]) == (1, "Restored from version 1")
    again = _api(grafana, "POST", "/dashboards/uid/wt-versions/restore", {"version": 3})
    assert again.status_code == 400  # identical to the current one
    assert _api(grafana, "POST", "/dashboards/uid/wt-versions/restore", {"version": 42}).status_code == 404


def test_rules_carry_updated(grafana: GrafanaAPIServer) -> None:
    assert _api(grafana, "POST", "/folders", {"uid": "f", "title": "F"}).status_code == 200
    rule = {"uid": "r1", "title": "R", "ruleGroup": "g", "folderUID": "f", "condition": "A",
            "noDataState": "OK", "execErrState": "Error", "for": "0s",
            "data": [{"refId": "A", "datasourceUid": "__expr__", "model": {"type": "math", "expression": "1"}}]}
    created = _api(grafana, "POST", "/v1/provisioning/alert-rules", rule).json()
    assert created["updated"].endswith("Z")
