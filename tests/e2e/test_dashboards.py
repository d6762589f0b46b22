"""The Grafana dashboards in dashboards/ are importable as they are and show real data.

Static: fixed unique uids, the ``datasource`` and ``cluster`` variables, every panel and query on
``${datasource}``, the JSON equal to what scripts/build_dashboards.py writes, and no query using
a metric that watchtower does not export (docs/metrics.md; Prometheus' ``up`` aside).

Real: Prometheus scrapes a real ``watchtower run`` whose collectors read test inputs (a kubeadm
PKI with a broken extra file, a real HAProxy, a real etcd with mTLS, the test kube-apiserver with
nodes, a version and kubeadm-config, a keepalived notify file, the VIP on loopback); then every panel query, with the dashboard variables
substituted, must return at least one series from /api/v1/query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.kubeapi import KubeAPIServer
from tests.kubeapi.objects import applied
from tests.support.etcd import EtcdMember
from tests.support.haproxy import HAProxyLab
from tests.support.kubeadm_pki import KubeadmPKI
from tests.support.processes import WatchtowerDaemon
from tests.support.promql_names import documented, metric_names
from tests.support.promstack import Prometheus
from tests.support.services import require_binary
from watchtower.app.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
METRICS_DOC = ROOT / "docs" / "metrics.md"
CLUSTER = "dash-lab"
# Metrics a panel may use that Prometheus itself makes.
PROMETHEUS_METRICS = frozenset({"up"})

# Which collector exports which metric (by name prefix); "core" = the daemon's meta-metrics.
COLLECTOR_OF_PREFIX = (  # longest prefix first, so watchtower_vip_reachable is not taken for watchtower_vip_
    *sorted(((prefix, name) for name, cls in REGISTRY.items() for prefix in cls.metric_prefixes),
            key=lambda pair: -len(pair[0])),
    ("watchtower_collector_", "core"),
    ("watchtower_build_info", "core"),
    ("up", "core"),
)

LAB_COLLECTORS = frozenset({"core", "certs", "haproxy", "vip", "apiserver", "etcd", "nodes", "upgrade", "removed_apis"})


def _load_builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_dashboards", ROOT / "scripts" / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel}:{self.ref}"

    def collectors(self) -> frozenset[str]:
        return frozenset(collector_of(m) for m in metric_names(self.expr))


def collector_of(metric: str) -> str:
    return next((c for prefix, c in COLLECTOR_OF_PREFIX if metric == prefix or metric.startswith(prefix)), "unknown")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in doc["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries() -> list[Query]:
    return [Query(doc["uid"], panel["title"], target["refId"], target["expr"])
            for doc in map(load, DASHBOARDS) for panel in panels(doc) for target in panel.get("targets", [])]


def substitute(expr: str) -> str:
    """The query Grafana sends with cluster = the lab's cluster and every other variable = All."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: CLUSTER if m.group(1) == "cluster" else ".*", expr)


QUERIES = queries()


# --- static ------------------------------------------------------------------------------------

def test_dashboards_exist_and_are_generated_from_the_builder() -> None:
    builder = _load_builder()
    assert sorted(p.name for p in DASHBOARDS) == sorted(builder.DASHBOARDS)
    for path, text in builder.rendered():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run scripts/build_dashboards.py"


