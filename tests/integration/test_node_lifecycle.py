"""OS and container-runtime lifecycle, and the upgrade plan, through real components.

Nodes are real Node objects served by the test Kubernetes API (HTTPS, the official client,
paging), carrying osImage/containerRuntimeVersion strings seen on real clusters (the sources are
quoted in tests/unit/upgrades/test_nodeos.py). Release data comes from a local HTTP server
imitating endoflife.date (``/api/<product>.json``) and dl.k8s.io (``stable-1.N.txt``), including
an outage. The seed team's scenario runs the real upgrade and nodes collectors with a fixed clock.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.kubeapi import KubeAPIServer
from tests.support.expo import one, samples
from tests.support.kubeadm_tree import UTC, KubeadmTree
from tests.support.release_server import ReleaseServer
from tests.unit.upgrades.test_nodeos import IN_THE_WILD
from watchtower.app import config as config_mod
from watchtower.app.planning import plan_from_details, render_plan
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.nodes import NodesCollector
from watchtower.collectors.nodes.export import render_check
from watchtower.collectors.upgrade import UpgradeCollector
from watchtower.io.kube import KubeClientFactory
from watchtower.upgrades.lifecycle import load_snapshot

DAY = 86400.0


def day(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def cycles(*rows: tuple[str, str | bool, str | bool]) -> bytes:
    return json.dumps([{"cycle": c, "eol": eol, "extendedSupport": ext} for c, eol, ext in rows]).encode()


# endoflife.date's answers, trimmed to the cycles these nodes run; dates as the site gives them
ENDOFLIFE = {
    "/api/ubuntu.json": cycles(("22.04", "2027-04-01", "2032-04-09"), ("18.04", "2023-05-31", "2028-04-01"),
                               ("14.04", "2019-04-02", "2024-04-02")),
    "/api/debian.json": cycles(("12", "2026-06-10", "2028-06-10"), ("9", "2020-07-18", "2022-07-01")),
    "/api/rhel.json": cycles(("9", "2032-05-31", "2035-05-31"), ("7", "2024-06-30", "2028-06-30")),
    "/api/rocky-linux.json": cycles(("9", "2032-05-31", False)),
    "/api/flatcar.json": cycles(("3033", "2022-12-01", False)),
    "/api/containerd.json": cycles(("2.1", "2026-11-05", False), ("1.5", "2023-02-28", False),
                                   ("1.2", "2020-10-15", False), ("1.1", "2019-10-23", False)),
    "/api/docker-engine.json": cycles(("17.03", "2017-05-05", False)),
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def context(tmp_path: Path, api: KubeAPIServer, clock: Clock, collectors: dict[str, Any]) -> tuple[Any, CollectorContext]:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", auth="token")
    config = config_mod.from_mapping({"kubernetes": {"kubeconfig": str(kubeconfig), "request_timeout": 5, "page_size": 5},
                                      "collectors": collectors})
    return config, CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=clock, node_name="t")


def nodes_collector(tmp_path: Path, api: KubeAPIServer, clock: Clock, **lifecycle: Any) -> NodesCollector:
    config, ctx = context(tmp_path, api, clock, {"nodes": {"lifecycle": lifecycle}})
    return NodesCollector(config.collectors["nodes"], ctx)


def wild_cluster(api: KubeAPIServer) -> list[str]:
    api.set_version("v1.30.2")
    names = []
    for i, (os_image, runtime, _seen, _os, _rt) in enumerate(IN_THE_WILD):
        name = f"{'cp' if i < 3 else 'node'}-{i:02d}"
        api.add_node(name, roles=["control-plane"] if i < 3 else ["worker"], os_image=os_image, container_runtime=runtime)
        names.append(name)
    return names


def lifecycle_errors(result: Any) -> list[Any]:
    return [e for e in result.errors if "endoflife" in e.location or "lifecycle" in e.location]


def test_strings_from_the_wild_to_metrics(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    names = wild_cluster(kube_api)
    with ReleaseServer(ENDOFLIFE) as server:
        collector = nodes_collector(tmp_path, kube_api, Clock(day("2026-12-01")), url=f"{server.url}/api")
        result = collector.collect()
        assert sorted(server.requests) == sorted(ENDOFLIFE)  # each product present fetched once, nothing else
    assert lifecycle_errors(result) == []
    m = samples(result.metrics)
    # one OS and one runtime series per node, always, labelled as parsed; NaN where no date is known
    os_series = {dict(k)["node"]: (dict(k)["distribution"], dict(k)["release"], v)
                 for k, v in m["watchtower_node_os_eol_timestamp_seconds"].items()}
    rt_series = {dict(k)["node"]: (dict(k)["runtime"], dict(k)["version"], v)
                 for k, v in m["watchtower_node_runtime_eol_timestamp_seconds"].items()}
    assert set(os_series) == set(rt_series) == set(names)
    for name, (_os_image, _runtime, seen, (dist, release, _version), (rt, rt_version, _)) in zip(names, IN_THE_WILD):
        assert os_series[name][:2] == (dist, release), seen
        assert rt_series[name][:2] == (rt, rt_version), seen
    # Ubuntu 18.04.1 (cp-00): standard support per node, extended support per release, from endoflife.date
    assert one(m, "watchtower_node_os_eol_timestamp_seconds", node="cp-00", distribution="ubuntu", release="18.04") == day("2023-05-31")
    assert one(m, "watchtower_node_os_extended_eol_timestamp_seconds", distribution="ubuntu",
               release="18.04") == day("2028-04-01")
    assert one(m, "watchtower_node_runtime_eol_timestamp_seconds", node="cp-00", runtime="containerd", version="1.1.1") == day("2019-10-23")
    # RancherOS's docker 17.3.2 is docker-engine's 17.03 line
    assert one(m, "watchtower_node_runtime_eol_timestamp_seconds", node="node-08", runtime="docker",
               version="17.3.2") == day("2017-05-05")
    # unknown strings: exported as unknown, with no date made up (NaN)
    for node in ("node-05", "node-06", "node-08", "node-10"):  # Talos dev build, RHCOS, RancherOS, Red Hat CoreOS
        assert math.isnan(os_series[node][2]), node
    assert os_series["node-06"][:2] == os_series["node-10"][:2] == ("unknown", "unknown")
    assert rt_series["cp-01"][:2] == ("unknown", "unknown") and math.isnan(rt_series["cp-01"][2])  # docker://Unknown
    assert all(math.isnan(v) for r, _, v in rt_series.values() if r == "cri-o")  # no endoflife.date data for CRI-O
    assert one(m, "watchtower_node_lifecycle_data_timestamp_seconds", source="endoflife.date") == day("2026-12-01")
    assert one(m, "watchtower_node_lifecycle_reminder_lead_seconds") == 90 * DAY
    # findings and the check table: per release, not per node
    messages = {(f.subject, f.severity.label): f.message for f in result.findings}
    assert messages[("ubuntu 18.04", "warning")].startswith("standard support ended 2023-05-31; extended support until 2028-04-01")
    assert ("control plane", "warning") in messages  # cp-00 ubuntu 18.04, cp-01 debian 9, cp-02 ubuntu 18.04
    table = "\n".join(render_check(result.details))
    assert "ubuntu 18.04" in table and "2023-05-31" in table and "unknown unknown" in table


def test_outage_the_snapshot_answers_and_the_error_is_counted_once(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    wild_cluster(kube_api)
    clock = Clock(day("2026-12-01"))
    server = ReleaseServer(ENDOFLIFE).start()
    server.stop()  # connection refused from the start: an air-gapped first run
    collector = nodes_collector(tmp_path, kube_api, clock, url=f"{server.url}/api", retry="10m")
    result = collector.collect()
    errors = lifecycle_errors(result)
    assert len(errors) == 1 and errors[0].reason == "unreachable", result.errors
    m = samples(result.metrics)
    snapshot = load_snapshot()
    assert one(m, "watchtower_node_os_eol_timestamp_seconds", node="cp-00", distribution="ubuntu",
               release="18.04") == snapshot.products["ubuntu"]["18.04"].eol
    assert one(m, "watchtower_node_lifecycle_data_timestamp_seconds", source="snapshot") == snapshot.taken_at
    assert "endoflife.date" not in {dict(k)["source"] for k in m["watchtower_node_lifecycle_data_timestamp_seconds"]}
    # the next collections within the retry period: still one error each, no new connection attempts
    clock.now += 120
    again = collector.collect()
    assert len(lifecycle_errors(again)) == 1
    assert collector.lifecycle.fetcher is not None and collector.lifecycle.fetcher.requests == 1


def test_air_gapped_snapshot_and_static_overrides(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    wild_cluster(kube_api)
    collector = nodes_collector(tmp_path, kube_api, Clock(day("2026-12-01")), source="snapshot",
                                static={"ubuntu": {"18.04": {"eol": "2028-04-01"}}, "cri-o": {"1.11": {"eol": "2019-07-03"}}})
    result = collector.collect()
    assert lifecycle_errors(result) == [] and collector.lifecycle.fetcher is None
    m = samples(result.metrics)
    assert one(m, "watchtower_node_os_eol_timestamp_seconds", node="cp-00", distribution="ubuntu", release="18.04") == day("2028-04-01")
    assert one(m, "watchtower_node_runtime_eol_timestamp_seconds", node="node-10", runtime="cri-o", version="1.11.2") == day("2019-07-03")
    assert one(m, "watchtower_node_os_eol_timestamp_seconds", node="node-07", distribution="rhel", release="7") == day("2024-06-30")


def test_bad_static_entry_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(config_mod.ConfigError) as exc:
        config_mod.from_mapping({"collectors": {"nodes": {"lifecycle": {"static": {"ubuntu": {"18.04": {"eol": "soon"}}}}}}})
    assert "collectors.nodes.lifecycle.static" in str(exc.value) and "ubuntu.18.04.eol" in str(exc.value)


# ------------------------------------------------------------------ the seed team's plan

SEED_NOW = day("2020-06-01T09:00:00")
# dl.k8s.io and endoflife.date as of 2020-06-01 (newest patches from CHANGELOG-1.N.md of that day)
SEED_RELEASES = {
    "/release/stable.txt": b"v1.18.3\n",
    "/release/stable-1.12.txt": b"v1.12.10\n",
    "/release/stable-1.13.txt": b"v1.13.12\n",
    "/release/stable-1.14.txt": b"v1.14.10\n",
    "/release/stable-1.15.txt": b"v1.15.12\n",
    "/release/stable-1.16.txt": b"v1.16.10\n",
    "/release/stable-1.17.txt": b"v1.17.6\n",
    "/release/stable-1.18.txt": b"v1.18.3\n",
    "/api/kubernetes.json": json.dumps([
        {"cycle": "1.18", "eol": "2021-06-18", "latest": "1.18.3"}, {"cycle": "1.17", "eol": "2021-01-13", "latest": "1.17.6"},
        {"cycle": "1.16", "eol": "2020-09-02", "latest": "1.16.10"}, {"cycle": "1.15", "eol": "2020-05-06", "latest": "1.15.12"},
        {"cycle": "1.14", "eol": "2019-12-11", "latest": "1.14.10"}, {"cycle": "1.13", "eol": "2019-10-15", "latest": "1.13.12"},
        {"cycle": "1.12", "eol": "2019-07-08", "latest": "1.12.10"}]).encode(),
    "/api/ubuntu.json": cycles(("18.04", "2023-05-31", "2028-04-01"), ("16.04", "2021-04-30", "2024-04-30")),
    "/api/docker-engine.json": cycles(("18.09", "2019-08-22", False)),
}


def test_seed_team_plan_six_hops_and_certificates_before_the_last_hop(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    kube_api.set_version("v1.12.7")
    kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.12.7\n"})
    for i in (1, 2, 3):
        kube_api.add_node(f"cp-{i}", roles=["master"], kubelet_version="v1.12.7", os_image="Ubuntu 16.04.6 LTS",
                          container_runtime="docker://18.9.7")
    root = tmp_path / "etc-kubernetes"
    tree = KubeadmTree(root, datetime.datetime(2018, 6, 20, tzinfo=UTC))
    tree.control_plane(datetime.datetime(2019, 6, 21, 12, tzinfo=UTC))  # 365-day leaves: expire 2020-06-20 12:00 (leap year)
    clock = Clock(SEED_NOW)
    with ReleaseServer(SEED_RELEASES) as server:
        config, ctx = context(tmp_path, kube_api, clock, {
            "upgrade": {"kubeadm_root": str(root), "release_base_url": f"{server.url}/release",
                        "endoflife_url": f"{server.url}/api/kubernetes.json", "days_per_hop": 7},
            "nodes": {"lifecycle": {"url": f"{server.url}/api"}},
        })
        upgrade = UpgradeCollector(config.collectors["upgrade"], ctx).collect()
        nodes = NodesCollector(config.collectors["nodes"], ctx).collect()
    assert upgrade.errors == () and lifecycle_errors(nodes) == []
    plan = plan_from_details(upgrade.details, nodes.details, SEED_NOW)
    assert [str(h.target) for h in plan.hops] == ["v1.13.12", "v1.14.10", "v1.15.12", "v1.16.10", "v1.17.6", "v1.18.3"]
    assert plan.exit_code == 2 and plan.status == "cert_before_finish"
    cert = next(d for d in plan.deadlines if d.kind == "cert_expiry")
    assert cert.days_left == 19 and cert.before_finish  # 19 days and 3 hours: far short of 6 hops × 7 days
    kinds = [d.kind for d in plan.deadlines]
    assert kinds == sorted(kinds, key=lambda k: next(d.at for d in plan.deadlines if d.kind == k))
    assert {"cert_expiry", "minor_eol", "os_eol"} <= set(kinds)
    os_deadline = next(d for d in plan.deadlines if d.kind == "os_eol")
    assert os_deadline.what == "ubuntu 16.04 standard support ends (cp-1, cp-2, cp-3)" and os_deadline.at == day("2021-04-30")
    text = "\n".join(render_plan(plan))
    assert "UPGRADE PLAN  v1.12.7 → v1.18.3: 6 hop(s)" in text
    assert "CRITICAL: kubeadm certificate" in text and "before the last of 6 hops can finish" in text
    assert "kubeadm upgrade apply v1.13.12" in text
    assert plan.hops[0].eol == day("2019-10-15")
