"""The test Grafana API server is strict the way Grafana is (else the provisioner tests prove little)."""

from __future__ import annotations

import pytest
import requests
import yaml

from tests.grafana_api import REDACTED, GrafanaAPIServer
from watchtower.provisioning.rules import rule_data


def call(grafana: GrafanaAPIServer, method: str, path: str, json: object = None, token: str | None = None,
         headers: dict[str, str] | None = None) -> requests.Response:
    auth = {"Authorization": f"Bearer {token or grafana.token}"}
    return requests.request(method, grafana.url + path, json=json, headers={**auth, **(headers or {})}, timeout=5)


def rule(folder: str = "f1", uid: str = "r1", title: str = "R") -> dict[str, object]:
    return {"uid": uid, "title": title, "ruleGroup": "g", "folderUID": folder, "condition": "C",
            "data": rule_data("up == 0", "prom", False), "noDataState": "OK", "execErrState": "Error", "for": "5m"}


def test_auth(grafana: GrafanaAPIServer) -> None:
    assert requests.get(grafana.url + "/api/health", timeout=5).json()["database"] == "ok"
    answer = call(grafana, "GET", "/api/folders", token="wrong")
    assert answer.status_code == 401 and answer.json()["message"] == "Invalid API key"
    assert requests.get(grafana.url + "/api/folders", timeout=5).status_code == 401
    denied = call(grafana, "GET", "/api/v1/provisioning/alert-rules", token="glsa_viewer_token_abcdef")
    assert denied.status_code == 403 and "Permissions needed" in denied.json()["message"]


def test_folders_409_and_412(grafana: GrafanaAPIServer) -> None:
    assert call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "F"}).status_code == 200
    again = call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "Other"})
    assert again.status_code == 409 and "already exists" in again.json()["message"]
    assert call(grafana, "POST", "/api/folders", {"uid": "x" * 41, "title": "Long"}).status_code == 400
    assert call(grafana, "PUT", "/api/folders/f1", {"title": "G", "version": 7}).status_code == 412
    assert call(grafana, "PUT", "/api/folders/f1", {"title": "G", "version": 1}).json()["version"] == 2


def test_dashboards_uid_limit_and_version_mismatch(grafana: GrafanaAPIServer) -> None:
    long_uid = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d" * 41, "title": "D"}})
    assert long_uid.status_code == 400 and "40" in long_uid.json()["message"]
    assert call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d1", "title": "D"}, "folderUid": "nope"}).status_code == 400
    first = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d1", "title": "D"}})
    assert first.json()["version"] == 1
    stale = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d1", "title": "D", "version": 0}})
    assert stale.status_code == 412 and stale.json()["status"] == "version-mismatch"
    ok = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d1", "title": "D", "version": 1}})
    assert ok.json()["version"] == 2
    forced = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d1", "title": "D"}, "overwrite": True})
    assert forced.json()["version"] == 3
    got = call(grafana, "GET", "/api/dashboards/uid/d1").json()
    assert got["dashboard"]["version"] == 3 and got["meta"]["folderUid"] == ""
    assert call(grafana, "GET", "/api/dashboards/uid/missing").status_code == 404


def test_rules_need_a_folder_valid_uid_and_condition(grafana: GrafanaAPIServer) -> None:
    no_folder = call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule())
    assert no_folder.status_code == 400 and "folder" in no_folder.json()["message"]
    call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "F"})
    assert call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule(uid="u" * 41)).status_code == 400
    assert call(grafana, "POST", "/api/v1/provisioning/alert-rules", {**rule(), "condition": "Q"}).status_code == 400
    assert call(grafana, "POST", "/api/v1/provisioning/alert-rules", {**rule(), "for": "five"}).status_code == 400
    created = call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule())
    assert created.status_code == 201 and created.json()["provenance"] == "api"
    same_title = call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule(uid="r2"))
    assert same_title.status_code == 400 and "conflicting alert rule" in same_title.json()["message"]  # not 409


