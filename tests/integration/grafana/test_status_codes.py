"""How the client and reconciler read Grafana's answers: a refused object is not a refused credential.

The test Grafana answers as Grafana's source does (tests/grafana_api cites the files): a rule
provenance conflict is 409 (500 on older releases), a contact point's is a 403 naming the
provenance, a duplicate title is 400, DELETE of a missing rule is 204. Each of these must fail
only the object concerned; only a 401 or a permission 403 stops the run.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.grafana_api import GrafanaAPIServer
from watchtower.provisioning import desired, provision
from watchtower.provisioning.api import Reconciler
from watchtower.provisioning.changes import Change, Plan
from watchtower.provisioning.client import GrafanaAuthError, GrafanaClient, GrafanaRequestError
from watchtower.provisioning.settings import GrafanaSettings


def first_run(settings: GrafanaSettings) -> desired.DesiredState:
    report = provision.run(settings, sent_secrets={}, budget_seconds=0)
    assert report.success, report.errors()
    return report.desired


def apply(settings: GrafanaSettings, state: desired.DesiredState, *changes: Change) -> tuple[dict[str, str], list[str]]:
    client = GrafanaClient(settings)
    try:
        outcome = Reconciler(client, settings).apply(state, Plan(changes))
    finally:
        client.close()
    return {c.uid: s for c, s in outcome.changes}, [e.reason for e in outcome.errors]


@pytest.mark.parametrize("legacy", [False, True], ids=["409", "legacy-500"])
def test_rule_provenance_conflict_fails_that_rule_only(grafana: GrafanaAPIServer, settings: GrafanaSettings,
                                                       legacy: bool) -> None:
    state = first_run(settings)  # rules stored with provenance "api"
    grafana.legacy_provenance_errors = legacy
    rule, other = state.rules[0], state.rules[1]
    grafana.state.rules[other.uid]["title"] = "drifted"
    # the plan saw no provenance (e.g. a Grafana that does not show it), so the update goes out
    # with X-Disable-Provenance, which Grafana refuses for an "api" rule
    no_prov = dataclasses.replace(settings, disable_provenance=True)
    states, reasons = apply(no_prov, state,
                            Change("alert-rule", rule.uid, rule.title, "update"),
                            Change("alert-rule", other.uid, other.title, "update", provenance="api"))
    assert states == {rule.uid: "failed", other.uid: "updated"}
    assert reasons == ["foreign_provenance"]
    assert grafana.state.rules[other.uid]["title"] == other.title


def test_contact_point_provenance_403_is_not_an_auth_error(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    state = first_run(settings)
    point = state.contact_points[0]
    no_prov = dataclasses.replace(settings, disable_provenance=True)
    states, reasons = apply(no_prov, state, Change("contact-point", point.uid, point.name, "update"))
    assert states == {point.uid: "failed"} and reasons == ["foreign_provenance"]


def test_duplicate_title_is_a_rejected_object(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    state = first_run(settings)
    a, b = state.rules[0], state.rules[1]
    grafana.state.rules[a.uid]["title"] = b.title  # someone renamed a rule in Grafana: b's title is taken
    client = GrafanaClient(settings)
    with pytest.raises(GrafanaRequestError) as raised:
        client.request("PUT", f"/v1/provisioning/alert-rules/{b.uid}", "update", body=b.body())
    client.close()
    assert raised.value.status == 400 and not raised.value.provenance


def test_deleting_a_rule_that_is_already_gone_succeeds(grafana: GrafanaAPIServer, settings: GrafanaSettings) -> None:
    state = first_run(settings)
    rule = state.rules[0]
    del grafana.state.rules[rule.uid]
    grafana.state.provenance.pop(("rule", rule.uid))
    states, reasons = apply(settings, state, Change("alert-rule", rule.uid, rule.title, "delete"))
    assert states == {rule.uid: "deleted"} and reasons == []


def test_a_permission_403_still_stops_the_run(grafana: GrafanaAPIServer, settings: GrafanaSettings,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WT_TEST_GRAFANA_TOKEN", "glsa_viewer_token_abcdef")
    client = GrafanaClient(settings)
    with pytest.raises(GrafanaAuthError):
        client.get("/v1/provisioning/alert-rules", "alert rules")
    client.close()
