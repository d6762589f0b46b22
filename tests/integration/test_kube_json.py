"""``watchtower.io.kube.get_json``/``list_json_pages`` against the test API server, side by side with
the generated ``CoreV1Api``: same requests on the wire, same exceptions, both credentials.

These replicate a few lines of the generated methods on the client's ``ApiClient`` so the daemon
never imports ``core_v1_api``; the comparisons here catch a client upgrade that changes either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kubeapi import KubeAPIServer
from watchtower.app.config import KubernetesConfig
from watchtower.io.kube import KubeClientFactory, get_json, list_json_pages

ROOT = Path(__file__).resolve().parents[2]
ClientFor = Callable[[str], Any]


@pytest.fixture
def client_for(kube_api: KubeAPIServer, tmp_path: Path) -> Iterator[ClientFor]:
    """ApiClients built the way the daemon builds them, from kubeconfigs with token or cert auth."""
    made: list[Any] = []

    def build(auth: str = "token") -> Any:
        path = kube_api.write_kubeconfig(tmp_path / f"kubeconfig-{auth}-{len(made)}", auth=auth)
        made.append(KubeClientFactory(KubernetesConfig(kubeconfig=str(path)), environ={}).api_client())
        return made[-1]

    yield build
    for api_client in made:
        api_client.close()


def last_request(api: KubeAPIServer) -> tuple[str, str, dict[str, str], str, str | None, int]:
    r = api.requests[-1]
    return (r.method, r.path, r.query, r.auth, r.user, r.status)


@pytest.mark.parametrize("auth", ["token", "cert"])
def test_same_request_as_the_generated_client(kube_api: KubeAPIServer, client_for: ClientFor, auth: str) -> None:
    kube_api.add_node("cp-1")
    api_client = client_for(auth)
    core = client.CoreV1Api(api_client)

    core.list_node(limit=5, field_selector="metadata.name=cp-1")
    generated = last_request(kube_api)
    doc = get_json(api_client, "/api/v1/nodes", {"limit": 5, "fieldSelector": "metadata.name=cp-1"})
    assert last_request(kube_api) == generated == (
        "GET", "/api/v1/nodes", {"limit": "5", "fieldSelector": "metadata.name=cp-1"}, auth, "watchtower", 200)
    assert [n["metadata"]["name"] for n in doc["items"]] == ["cp-1"]
    raw = core.list_node(limit=5, field_selector="metadata.name=cp-1", _preload_content=False)
    assert doc == json.loads(raw.data)


def test_version_and_one_object(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    kube_api.set_version("v1.31.4")
    kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.31.4\n"})
    api_client = client_for("token")
    assert get_json(api_client, "/version", timeout=5)["gitVersion"] == "v1.31.4"
    cm = get_json(api_client, "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", timeout=5)
    assert cm["data"] == {"ClusterConfiguration": "kubernetesVersion: v1.31.4\n"}


def _both(generated: Callable[[], object], ours: Callable[[], object]) -> tuple[ApiException, ApiException]:
    with pytest.raises(ApiException) as theirs:
        generated()
    with pytest.raises(ApiException) as mine:
        ours()
    return theirs.value, mine.value


def assert_same_error(theirs: ApiException, mine: ApiException, status: int) -> dict[str, Any]:
    """Callers see the same class, status, reason and Status body as from the generated client."""
    assert (type(mine), mine.status, mine.reason, mine.body) == (type(theirs), theirs.status, theirs.reason, theirs.body)
    assert mine.status == status
    body: dict[str, Any] = json.loads(mine.body)
    assert body["kind"] == "Status" and body["code"] == status
    return body


def test_401_403_404_and_5xx_raise_like_the_generated_client(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    anonymous = client_for("none")
    theirs, mine = _both(lambda: client.CoreV1Api(anonymous).list_node(),
                         lambda: list(list_json_pages(anonymous, "/api/v1/nodes", 10)))
    assert assert_same_error(theirs, mine, 401)["reason"] == "Unauthorized"
    assert isinstance(mine, client.exceptions.UnauthorizedException)

    api_client = client_for("token")
    core = client.CoreV1Api(api_client)
    kube_api.forbid("secrets", verb="list")
    theirs, mine = _both(lambda: core.list_namespaced_secret("kube-system", field_selector="type=kubernetes.io/tls"),
                         lambda: list(list_json_pages(api_client, "/api/v1/namespaces/kube-system/secrets", 10,
                                                      fieldSelector="type=kubernetes.io/tls")))
    assert assert_same_error(theirs, mine, 403)["message"] == (
        'secrets is forbidden: User "watchtower" cannot list resource "secrets" in API group "" in the namespace "kube-system"')
    kube_api.allow_all()

    theirs, mine = _both(lambda: core.read_namespaced_config_map("kubeadm-config", "kube-system"),
                         lambda: get_json(api_client, "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"))
    assert assert_same_error(theirs, mine, 404)["message"] == 'configmaps "kubeadm-config" not found'

    kube_api.knobs.fail_status = 503
    theirs, mine = _both(lambda: core.list_node(), lambda: get_json(api_client, "/api/v1/nodes"))
    assert_same_error(theirs, mine, 503)
    assert isinstance(mine, client.exceptions.ServiceException)


def test_pages_follow_continue_and_keep_the_selector(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    for i in range(30):
        kube_api.add_secret(f"ns-{i % 2}", f"s-{i:02d}", type="kubernetes.io/tls" if i % 3 == 0 else "Opaque")
    api_client = client_for("cert")
    kube_api.clear_requests()
    names = [s["metadata"]["name"] for s in list_json_pages(api_client, "/api/v1/secrets", 4, 5,
                                                             fieldSelector="type=kubernetes.io/tls")]
    assert sorted(names) == [f"s-{i:02d}" for i in range(0, 30, 3)] and len(names) == 10
    pages = [r.query for r in kube_api.requests]
    assert len(pages) == 3  # 10 items, 4 a page
    assert all(q["limit"] == "4" and q["fieldSelector"] == "type=kubernetes.io/tls" for q in pages)
    assert "continue" not in pages[0] and pages[1]["continue"] and pages[2]["continue"] != pages[1]["continue"]
    assert {r.auth for r in kube_api.requests} == {"cert"}

    in_one = list(list_json_pages(api_client, "/api/v1/namespaces/ns-1/secrets", 100, fieldSelector="type=Opaque"))
    assert {(s["metadata"]["namespace"], s["type"]) for s in in_one} == {("ns-1", "Opaque")} and len(in_one) == 10


def test_expired_continue_token_is_410_mid_list(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    for i in range(10):
        kube_api.add_node(f"node-{i}")
    api_client = client_for("token")
    pages = list_json_pages(api_client, "/api/v1/nodes", 3)
    first = [next(pages)["metadata"]["name"] for _ in range(3)]
    assert first == ["node-0", "node-1", "node-2"]
    kube_api.expire_continue_tokens()
    with pytest.raises(ApiException) as caught:
        next(pages)
    assert caught.value.status == 410 and json.loads(caught.value.body)["reason"] == "Expired"
    assert len(list(list_json_pages(api_client, "/api/v1/nodes", 3))) == 10, "a fresh list starts over"


def test_not_json_or_not_a_list_is_a_value_error(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    api_client = client_for("token")
    with pytest.raises(ValueError):
        get_json(api_client, "/livez")  # text "ok"
    with pytest.raises(ValueError, match="not a Kubernetes list"):
        list(list_json_pages(api_client, "/version", 10))


def test_a_daemon_collecting_never_imports_core_v1_api(kube_api: KubeAPIServer, tmp_path: Path) -> None:
    """The ~22 MB module stays out of a process that runs the nodes, upgrade and Secrets code paths."""
    kube_api.set_version("v1.30.2")
    kube_api.add_node("cp-1", roles=["control-plane"], kubelet_version="v1.30.2")
    kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.30.2\n"})
    kube_api.add_secret("default", "web", data={"tls.crt": b"not a certificate"})
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    script = f"""
import json, sys
import watchtower.app.cli, watchtower.app.daemon
from watchtower.app import config as config_mod
from watchtower.collectors.base import CollectorContext
from watchtower.collectors.certsources.secrets import SecretSource
from watchtower.collectors.lifecycle_settings import LifecycleSettings, NodesSettings
from watchtower.collectors.nodes import NodesCollector
from watchtower.collectors.upgrade import UpgradeCollector
from watchtower.io.kube import KubeClientFactory

config = config_mod.from_mapping({{
    "kubernetes": {{"kubeconfig": {str(kubeconfig)!r}}},
    "collectors": {{"upgrade": {{"kubeadm_root": {str(tmp_path / "none")!r}, "release_source": "static",
                                 "static_latest": "v1.31.4"}}}}}})
context = CollectorContext(config=config, kube=KubeClientFactory(config.kubernetes))
nodes = NodesCollector(NodesSettings(lifecycle=LifecycleSettings(source="snapshot")), context).collect()
upgrade = UpgradeCollector(config.collectors["upgrade"], context).collect()
secrets = [r.reason for r in SecretSource(context.kube.api_client).read()]
print(json.dumps({{"nodes": nodes.details.nodes_total, "apiserver": nodes.details.apiserver_version,
                   "upgrade_current": upgrade.details.to_json()["current"], "secrets": secrets,
                   "errors": [e.reason for e in nodes.errors + upgrade.errors],
                   "core_v1_api": "kubernetes.client.api.core_v1_api" in sys.modules}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"nodes": 1, "apiserver": "v1.30.2", "upgrade_current": "v1.30.2", "secrets": ["not_certificate"],
                      "errors": [], "core_v1_api": False}