def test_provenance_rules(grafana: GrafanaAPIServer) -> None:
    call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "F"})
    call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule())
    disabled = {"X-Disable-Provenance": "true"}
    refused = call(grafana, "PUT", "/api/v1/provisioning/alert-rules/r1", rule(), headers=disabled)
    assert refused.status_code == 409, "a provenance conflict is a 409, not a 403 (alert_rules.go errProvenanceMismatch)"
    assert refused.json()["messageId"] == "alerting.provenanceMismatch"
    assert refused.json()["message"] == "cannot update with provided provenance '', needs 'api'"
    assert call(grafana, "DELETE", "/api/v1/provisioning/alert-rules/r1", headers=disabled).status_code == 409
    grafana.legacy_provenance_errors = True  # Grafana before the 409: a plain error, so a 500
    legacy = call(grafana, "PUT", "/api/v1/provisioning/alert-rules/r1", rule(), headers=disabled)
    assert legacy.status_code == 500 and "cannot changed provenance from 'api' to ''" in legacy.json()["message"]
    grafana.legacy_provenance_errors = False
    assert call(grafana, "DELETE", "/api/v1/provisioning/alert-rules/r1").status_code == 204
    assert call(grafana, "DELETE", "/api/v1/provisioning/alert-rules/r1").status_code == 204  # gone: still 204, not 404
    assert call(grafana, "GET", "/api/v1/provisioning/alert-rules/r1").status_code == 404
    call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule(), headers=disabled)
    assert "provenance" not in call(grafana, "GET", "/api/v1/provisioning/alert-rules/r1").json()
    assert call(grafana, "PUT", "/api/v1/provisioning/alert-rules/r1", rule()).status_code == 200  # none → api is allowed


def test_contact_point_secrets_are_redacted_and_policy_receivers_checked(grafana: GrafanaAPIServer) -> None:
    secret = "https://hooks.slack.test/services/SECRET"
    body = {"uid": "s1", "name": "team", "type": "slack", "settings": {"url": secret}}
    assert call(grafana, "POST", "/api/v1/provisioning/contact-points", body).status_code == 202
    listed = call(grafana, "GET", "/api/v1/provisioning/contact-points").json()
    assert {p["name"] for p in listed} == {"grafana-default-email", "team"}
    assert next(p for p in listed if p["uid"] == "s1")["settings"]["url"] == REDACTED
    assert secret not in str(listed)
    assert call(grafana, "PUT", "/api/v1/provisioning/contact-points/s1",
                {**body, "settings": {"url": REDACTED}}).status_code == 202
    assert grafana.state.contact_points["s1"]["settings"]["url"] == secret  # redacted means "keep"
    bad = call(grafana, "PUT", "/api/v1/provisioning/policies", {"receiver": "nobody"})
    assert bad.status_code == 400 and "'nobody' does not exist" in bad.json()["message"]
    assert call(grafana, "PUT", "/api/v1/provisioning/policies", {"receiver": "team"}).status_code == 202
    assert call(grafana, "DELETE", "/api/v1/provisioning/contact-points/s1").status_code == 409  # still routed to


def test_restart_empty_and_down(grafana: GrafanaAPIServer) -> None:
    call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "F"})
    grafana.restart_empty()
    assert call(grafana, "GET", "/api/folders").json() == []
    assert call(grafana, "GET", "/api/v1/provisioning/policies").json()["receiver"] == "grafana-default-email"
    grafana.down()
    with pytest.raises(requests.ConnectionError):
        requests.get(grafana.url + "/api/health", timeout=2)
    grafana.up()
    assert requests.get(grafana.url + "/api/health", timeout=2).ok


def test_kubernetes_and_requests_talk_to_the_test_grafana(grafana: GrafanaAPIServer) -> None:
    """The kubernetes client and requests (what watchtower's Grafana client uses) both parse its answers."""
    import kubernetes.client

    api = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=grafana.url))
    response = api.call_api("GET", grafana.url + "/api/health")
    response.read()
    assert response.status == 200 and b'"database": "ok"' in response.data
    assert requests.get(grafana.url + "/api/health", timeout=5).status_code == 200


