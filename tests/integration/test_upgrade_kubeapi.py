"""The upgrade collector against the test Kubernetes API server and a local release source.

Real HTTPS to the test apiserver through the official client (``/version``, the kubeadm-config
ConfigMap), real HTTP to a local release server (ok, down, garbage, slow), a real state file.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest

from tests.kubeapi import KubeAPIServer
from tests.support.expo import one, samples
from tests.support.kubeadm_tree import UTC, KubeadmTree
from tests.support.release_server import ReleaseServer
from watchtower.app import config as config_mod
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.upgrade import UpgradeCollector
from watchtower.collectors.upgrade.export import render_check
from watchtower.io.kube import KubeClientFactory
from watchtower.upgrades.policy import add_months

DAY = 86400.0
START = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()

ENDOFLIFE = json.dumps([
    {"cycle": "1.31", "releaseDate": "2024-08-13", "eol": "2025-10-28", "latest": "1.31.4"},
    {"cycle": "1.30", "releaseDate": "2024-04-17", "eol": "2025-06-28", "latest": "1.30.8"},
    {"cycle": "1.29", "releaseDate": "2023-12-13", "eol": "2025-02-28", "latest": "1.29.14"},
]).encode()
RELEASE_FILES = {
    "/release/stable.txt": b"v1.31.4\n",
    "/release/stable-1.29.txt": b"v1.29.14\n",
    "/release/stable-1.30.txt": b"v1.30.8\n",
    "/release/stable-1.31.txt": b"v1.31.4\n",
    "/kubernetes.json": ENDOFLIFE,
}


def cluster_configuration(version: str) -> dict[str, str]:
    return {"ClusterConfiguration": (
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
        f"kubernetesVersion: {version}\ncontrolPlaneEndpoint: k8s-api.example.org:6443\n"
        "networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12}\n")}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def releases() -> ReleaseServer:
    with ReleaseServer(RELEASE_FILES) as server:
        yield server


def make(tmp_path: Path, api: KubeAPIServer, clock: Clock, **settings: object) -> UpgradeCollector:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", auth="token")
    data = {"kubernetes": {"kubeconfig": str(kubeconfig), "request_timeout": 5},
            "collectors": {"upgrade": {"kubeadm_root": str(tmp_path / "no-kubeadm-root"), **settings}}}
    config = config_mod.from_mapping(data)
    context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes), clock=clock, node_name="t")
    return UpgradeCollector(config.collectors["upgrade"], context)


def test_versions_latest_behind_and_eol(tmp_path: Path, kube_api: KubeAPIServer, releases: ReleaseServer) -> None:
    kube_api.set_version("v1.29.5")
    kube_api.add_configmap("kube-system", "kubeadm-config", cluster_configuration("v1.29.5"))
    collector = make(tmp_path, kube_api, Clock(START), release_base_url=f"{releases.url}/release",
                     endoflife_url=f"{releases.url}/kubernetes.json")
    result = collector.collect()
    assert result.errors == ()
    m = samples(result.metrics)
    assert one(m, "watchtower_kubernetes_version_info", version="v1.29.5", minor="1.29", source="apiserver") == 1
    assert one(m, "watchtower_kubernetes_version_info", version="v1.29.5", minor="1.29", source="kubeadm_config") == 1
    assert one(m, "watchtower_kubernetes_latest_version_info", version="v1.31.4", minor="1.31", channel="stable") == 1
    assert one(m, "watchtower_kubernetes_latest_version_info", version="v1.29.14", minor="1.29", channel="stable-1.29") == 1
    assert one(m, "watchtower_kubernetes_minors_behind") == 2
    assert one(m, "watchtower_kubernetes_upgrades_needed") == 2
    assert one(m, "watchtower_kubernetes_minor_eol_timestamp_seconds", minor="1.29") == datetime.datetime(
        2025, 2, 28, tzinfo=UTC).timestamp()
    assert one(m, "watchtower_kubernetes_release_fetch_timestamp_seconds") == START
    # the running minor's newest patch, and each hop's (the plan's targets)
    assert sorted(releases.requests) == ["/kubernetes.json", "/release/stable-1.29.txt", "/release/stable-1.30.txt",
                                         "/release/stable-1.31.txt", "/release/stable.txt"]
    severities = {(f.subject, f.severity.label) for f in result.findings}
    assert ("version", "warning") in severities  # 2 minors behind, and 1.29 is past its end of life
    collector.collect()
    assert len(releases.requests) == 5  # cached: no second fetch within release_cache


def test_mixed_sources_count_the_laggard(tmp_path: Path, kube_api: KubeAPIServer, releases: ReleaseServer) -> None:
    """Mid-upgrade: kubeadm-config says v1.30.8 while this apiserver still serves v1.29.5."""
    kube_api.set_version("v1.29.5")
    kube_api.add_configmap("kube-system", "kubeadm-config", cluster_configuration("v1.30.8"))
    result = make(tmp_path, kube_api, Clock(START), release_base_url=f"{releases.url}/release").collect()
    m = samples(result.metrics)
    assert one(m, "watchtower_kubernetes_minors_behind") == 2
    assert result.details.to_json()["current"] == "v1.29.5"


def test_simulated_upgrade_resets_the_due_date_and_survives_restart(
    tmp_path: Path, kube_api: KubeAPIServer, releases: ReleaseServer,
) -> None:
    root = tmp_path / "etc-kubernetes"
    tree = KubeadmTree(root, datetime.datetime(2022, 1, 10, tzinfo=UTC))
    cert_renewed = datetime.datetime(2026, 6, 20, 8, 0, tzinfo=UTC)
    tree.control_plane(cert_renewed)
    state_file = tmp_path / "state" / "upgrade.json"
    settings = {"release_base_url": f"{releases.url}/release", "state_file": str(state_file), "kubeadm_root": str(root)}
    kube_api.set_version("v1.29.5")
    clock = Clock(START)
    first = make(tmp_path, kube_api, clock, **settings)

    m = samples(first.collect().metrics)
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="apiserver_cert") == cert_renewed.timestamp()
    assert one(m, "watchtower_upgrade_next_due_timestamp_seconds") == add_months(cert_renewed.timestamp(), 4)
    saved = json.loads(state_file.read_text())
    assert saved["highest_version"] == "v1.29.5" and saved["last_upgrade"] is None

    clock.now += 3 * DAY  # the team upgrades (kubeadm upgrade apply): the API now serves v1.30.8
    kube_api.set_version("v1.30.8")
    upgraded_at = clock.now
    result = first.collect()
    m = samples(result.metrics)
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="observed") == upgraded_at
    assert one(m, "watchtower_upgrade_next_due_timestamp_seconds") == add_months(upgraded_at, 4)
    assert result.details.last_upgrade_detail == "v1.29.5 → v1.30.8 seen by watchtower"
    assert json.loads(state_file.read_text())["last_upgrade"] == {"at": upgraded_at, "from": "v1.29.5", "to": "v1.30.8"}

    # the daemon restarts: a new collector instance, same state file, a week later
    clock.now += 7 * DAY
    second = make(tmp_path, kube_api, clock, **settings)
    m = samples(second.collect().metrics)
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="observed") == upgraded_at
    assert one(m, "watchtower_upgrade_next_due_timestamp_seconds") == add_months(upgraded_at, 4)
    lines = render_check(second.collect().details)
    assert any("evidence: observed (v1.29.5 → v1.30.8 seen by watchtower)" in line for line in lines)

    # a stale apiserver behind the VIP answers with the old version: no new "upgrade"
    kube_api.set_version("v1.29.5")
    clock.now += DAY
    m = samples(second.collect().metrics)
    assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="observed") == upgraded_at


def test_corrupt_state_file_is_reported_and_moved_aside(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    state_file = tmp_path / "upgrade.json"
    state_file.write_text("{not json")
    collector = make(tmp_path, kube_api, Clock(START), release_source="static", static_latest="v1.30.2",
                     state_file=str(state_file))
    result = collector.collect()
    assert [(e.reason, "moved to upgrade.json.corrupt" in e.detail) for e in result.errors] == [("state_error", True)]
    assert json.loads(state_file.read_text())["highest_version"] == "v1.30.2"  # started afresh
    assert (tmp_path / "upgrade.json.corrupt").read_text() == "{not json"
    assert collector.collect().errors == ()  # reported once, not on every run


def test_release_source_down_garbage_slow_keeps_stale_value(
    tmp_path: Path, kube_api: KubeAPIServer, releases: ReleaseServer,
) -> None:
    kube_api.set_version("v1.30.2")
    clock = Clock(START)
    collector = make(tmp_path, kube_api, clock, release_base_url=f"{releases.url}/release",
                     release_cache="1h", release_retry="10m", release_timeout="1s", timeout="5s")
    assert collector.collect().errors == ()

    def run(mode: str) -> tuple[object, float]:
        releases.mode = mode
        clock.now += 3600  # cache expired (and any back-off over)
        started = time.monotonic()
        result = collector.collect()
        return result, time.monotonic() - started

    for mode, reason in (("garbage", "parse_error"), ("error", "http_error"), ("slow", "timeout"), ("trickle", "timeout")):
        releases.slow_seconds = 3.0
        result, took = run(mode)
        errors = [(e.reason, e.location) for e in result.errors]
        assert errors == [(reason, f"release source {releases.url}/release")], mode  # ONE error for two URLs
        m = samples(result.metrics)
        assert one(m, "watchtower_kubernetes_latest_version_info", version="v1.31.4", minor="1.31", channel="stable") == 1
        assert one(m, "watchtower_kubernetes_release_fetch_timestamp_seconds") == START  # stale, kept
        # bounded: one release_timeout (1s), not one per URL, whatever the server does
        assert took < 1.0 + 0.8, f"{mode}: {took:.1f}s, timeouts not bounded"
        assert "STALE" in "\n".join(render_check(result.details))

    releases.stop()  # unreachable: connection refused
    result, took = run("ok")
    assert [e.reason for e in result.errors] == ["unreachable"]
    requests_before = len(releases.requests)
    for _ in range(5):  # collections inside the retry back-off: no requests, still one error each
        clock.now += 60
        assert [e.reason for e in collector.collect().errors] == ["unreachable"]
    assert len(releases.requests) == requests_before


def test_forbidden_configmap_is_one_error_and_version_still_counts(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    kube_api.set_version("v1.31.4")
    kube_api.add_configmap("kube-system", "kubeadm-config", cluster_configuration("v1.31.4"))
    kube_api.forbid("configmaps")
    result = make(tmp_path, kube_api, Clock(START), release_source="static", static_latest="v1.31.4").collect()
    assert [(e.location, e.reason) for e in result.errors] == [("configmap kube-system/kubeadm-config", "api_error")]
    assert "403" in result.errors[0].detail
    m = samples(result.metrics)
    assert one(m, "watchtower_kubernetes_minors_behind") == 0
    assert one(m, "watchtower_kubernetes_upgrades_needed") == 0


class KubeadmStyleAPIServer(KubeAPIServer):
    """The test API server, serving a certificate dated the way kubeadm dates them: NotBefore
    copied from the CA (years ago), NotAfter one year after the last renewal."""

    renewed = datetime.datetime(2026, 9, 14, 7, 30, tzinfo=UTC)

    def _write_certificates(self) -> None:
        super()._write_certificates()
        self._serving = self._server_ca.issue_cert(
            "127.0.0.1", "localhost", common_name="kube-apiserver",
            not_before=datetime.datetime(2021, 3, 1, tzinfo=UTC),
            not_after=self.renewed + datetime.timedelta(days=365))


def test_cluster_role_infers_the_last_upgrade_from_the_served_certificate(tmp_path: Path) -> None:
    """No kubeadm root (the Deployment mounts none): the apiserver's served certificate still dates
    the last renewal; the test server's default certificate (2000 → 3000) is refused as evidence."""
    with KubeadmStyleAPIServer(tmp_path / "a") as api:
        api.set_version("v1.31.2")
        result = make(tmp_path, api, Clock(START), release_source="static", static_latest="v1.31.4").collect()
        assert result.errors == ()
        m = samples(result.metrics)
        renewed = KubeadmStyleAPIServer.renewed.timestamp()
        assert one(m, "watchtower_upgrade_last_timestamp_seconds", evidence="apiserver_cert") == renewed
        assert one(m, "watchtower_upgrade_next_due_timestamp_seconds") == add_months(renewed, 4)
        assert result.details.last_upgrade_detail.startswith(f"certificate served by {api.url} renewed")
        assert "watchtower_upgrade_cert_deadline_timestamp_seconds" not in m  # one served certificate is not all leaves
    with KubeAPIServer(tmp_path / "b") as plain:
        result = make(tmp_path, plain, Clock(START), release_source="static", static_latest="v1.31.4").collect()
        assert one(samples(result.metrics), "watchtower_upgrade_last_timestamp_seconds", evidence="unknown") == 0
