"""The removal table and the pure matching: which use breaks at which hop."""

from __future__ import annotations

import json
import re

import pytest

from watchtower.upgrades import removal_data as rd
from watchtower.upgrades import removed_apis as ra

DEPLOYMENT_V1BETA1 = ra.ObjectUse(rd.SOURCE_LIVE, "extensions/v1beta1", "Deployment", "shop", "web")
INGRESS_V1BETA1 = ra.ObjectUse(rd.SOURCE_HELM, "networking.k8s.io/v1beta1", "Ingress", "shop", "web", "shop/web revision 2")
CURRENT = ra.ObjectUse(rd.SOURCE_LIVE, "apps/v1", "Deployment", "shop", "api")


def test_shipped_data_covers_the_guide() -> None:
    data = rd.load_shipped()
    assert data.source == "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"
    assert data.retrieved == "2026-12-02"
    assert len(data.apis) == 50
    by_release: dict[str, int] = {}
    for api in data.apis:
        by_release[rd.format_minor(api.removed_in)] = by_release.get(rd.format_minor(api.removed_in), 0) + 1
    # per section of the guide: v1.16 12, v1.22 23 (authorization's four reviews counted), v1.25 7, ...
    assert by_release == {"1.16": 12, "1.22": 23, "1.25": 7, "1.26": 3, "1.27": 1, "1.29": 2, "1.32": 2}
    deployment = data.lookup("extensions/v1beta1", "Deployment")
    assert deployment is not None and deployment.removed_in == (1, 16)
    assert deployment.replacement_text == "apps/v1 (since 1.9)"
    psp = data.lookup("policy/v1beta1", "PodSecurityPolicy")
    assert psp is not None and psp.replacement == "" and "Pod Security Admission" in psp.replacement_text
    assert data.lookup("apps/v1", "Deployment") is None
    assert data.lookup_resource("networking.k8s.io", "v1beta1", "ingresses") is not None
    assert ("extensions", "v1beta1") in data.group_versions()


def test_bad_entries_name_the_field() -> None:
    good = {"group": "apps", "version": "v1beta1", "kind": "Deployment", "resource": "deployments", "removed_in": "1.16"}
    cases = {
        "apis[0].removed_in": {**good, "removed_in": "1.16.0"},
        "apis[0].kind": {**good, "kind": ""},
        "apis[0].colour": {**good, "colour": "red"},
        "apis[0].replacement": {**good, "replacement": 1},
    }
    for where, entry in cases.items():
        with pytest.raises(ValueError, match=re.escape(f"x.{where}")):
            rd.parse_removal_data({"apis": [entry]}, "x")
    with pytest.raises(ValueError, match=r"x\.apis\[1\]: apps/v1beta1 Deployment is already apis\[0\]"):
        rd.parse_removal_data({"apis": [good, good]}, "x")
    with pytest.raises(ValueError, match="an 'apis' list"):
        rd.parse_removal_data({"apis": {}}, "x")


def test_overrides_add_and_replace() -> None:
    data = rd.load_shipped()
    cm = rd.parse_entry({"group": "cert-manager.io", "version": "v1alpha2", "kind": "Certificate",
                         "resource": "certificates", "removed_in": "1.30", "replacement": "cert-manager.io/v1"}, "rules[0]")
    moved = rd.parse_entry({"group": "extensions", "version": "v1beta1", "kind": "Deployment",
                            "resource": "deployments", "removed_in": "1.17"}, "rules[1]")
    merged = rd.with_overrides(data, [cm, moved])
    assert len(merged.apis) == 51
    assert merged.lookup("cert-manager.io/v1alpha2", "Certificate") == cm
    assert merged.lookup("extensions/v1beta1", "Deployment").removed_in == (1, 17)  # type: ignore[union-attr]
    assert "2 from config" in merged.source
    assert rd.with_overrides(data, []) is data


def test_hops_from_a_v1_15_cluster() -> None:
    """v1.15 with an extensions/v1beta1 Deployment: the 1.16 hop breaks it, no later hop lists it."""
    data = rd.load_shipped()
    blockers = ra.match_objects([CURRENT, INGRESS_V1BETA1, DEPLOYMENT_V1BETA1], data, running=(1, 15))
    assert [b.use.name for b in blockers] == ["web", "web"]
    deployment, ingress = blockers
    assert deployment.api.kind == "Deployment" and deployment.breaks_at == (1, 16) and not deployment.already_removed
    assert deployment.hop_text == "1.15 → 1.16"
    assert ingress.breaks_at == (1, 22)
    path = ra.upgrade_path((1, 15), (1, 18))
    assert path == [(1, 16), (1, 17), (1, 18)]
    by_hop = ra.blockers_by_hop(blockers, path)
    assert by_hop == {(1, 16): [deployment], (1, 17): [], (1, 18): []}


def test_already_removed_and_unknown_running_version() -> None:
    data = rd.load_shipped()
    [late] = ra.match_objects([DEPLOYMENT_V1BETA1], data, running=(1, 30))
    assert late.already_removed and late.breaks_at is None
    assert late.hop_text == "already removed in 1.16"
    [unknown] = ra.match_objects([DEPLOYMENT_V1BETA1], data, running=None)
    assert not unknown.already_removed and unknown.breaks_at is None
    assert "running version unknown" in unknown.hop_text