def test_rule_group_interval(grafana: GrafanaAPIServer) -> None:
    call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "F"})
    assert call(grafana, "GET", "/api/v1/provisioning/folder/f1/rule-groups/g").status_code == 404
    call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule())
    assert call(grafana, "GET", "/api/v1/provisioning/folder/f1/rule-groups/g").json()["interval"] == 60
    group = {"title": "g", "folderUid": "f1", "interval": 15, "rules": [rule()]}
    assert call(grafana, "PUT", "/api/v1/provisioning/folder/f1/rule-groups/g", group).status_code == 400
    assert call(grafana, "PUT", "/api/v1/provisioning/folder/f1/rule-groups/g", {**group, "interval": 120}).status_code == 200
    assert call(grafana, "GET", "/api/v1/provisioning/folder/f1/rule-groups/g").json()["interval"] == 120


def test_pre_save_adds_grafanas_query_defaults(grafana: GrafanaAPIServer) -> None:
    """alert_query.go PreSave: maxDataPoints 43200 and intervalMs 1000 in every model lacking them."""
    call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "F"})
    body = rule()
    body["data"][-1]["model"].pop("maxDataPoints", None)
    body["data"][-1]["model"].pop("intervalMs", None)
    body["data"][0]["model"]["maxDataPoints"] = 0  # 0 is "missing" too
    body["data"][0]["model"]["intervalMs"] = 15000  # a set value stays
    call(grafana, "POST", "/api/v1/provisioning/alert-rules", body)
    stored = call(grafana, "GET", "/api/v1/provisioning/alert-rules/r1").json()["data"]
    assert [(q["model"]["maxDataPoints"], q["model"]["intervalMs"]) for q in stored] == \
        [(43200, 15000)] + [(43200, 1000)] * (len(stored) - 1)
    assert stored != body["data"], "a client comparing its own body with the stored rule must expect the defaults"


def test_file_provisioning_keeps_annotations_and_models_raw(grafana: GrafanaAPIServer) -> None:
    """rules_types.go: annotations and data[].model raw; title, labels, group, folder interpolated."""
    text = yaml.safe_dump({"apiVersion": 1, "groups": [{
        "orgId": 1, "name": "g-$$x", "folder": "${FOLDER}", "interval": "1m", "rules": [{
            "uid": "r1", "title": "T $$1 ${WHO}", "condition": "C", "for": "5m",
            "labels": {"severity": "$$crit", "team": "$TEAM"},
            "annotations": {"summary": "{{ $labels.node }} at {{ $values.B.Value }} ${WHO}"},
            "data": [{**q, "model": {**q["model"], "expr": 'label_replace(up, "a", "$1", "b", "(.*)")'}
                     if q["refId"] == "A" else q["model"]} for q in rule()["data"]],
        }]}]})
    grafana.provision_file(text, env={"FOLDER": "Ops", "WHO": "me", "TEAM": "infra"})
    stored = call(grafana, "GET", "/api/v1/provisioning/alert-rules/r1").json()
    assert stored["provenance"] == "file" and stored["ruleGroup"] == "g-$x" and stored["title"] == "T $1 me"
    assert stored["labels"] == {"severity": "$crit", "team": "infra"}
    assert stored["annotations"] == {"summary": "{{ $labels.node }} at {{ $values.B.Value }} ${WHO}"}
    assert stored["data"][0]["model"]["expr"] == 'label_replace(up, "a", "$1", "b", "(.*)")'
    assert grafana.state.folders[stored["folderUID"]]["title"] == "Ops"
    refused = call(grafana, "PUT", "/api/v1/provisioning/alert-rules/r1", rule())
    assert refused.status_code == 409 and "needs 'file'" in refused.json()["message"]
