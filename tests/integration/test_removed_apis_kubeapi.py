"""The removed_apis collector against the test Kubernetes API: discovery, applied objects, Helm, /metrics.

A Kubernetes 1.15 cluster (tests/support/legacy_cluster.py) with Deployments applied through
extensions/v1beta1 and apps/v1, a Helm release rendered by the embedded Helm and stored as
Helm's Secrets driver stores it, and an apiserver /metrics text with the deprecated-API series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kubeapi import KubeAPIServer
from tests.support import legacy_cluster as lc
from tests.support.expo import one, samples
from watchtower.app import config as config_mod
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.removed_apis import RemovedApisCollector
from watchtower.collectors.removed_apis.export import plan_blockers, render_check
from watchtower.core.results import Severity
from watchtower.io.kube import KubeClientFactory, get_json

NOW = 1_780_000_000.0  # a fixed clock: nothing here may depend on the time of day


def make(tmp_path: Path, api: KubeAPIServer, **settings: Any) -> RemovedApisCollector:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", auth="token")
    data = {"kubernetes": {"kubeconfig": str(kubeconfig), "request_timeout": 5, "page_size": 2},
            "collectors": {"removed_apis": settings}}
    config = config_mod.from_mapping(data)
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=lambda: NOW, node_name="t")
    return RemovedApisCollector(config.collectors["removed_apis"], context)


def test_v1_15_extensions_deployment_blocks_the_1_16_hop_only(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    lc.serve_1_15(kube_api)
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    lc.add_deployment(kube_api, "shop", "api", "apps/v1")
    lc.add_deployment(kube_api, "shop", "made-by-a-controller", None)
    result = make(tmp_path, kube_api, apiserver_metrics=False).collect()
    assert result.errors == ()
    d = result.details.to_json()
    assert d["running"] == "v1.15.12" and d["next_minor"] == "1.16"
    assert [(b["namespace"], b["name"], b["api"], b["breaks_at"]) for b in d["blockers"]] == [
        ("shop", "legacy-web", "extensions/v1beta1 Deployment", "1.15 → 1.16")]
    hops = {h["hop"]: h["blockers"] for h in d["hops"]}
    assert hops["1.15 → 1.16"] == 1
    assert all(n == 0 for hop, n in hops.items() if hop != "1.15 → 1.16") and len(hops) == 17  # up to 1.32
    # what `watchtower plan upgrade` attaches: one blocker on the 1.16 hop, none on any later hop
    assert {minor: [b.detail for b in bs] for minor, bs in plan_blockers(result.details).items()} == {"1.16": ["shop/legacy-web (live)"]}
    [finding] = result.findings
    assert finding.severity == Severity.CRITICAL and "shop/legacy-web (live)" in finding.message and "apps/v1" in finding.message
    m = samples(result.metrics)
    assert one(m, "watchtower_removed_api_objects", group="extensions", version="v1beta1", kind="Deployment",
               removed_in="1.16", source="live") == 1
    assert one(m, "watchtower_removed_api_minors_until_removal", group="extensions", version="v1beta1",
               kind="Deployment", removed_in="1.16", replacement="apps/v1") == 1
    assert one(m, "watchtower_removed_api_checked", source="live") == 3  # deployments listed once, not per version
    lists = [r for r in kube_api.requests if r.path.endswith("/deployments")]
    assert [r.path for r in lists] == ["/apis/extensions/v1beta1/deployments"] * 2  # two pages of limit 2
    assert not any("tokenreviews" in r.path for r in kube_api.requests)  # discovery says: not listable
    table = "\n".join(render_check(result.details))
    assert "NAMESPACE  NAME" in table and "legacy-web" in table and "1.15 → 1.16" in table
    assert "16 other hop(s) up to 1.32: none" in table


@pytest.mark.helm
def test_helm_release_and_apiserver_metrics(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    lc.serve_1_15(kube_api)
    chart = lc.write_chart(tmp_path / "legacy")
    manifest = lc.add_helm_release(kube_api, chart, "shop", "shop", revision=2)
    assert manifest.startswith("---\n# Source: legacy/templates/service.yaml\n") and "NOTES" not in manifest
    lc.add_helm_release(kube_api, chart, "shop", "shop", revision=1, status="superseded",
                        values={"ingressApiVersion": "extensions/v1beta1"})
    kube_api.add_secret("shop", "tls", data={"tls.crt": b"x"})
    kube_api.set_metrics(lc.METRICS_1_15)
    result = make(tmp_path, kube_api, helm_releases=True, live_objects=False).collect()
    assert result.errors == ()
    d = result.details.to_json()
    assert [(b["namespace"], b["name"], b["source"], b["api"], b["breaks_at"], b["detail"]) for b in d["blockers"]] == [
        ("shop", "shop-web", "helm", "extensions/v1beta1 Ingress", "1.21 → 1.22",
         "helm release shop/shop revision 2 (legacy-0.1.0)")]
    assert d["checked"] == {"apiserver_metrics": 1, "helm": 1}
    secret_lists = [r for r in kube_api.requests if r.path == "/api/v1/secrets"]
    assert secret_lists and all(r.query["fieldSelector"] == "type=helm.sh/release.v1"
                                and r.query["labelSelector"] == "owner=helm,status=deployed" for r in secret_lists)
    assert [(r["api"], r["removed_in"], r["kind"]) for r in d["requests"]] == [
        ("extensions/v1beta1 deployments", "1.16", "Deployment"), ("extensions/v1beta1 ingresses", "1.22", "Ingress")]
    m = samples(result.metrics)
    assert one(m, "watchtower_removed_api_objects", group="extensions", version="v1beta1", kind="Ingress",
               removed_in="1.22", source="helm") == 1
    assert one(m, "watchtower_removed_api_requests", group="extensions", version="v1beta1", resource="deployments",
               kind="Deployment", removed_in="1.16") == 1
    severities = {f.subject: f.severity for f in result.findings}
    assert severities == {"extensions/v1beta1 Ingress": Severity.WARNING,
                          "extensions/v1beta1 deployments requests": Severity.CRITICAL,
                          "extensions/v1beta1 ingresses requests": Severity.WARNING}


def test_each_source_fails_alone(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """Forbidden /metrics and Secrets: errors name them, live objects are still reported, no OK finding."""
    lc.serve_1_15(kube_api)
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    kube_api.forbid_path("/metrics")
    kube_api.forbid("secrets")
    result = make(tmp_path, kube_api, helm_releases=True).collect()
    assert sorted((e.location, e.reason) for e in result.errors) == [
        ("/api/v1/secrets", "forbidden"), (f"{kube_api.url}/metrics", "forbidden")]
    assert result.details.to_json()["failed_sources"] == ["helm", "apiserver_metrics"]
    assert [b["name"] for b in result.details.to_json()["blockers"]] == ["legacy-web"]


def test_nothing_found_is_ok_only_when_everything_was_read(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    kube_api.set_version("v1.30.4")  # serves none of the removed versions
    kube_api.serve("apps/v1", "deployments", "Deployment")
    lc.add_deployment(kube_api, "shop", "api", "apps/v1")
    result = make(tmp_path, kube_api).collect()
    assert result.errors == ()
    [ok] = result.findings
    assert ok.severity == Severity.OK and "nothing uses an API removed by 1.32" in ok.message
    assert not [r for r in kube_api.requests if r.path.endswith("/deployments")]  # nothing removed is served
    kube_api.knobs.fail_status = 503
    result = make(tmp_path, kube_api).collect()
    assert {e.reason for e in result.errors} == {"api_status_503"}
    assert result.findings == ()  # could not look: no OK


def test_data_file_and_rules_override(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    lc.serve_1_15(kube_api)
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    moved = {"group": "extensions", "version": "v1beta1", "kind": "Deployment", "resource": "deployments",
             "removed_in": "1.18", "replacement": "apps/v1"}
    result = make(tmp_path, kube_api, apiserver_metrics=False, rules=[moved], target="1.20").collect()
    assert [b["breaks_at"] for b in result.details.to_json()["blockers"]] == ["1.17 → 1.18"]
    assert [h["hop"] for h in result.details.to_json()["hops"]][-1] == "1.19 → 1.20"
    data_file = tmp_path / "data.yaml"
    data_file.write_text("apis: [{group: extensions, version: v1beta1, kind: Deployment, resource: deployments, removed_in: '1.9.0'}]\n")
    with pytest.raises(config_mod.ConfigError, match=r"collectors\.removed_apis\.data_file.*removed_in"):
        make(tmp_path, kube_api, data_file=str(data_file))


def test_discovery_and_group_lists_parse_in_the_official_client(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """The test server's discovery documents and group lists are what the real client's models expect."""
    from kubernetes import client, config

    lc.serve_1_15(kube_api)
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    configuration = client.Configuration()
    config.load_kube_config(str(kube_api.write_kubeconfig(tmp_path / "kc")), client_configuration=configuration)
    api = client.ApiClient(configuration)
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert [v.version for v in groups["apps"].versions] == ["v1", "v1beta2", "v1beta1"]
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    resources = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert resources["deployments"].kind == "Deployment" and resources["deployments"].namespaced
    [deployment] = client.AppsV1Api(api).list_namespaced_deployment("shop").items
    assert deployment.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].startswith(
        '{"apiVersion":"extensions/v1beta1","kind":"Deployment"')
    kube_api.stop_serving("extensions/v1beta1")
    assert "extensions" not in {g.name for g in client.ApisApi(api).get_api_versions().groups}
    with pytest.raises(client.exceptions.ApiException) as caught:
        get_json(api, "/apis/extensions/v1beta1/deployments")
    assert caught.value.status == 404


def test_status_page_names_the_objects(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """Names are on the status page (and in /api/status), never in metric labels."""
    from watchtower.app.statuspage import render_page

    lc.serve_1_15(kube_api)
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    result = make(tmp_path, kube_api, apiserver_metrics=False).collect()
    page = render_page({"status": "critical", "collectors": [], "findings": [], "details": {"removed_apis": result.details.to_json()}})
    assert "Upgrade blockers: removed APIs in use" in page and "legacy-web" in page and "1.15 → 1.16" in page
    assert "legacy-web" not in "".join(str(s) for family in result.metrics for s in family.samples)


def test_check_cli_prints_the_table_and_exits_2(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """`watchtower check --collector removed_apis` as a real process: the table, JSON, exit status."""
    import json
    import subprocess
    import sys

    import yaml

    lc.serve_1_15(kube_api)
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    kube_api.set_metrics(lc.METRICS_1_15)
    config = tmp_path / "watchtower.yaml"
    config.write_text(yaml.safe_dump({"kubernetes": {"kubeconfig": str(kube_api.write_kubeconfig(tmp_path / "kc"))}}))
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-m", "watchtower", "check", "--config", str(config), "--collector", "removed_apis"]
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr  # the next hop breaks an object: critical
    section = done.stdout[done.stdout.index("REMOVED APIS"):]
    header = next(line for line in section.splitlines() if "NAMESPACE" in line)
    assert header.split() == ["NAMESPACE", "NAME", "SOURCE", "API", "IN", "USE", "REPLACEMENT", "BREAKING", "HOP"]
    row = next(line for line in section.splitlines() if "legacy-web" in line)
    assert row.split() == ["shop", "legacy-web", "live", "extensions/v1beta1", "Deployment", "apps/v1", "(since", "1.9)", "1.15", "→", "1.16"]
    as_json = subprocess.run([*argv, "--output", "json"], cwd=root, capture_output=True, text=True, timeout=60)
    doc = json.loads(as_json.stdout)
    assert doc["details"]["removed_apis"]["blockers"][0]["name"] == "legacy-web"


def test_every_configured_apiserver_is_scraped(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """control_plane.apiservers: each /metrics is read with the client's credentials and CA (the test API
    plays two apiservers, as 127.0.0.1 and as localhost); one that does not answer is an error, not a stop."""
    kube_api.set_version("v1.24.9")
    kube_api.set_metrics('apiserver_requested_deprecated_apis{group="policy",removed_release="1.25",'
                         'resource="podsecuritypolicies",subresource="",version="v1beta1"} 1\n')
    endpoints = [f"127.0.0.1:{kube_api.port}", f"localhost:{kube_api.port}", "127.0.0.1:1"]
    result = make(tmp_path, kube_api, live_objects=False, apiservers=endpoints).collect()
    assert [(e.location, e.reason) for e in result.errors] == [("https://127.0.0.1:1/metrics", "unreachable")]
    [req] = result.details.to_json()["requests"]
    assert req["apiservers"] == f"127.0.0.1:{kube_api.port}, localhost:{kube_api.port}" and req["kind"] == "PodSecurityPolicy"
    m = samples(result.metrics)
    assert one(m, "watchtower_removed_api_requests", group="policy", version="v1beta1", resource="podsecuritypolicies",
               kind="PodSecurityPolicy", removed_in="1.25") == 2
    assert one(m, "watchtower_removed_api_minors_until_removal", group="policy", version="v1beta1",
               kind="PodSecurityPolicy", removed_in="1.25", replacement="") == 1
    assert [r.auth for r in kube_api.requests if r.path == "/metrics"] == ["token", "token"]


def test_plan_upgrade_lists_the_blocker_on_the_1_16_hop_only(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    """`watchtower plan upgrade` on a v1.15 cluster (latest v1.18): three hops, the extensions/v1beta1
    Deployment on the 1.16 hop and on no later one; the same plan in `check --output json`."""
    import datetime
    import json
    import subprocess
    import sys

    import yaml

    from tests.support.kubeadm_tree import UTC, KubeadmTree
    from tests.support.release_server import ReleaseServer

    lc.serve_1_15(kube_api)
    kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.15.12\n"})
    lc.add_deployment(kube_api, "shop", "legacy-web", "extensions/v1beta1")
    lc.add_deployment(kube_api, "shop", "api", "apps/v1")
    root = tmp_path / "etc-kubernetes"
    KubeadmTree(root, datetime.datetime(2019, 1, 10, tzinfo=UTC)).control_plane(
        datetime.datetime.now(UTC) - datetime.timedelta(days=20))
    files = {"/release/stable.txt": b"v1.18.20\n", **{f"/release/stable-1.{m}.txt": f"v1.{m}.9\n".encode() for m in (15, 16, 17, 18)}}
    with ReleaseServer(files) as server:
        config = tmp_path / "watchtower.yaml"
        config.write_text(yaml.safe_dump({
            "kubernetes": {"kubeconfig": str(kube_api.write_kubeconfig(tmp_path / "kc"))},
            "collectors": {"upgrade": {"release_base_url": f"{server.url}/release", "kubeadm_root": str(root)},
                           "nodes": {"enabled": False}, "removed_apis": {"apiserver_metrics": False}},
        }))
        repo = Path(__file__).resolve().parents[2]
        done = subprocess.run([sys.executable, "-m", "watchtower", "plan", "upgrade", "--output", "json", "--config", str(config)],
                              cwd=repo, capture_output=True, text=True, timeout=60)
        doc = json.loads(done.stdout)
        assert doc["removed_api_data"] is True and doc["errors"] == [], done.stdout + done.stderr
        hops = {h["minor"]: [b["detail"] for b in h["blockers"] if b["kind"] == "removed_api"] for h in doc["hops"]}
        assert hops == {"1.16": ["shop/legacy-web (live)"], "1.17": [], "1.18": []}
        assert done.returncode >= 1 and any("hops have blockers: 1.16 (1)" in r for r in doc["reasons"])
        table = subprocess.run([sys.executable, "-m", "watchtower", "plan", "upgrade", "--config", str(config)],
                               cwd=repo, capture_output=True, text=True, timeout=60).stdout
        assert "BLOCKER: 1 object(s) use extensions/v1beta1 Deployment (removed in 1.16): migrate to apps/v1" in table, table
        checked = subprocess.run([sys.executable, "-m", "watchtower", "check", "--output", "json", "--config", str(config),
                                  "--collector", "upgrade", "--collector", "removed_apis"],
                                 cwd=repo, capture_output=True, text=True, timeout=60)
        plan = json.loads(checked.stdout)["plan"]
        assert [(h["minor"], len(h["blockers"])) for h in plan["hops"]] == [("1.16", 1), ("1.17", 0), ("1.18", 0)]