def test_counts_are_per_api_and_source() -> None:
    data = rd.load_shipped()
    uses = [DEPLOYMENT_V1BETA1, ra.ObjectUse(rd.SOURCE_LIVE, "extensions/v1beta1", "Deployment", "shop", "cart"),
            ra.ObjectUse(rd.SOURCE_HELM, "extensions/v1beta1", "Deployment", "shop", "web"), INGRESS_V1BETA1]
    counts = ra.count_objects(ra.match_objects(uses, data, (1, 15)))
    assert [(c.kind, c.removed_in, c.source, c.count) for c in counts] == [
        ("Deployment", "1.16", "helm", 1), ("Deployment", "1.16", "live", 2), ("Ingress", "1.22", "helm", 1)]


def test_applied_api_version() -> None:
    applied = json.dumps({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "web"}})
    obj = {"metadata": {"name": "web", "annotations": {rd.LAST_APPLIED: applied}}}
    assert ra.applied_api_version(obj) == ("extensions/v1beta1", "Deployment")
    assert ra.applied_api_version({"metadata": {"name": "web"}}) is None
    for bad in ("{", "[]", json.dumps({"kind": "Deployment"})):
        with pytest.raises(ValueError, match="last-applied-configuration"):
            ra.applied_api_version({"metadata": {"annotations": {rd.LAST_APPLIED: bad}}})


METRICS = """\
# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="extensions",removed_release="1.16",resource="deployments",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="extensions",removed_release="1.16",resource="deployments",subresource="scale",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="batch",removed_release="1.25",resource="cronjobs",subresource="",version="v1beta1"} 0
apiserver_requested_deprecated_apis{group="stable.example.com",removed_release="",resource="crontabs",subresource="",version="v1beta1"} 1
# HELP apiserver_request_total [STABLE] Counter of apiserver requests.
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="nodes",scope="cluster",subresource="",verb="LIST",version="v1"} 12
"""


def test_requested_deprecated_apis() -> None:
    data = rd.load_shipped()
    a = ra.parse_requested_deprecated(METRICS, "10.0.0.1:6443")
    b = ra.parse_requested_deprecated(METRICS.splitlines()[2] + "\n", "10.0.0.2:6443")
    assert len(a) == 3  # the 0-valued series is not a use
    merged = ra.merge_requests(a + b, data)
    assert [(r.api_version, r.resource, r.removed_in, r.kind, r.apiservers) for r in merged] == [
        ("extensions/v1beta1", "deployments", (1, 16), "Deployment", ("10.0.0.1:6443", "10.0.0.2:6443")),
        ("stable.example.com/v1beta1", "crontabs", None, "", ("10.0.0.1:6443",)),
    ]
    assert merged[0].replacement == "apps/v1 (since 1.9)"
    with pytest.raises(ValueError, match="malformed"):
        ra.parse_requested_deprecated('apiserver_requested_deprecated_apis{group="x" 1\n', "a")


def test_minor_parsing() -> None:
    assert rd.parse_minor("1.16") == (1, 16) and rd.parse_minor("v1.9") == (1, 9)
    assert rd.next_minor((1, 15)) == (1, 16)
    for bad in ("1.16.0", "", None, "one.two"):
        with pytest.raises(ValueError):
            rd.parse_minor(bad)


def test_blockers_attach_to_the_plan_hop_that_breaks_them() -> None:
    """The collector's details become Plan.with_blockers input: the Deployment at 1.16 and nowhere after."""
    from watchtower.collectors.removed_apis import export
    from watchtower.upgrades import plan as plan_mod
    from watchtower.upgrades.kubeversion import parse_version

    data = rd.load_shipped()
    blockers = ra.match_objects([DEPLOYMENT_V1BETA1, CURRENT], data, running=(1, 15))
    scan = export.Scan(running=(1, 15), git_version="v1.15.12", data=data, blockers=tuple(blockers), requests=(),
                       checked={"live": 2}, failed_sources=(), hops=tuple(ra.upgrade_path((1, 15), (1, 18))))
    details = export.build_details(scan, max_listed=10)
    by_minor = export.plan_blockers(details)
    assert list(by_minor) == ["1.16"]
    [blocker] = by_minor["1.16"]
    assert blocker.kind == "removed_api" and "extensions/v1beta1 Deployment" in blocker.summary
    assert "apps/v1" in blocker.summary and blocker.detail == "shop/web (live)"
    cycles = {f"1.{m}": plan_mod.MinorRelease(f"1.{m}", parse_version(f"v1.{m}.9"), None) for m in range(15, 19)}
    plan = plan_mod.plan_upgrade(now=1_590_000_000.0, current=parse_version("v1.15.12"), latest=parse_version("v1.18.9"),
                                 releases=cycles, days_per_hop=7, reminder_lead=14 * 86400.0).with_blockers(by_minor)
    assert [(h.minor, len(h.blockers)) for h in plan.hops] == [("1.16", 1), ("1.17", 0), ("1.18", 0)]