def test_uids_are_fixed_unique_and_short() -> None:
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids) == 4
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", uid) for uid in uids), uids


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_importable_as_is(path: Path) -> None:
    doc = load(path)
    assert "__inputs" not in doc and doc.get("id") is None
    assert 36 <= doc["schemaVersion"] <= 41
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["cluster"]["type"] == "query" and "cluster" in variables["cluster"]["definition"]
    assert variables["cluster"]["includeAll"] and variables["cluster"]["allValue"] == ".*"
    ids = [p["id"] for p in doc["panels"]] + [p["id"] for p in panels(doc) if p not in doc["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in panels(doc):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert 'cluster=~"$cluster"' in target["expr"], (panel["title"], target["expr"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_do_not_overlap(path: Path) -> None:
    boxes = [(p["title"], p["gridPos"]) for p in load(path)["panels"]]
    for i, (a_title, a) in enumerate(boxes):
        for b_title, b in boxes[i + 1:]:
            apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                     or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert apart, f"{a_title!r} overlaps {b_title!r}"


def test_every_metric_in_a_panel_is_exported_by_watchtower() -> None:
    doc = METRICS_DOC.read_text(encoding="utf-8")
    variable_queries = [v["definition"] for p in DASHBOARDS for v in load(p)["templating"]["list"] if v["type"] == "query"]
    used = {m for q in QUERIES for m in metric_names(q.expr)} | {
        m for text in variable_queries for m in re.findall(r"label_values\((\w+)", text)}
    assert {m for m in used if not m.startswith("watchtower_")} <= PROMETHEUS_METRICS
    undocumented = {m for m in used if m.startswith("watchtower_") and not documented(m, doc)}
    assert sorted(undocumented) == [], "panels use metrics docs/metrics.md does not list"
    assert all(collector_of(m) != "unknown" for m in used), sorted(m for m in used if collector_of(m) == "unknown")


def test_every_collector_on_the_dashboards_is_in_the_lab() -> None:
    on_dashboards = {c for q in QUERIES for c in q.collectors()}
    assert on_dashboards == LAB_COLLECTORS
    assert LAB_COLLECTORS - {"core"} <= set(REGISTRY)


def test_substitution() -> None:
    assert substitute('x{cluster=~"$cluster", source=~"${source}"}') == f'x{{cluster=~"{CLUSTER}", source=~".*"}}'


# --- real Prometheus, real watchtower ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Lab:
    prometheus: Prometheus
    watchtower_url: str


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("dashboards")
    with contextlib.ExitStack() as started:
        pki = KubeadmPKI.build(workdir / "node", vip="127.0.0.1")
        extra = workdir / "extra"
        extra.mkdir()
        (extra / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        kube = started.enter_context(KubeAPIServer(workdir / "kubeapi"))
        kube.set_version("v1.30.2")
        kube.set_health(livez=True, readyz_checks={"etcd": True, "informer-sync": True, "poststarthook/rbac": True})
        token_file = workdir / "kube-token"
        token_file.write_text(kube.token)
        kube.add_node("cp1", roles=["control-plane"], kubelet_version="v1.30.2")
        kube.add_node("w1", roles=[], kubelet_version="v1.29.6", ready=False, unschedulable=True,
                      taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])
        kube.add_configmap("kube-system", "kubeadm-config", {
            "ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
                                    "kubernetesVersion: v1.30.2\n"})
        # an upgrade blocker: a FlowSchema applied as flowcontrol.apiserver.k8s.io/v1beta3 (served by 1.30,
        # removed in 1.32), and the apiserver counting requests to it
        kube.serve("flowcontrol.apiserver.k8s.io/v1beta3", "flowschemas", "FlowSchema", namespaced=False)
        kube.add_object("flowschemas", applied("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", None, "legacy-batch",
                                               {"matchingPrecedence": 500, "priorityLevelConfiguration": {"name": "workload-low"}}))
        kube.set_metrics('apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.32",'
                         'resource="flowschemas",subresource="",version="v1beta3"} 1\n')
        kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig", auth="token")
        (workdir / "etcd").mkdir()
        etcd = started.enter_context(EtcdMember(workdir / "etcd"))
        (workdir / "haproxy").mkdir()
        haproxy = started.enter_context(HAProxyLab(workdir / "haproxy", backends=2))
        notify = workdir / "VI_1.state"
        notify.write_text("INSTANCE VI_1 MASTER 150\n")
        config = {
            "cluster": CLUSTER,
            # the test apiserver plays one apiserver (as localhost) and, as 127.0.0.1, the VIP
            "control_plane": {"vips": ["127.0.0.1"], "endpoint": f"127.0.0.1:{kube.port}",
                              "apiservers": [f"localhost:{kube.port}"]},
            "kubernetes": {"kubeconfig": str(kubeconfig)},
            "collectors": {
                "certs": {"enabled": True, "interval": "1s", "kubeadm": True, "kubeadm_root": str(pki.root),
                          "kubelet_pki_dir": str(pki.kubelet_dir), "paths": [str(extra)],
                          "apiserver_endpoints": [f"127.0.0.1:{kube.port}"]},
                "haproxy": {"enabled": True, "interval": "1s", "stats_socket": str(haproxy.socket_path)},
                "vip": {"enabled": True, "interval": "1s", "keepalived_json_file": None,
                        "keepalived_notify_files": [str(notify)]},
                "etcd": {"enabled": True, "interval": "1s", "endpoints": [etcd.client_url],
                         "ca_file": etcd.certs.ca_file, "cert_file": etcd.certs.client_cert,
                         "key_file": etcd.certs.client_key},
                # the packaged snapshot (Ubuntu 22.04 of the test nodes) and a static date for containerd 1.7
                "nodes": {"enabled": True, "interval": "1s",
                          "lifecycle": {"source": "snapshot", "static": {"containerd": {"1.7": {"eol": "2026-03-10"}}}}},
                "apiserver": {"enabled": True, "interval": "1s", "port": kube.port, "ca_file": str(kube.ca_file),
                              "token_file": str(token_file)},
                "upgrade": {"enabled": True, "interval": "1s", "kubeadm_root": str(pki.root),
                            "release_source": "static", "static_latest": "v1.32.1",
                            "static_eol": {"1.30": "2026-06-28"}},
                "removed_apis": {"enabled": True, "interval": "1s"},
            },
        }
        daemon = started.enter_context(WatchtowerDaemon(workdir, config, "watchtower-dashboards"))
        prometheus = Prometheus(workdir / "prom", targets={"watchtower": [daemon.url.removeprefix("http://")]},
                                target_labels={"cluster": CLUSTER})
        started.callback(prometheus.stop)
        prometheus.start_and_wait()
        prometheus.wait_for_up("watchtower")
        # a few scrapes, so that increase()/changes() over a window have two samples
        prometheus.wait_until(lambda: prometheus.query('count_over_time(up{job="watchtower"}[1m]) >= 4'), 15,
                              "four scrapes")
        # every lab collector ran and succeeded: the panels show real data, not a failure's leftovers
        wanted = len(LAB_COLLECTORS - {"core"})
        prometheus.wait_until(lambda: prometheus.query(f"count(watchtower_collector_success == 1) == {wanted}"), 15,
                              f"{wanted} collectors succeeding")
        yield Lab(prometheus, daemon.url)


@pytest.mark.prometheus
@pytest.mark.haproxy
@pytest.mark.etcd
def test_variables_offer_the_lab_values(lab: Lab) -> None:
    def label_values(label: str, match: str) -> list[str]:
        answer = requests.get(f"{lab.prometheus.url}/api/v1/label/{label}/values", params={"match[]": match}, timeout=5)
        return answer.json()["data"]

    for path in DASHBOARDS:
        for variable in load(path)["templating"]["list"]:
            found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable.get("definition", ""))
            if found:
                values = label_values(found.group(2), substitute(found.group(1)))
                assert values, f"{path.name}: variable {variable['name']} offers nothing"
                if variable["name"] == "cluster":
                    assert values == [CLUSTER]


@pytest.mark.prometheus
@pytest.mark.haproxy
@pytest.mark.etcd
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.id)
def test_panel_query_returns_data(lab: Lab, query: Query) -> None:
    result = lab.prometheus.query(substitute(query.expr))
    assert result, f"no data for {query.expr!r}"


@pytest.mark.prometheus
@pytest.mark.promtool
@pytest.mark.haproxy
@pytest.mark.etcd
def test_full_metrics_output_passes_promtool_lint(lab: Lab) -> None:
    """Every collector at once, on real inputs: the whole /metrics is valid and lint-clean."""
    body = requests.get(f"{lab.watchtower_url}/metrics", timeout=10).content
    names = re.findall(rb"^# TYPE (\S+) ", body, flags=re.MULTILINE)
    assert len(names) == len(set(names)), "a metric family appears twice"
    exporting = {collector_of(n.decode()) for n in names}
    assert LAB_COLLECTORS <= exporting, f"collectors without metrics: {sorted(LAB_COLLECTORS - exporting)}"
    done = subprocess.run([require_binary("promtool"), "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
