"""The test Kubernetes API server, driven through the official client as watchtower drives it.

Other tests trust ``tests.kubeapi`` to behave like kube-apiserver; these pin down that it does:
pagination that neither loses nor repeats objects, selectors, the Status bodies of every error,
both kinds of credentials, the health text, and clean start/stop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.kubeapi import KubeAPIServer
from watchtower.app.config import KubernetesConfig
from watchtower.io.kube import KubeClientFactory, list_json_pages

ClientFor = Callable[..., client.ApiClient]


@pytest.fixture
def client_for(kube_api: KubeAPIServer, tmp_path: Path) -> Iterator[ClientFor]:
    """Build official clients from kubeconfigs the server writes; each gets a fresh Configuration."""
    made: list[client.ApiClient] = []

    def build(auth: str = "token") -> client.ApiClient:
        configuration = client.Configuration()
        path = kube_api.write_kubeconfig(tmp_path / f"kubeconfig-{auth}-{len(made)}", auth=auth)
        config.load_kube_config(config_file=str(path), client_configuration=configuration)
        made.append(client.ApiClient(configuration))
        return made[-1]

    yield build
    for api_client in made:
        api_client.close()


@pytest.fixture
def core(client_for: ClientFor) -> client.CoreV1Api:
    return client.CoreV1Api(client_for())


def raw_get(api: KubeAPIServer, path: str, token: str | None = None) -> requests.Response:
    """A plain HTTPS GET, for text endpoints and exact bodies the client would hide."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(api.url + path, headers=headers, verify=str(api.ca_file), timeout=5)


def status_of(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def test_pages_20000_secrets_each_exactly_once(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    names = {(f"ns-{i % 20:02d}", f"tls-{i:05d}") for i in range(20_000)}
    for namespace, name in names:
        kube_api.add_secret(namespace, name, data={"tls.crt": b"-----BEGIN CERTIFICATE-----\n"})

    started = time.monotonic()
    seen = [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in list_json_pages(core.api_client, "/api/v1/secrets", 500)]
    elapsed = time.monotonic() - started

    assert len(seen) == len(set(seen)) == 20_000
    assert set(seen) == names
    assert seen == sorted(seen, key=lambda key: f"{key[0]}/{key[1]}"), "etcd key order"
    pages = [r for r in kube_api.requests if r.path == "/api/v1/secrets"]
    assert len(pages) == 40 and all(r.query["limit"] == "500" for r in pages)
    assert "continue" not in pages[0].query and all("continue" in r.query for r in pages[1:])
    print(f"paged 20,000 secrets in 40 pages through the official ApiClient in {elapsed:.2f}s")
    assert elapsed < 10


def test_first_page_metadata_is_a_real_list(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    for i in range(5):
        kube_api.add_node(f"cp-{i}")
    page = core.list_node(limit=2)
    assert page.kind == "NodeList" and page.api_version == "v1"
    assert page.metadata.remaining_item_count == 3 and page.metadata._continue
    assert int(page.metadata.resource_version) > 0
    last = core.list_node(limit=2, _continue=core.list_node(limit=2, _continue=page.metadata._continue).metadata._continue)
    assert [n.metadata.name for n in last.items] == ["cp-4"] and last.metadata._continue is None


def test_list_json_pages_follows_continue_for_nodes(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    for i in range(7):
        kube_api.add_node(f"node-{i}", roles=("control-plane",) if i < 3 else ())
    names = [n["metadata"]["name"] for n in list_json_pages(core.api_client, "/api/v1/nodes", 3)]
    assert names == [f"node-{i}" for i in range(7)]
    assert [r.query.get("limit") for r in kube_api.requests] == ["3", "3", "3"]

    selected = list_json_pages(core.api_client, "/api/v1/nodes", 2, labelSelector="node-role.kubernetes.io/control-plane")
    assert [n["metadata"]["name"] for n in selected] == ["node-0", "node-1", "node-2"]


def test_field_selector_on_secret_type(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    for i in range(30):
        kube_api.add_secret("kube-system", f"s-{i:02d}", type="kubernetes.io/tls" if i % 3 == 0 else "Opaque")
    tls = [s["metadata"]["name"] for s in list_json_pages(core.api_client, "/api/v1/secrets", 4, fieldSelector="type=kubernetes.io/tls")]
    assert tls == [f"s-{i:02d}" for i in range(0, 30, 3)]
    others = list(list_json_pages(core.api_client, "/api/v1/namespaces/kube-system/secrets", 100, fieldSelector="type!=kubernetes.io/tls"))
    assert len(others) == 20 and {s["type"] for s in others} == {"Opaque"}
    by_name = core.list_secret_for_all_namespaces(field_selector="metadata.namespace=kube-system,metadata.name=s-03")
    assert [s.metadata.name for s in by_name.items] == ["s-03"]
    assert core.list_namespaced_secret("default").items == []

    with pytest.raises(ApiException) as caught:
        core.list_secret_for_all_namespaces(field_selector="data.tls.crt=x")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"] == "field label not supported: data.tls.crt"


def test_expired_and_malformed_continue_tokens(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    for i in range(10):
        kube_api.add_secret("default", f"s-{i}")
    token = core.list_secret_for_all_namespaces(limit=3).metadata._continue
    kube_api.expire_continue_tokens()
    with pytest.raises(ApiException) as caught:
        core.list_secret_for_all_namespaces(limit=3, _continue=token)
    assert caught.value.status == 410
    body = status_of(caught.value)
    assert body["kind"] == "Status" and body["reason"] == "Expired" and body["code"] == 410
    fresh = core.list_secret_for_all_namespaces(limit=3)
    assert len(core.list_secret_for_all_namespaces(limit=3, _continue=fresh.metadata._continue).items) == 3

    with pytest.raises(ApiException) as caught:
        core.list_secret_for_all_namespaces(limit=3, _continue="not-a-token")
    assert caught.value.status == 400 and "continue key is not valid" in status_of(caught.value)["message"]


def test_wrong_or_missing_credentials_are_401(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    kube_api.add_token("someone-elses", "intruder")
    assert raw_get(kube_api, "/api/v1/nodes", token="wrong").status_code == 401
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(client_for("none")).list_node()
    assert caught.value.status == 401
    assert status_of(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    }
    assert raw_get(kube_api, "/livez").text == "ok", "public-info-viewer paths stay anonymous"
    assert raw_get(kube_api, "/version").json()["gitVersion"] == "v1.30.2"
    assert [r.auth for r in kube_api.requests] == ["invalid", "anonymous", "anonymous", "anonymous"]

    kube_api.knobs.anonymous_auth = True
    assert raw_get(kube_api, "/api/v1/nodes").status_code == 403


def test_forbidden_carries_the_rbac_message(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube_api.add_secret("kube-system", "ca")
    kube_api.forbid("secrets", verb="list")
    with pytest.raises(ApiException) as caught:
        core.list_secret_for_all_namespaces()
    assert caught.value.status == 403
    assert status_of(caught.value)["reason"] == "Forbidden"
    assert status_of(caught.value)["message"] == (
        'secrets is forbidden: User "watchtower" cannot list resource "secrets" in API group "" at the cluster scope'
    )
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret("kube-system")
    assert status_of(caught.value)["message"].endswith('in the namespace "kube-system"')
    assert core.read_namespaced_secret("ca", "kube-system").metadata.name == "ca", "get is still allowed"
    kube_api.allow_all()
    assert len(core.list_secret_for_all_namespaces().items) == 1


def test_not_found_for_objects_and_paths(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_node("ghost")
    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'nodes "ghost" not found'
    assert status_of(caught.value)["details"] == {"name": "ghost", "kind": "nodes"}
    response = raw_get(kube_api, "/api/v1/pods-of-fantasy", token=kube_api.token)
    assert response.status_code == 404 and response.json()["reason"] == "NotFound"


def test_client_certificate_authentication(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    kube_api.add_node("cp-1")
    core = client.CoreV1Api(client_for("cert"))
    assert [n.metadata.name for n in core.list_node().items] == ["cp-1"]
    assert (kube_api.requests[-1].auth, kube_api.requests[-1].user) == ("cert", "watchtower")

    cert, key = kube_api.issue_client_cert("mallory", trusted=False)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(kube_api.url + "/api/v1/nodes", cert=(str(cert), str(key)), verify=str(kube_api.ca_file), timeout=5)


def test_objects_parse_in_official_models(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube_api.add_node("cp-1", kubelet_version="v1.29.6", taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    kube_api.add_configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": "kubernetesVersion: v1.29.6\n"})
    kube_api.add_secret("kube-system", "etcd-ca", data={"tls.crt": b"\x00\x01pem", "tls.key": "key"})

    node = core.read_node("cp-1")
    assert node.status.node_info.kubelet_version == "v1.29.6"
    assert node.spec.taints[0].effect == "NoSchedule"
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    kube_api.update_node("cp-1", ready=False)
    again = core.read_node("cp-1")
    assert {c.type: c.status for c in again.status.conditions}["Ready"] == "False"
    assert again.metadata.uid == node.metadata.uid and again.metadata.resource_version != node.metadata.resource_version
    assert again.spec.taints, "update keeps the other arguments"

    cm = core.read_namespaced_config_map("kubeadm-config", "kube-system")
    assert cm.data["ClusterConfiguration"].startswith("kubernetesVersion")
    secret = core.read_namespaced_secret("etcd-ca", "kube-system")
    assert secret.type == "kubernetes.io/tls" and secret.data == {"tls.crt": "AAFwZW0=", "tls.key": "a2V5"}
    assert "kube-system" in {ns.metadata.name for ns in core.list_namespace().items}


def test_version_parses(kube_api: KubeAPIServer, client_for: ClientFor) -> None:
    kube_api.set_version("v1.31.0-rc.1")
    info = client.VersionApi(client_for()).get_code()
    assert (info.major, info.minor, info.git_version, info.platform) == ("1", "31", "v1.31.0-rc.1", "linux/amd64")


def test_readyz_verbose_exclude_and_single_checks(kube_api: KubeAPIServer) -> None:
    passing = raw_get(kube_api, "/readyz?verbose")
    assert passing.status_code == 200 and passing.text.endswith("[+]shutdown ok\nreadyz check passed\n")
    assert raw_get(kube_api, "/readyz").text == "ok"

    kube_api.set_health(readyz_checks={"etcd": False})
    failing = raw_get(kube_api, "/readyz?verbose")
    assert failing.status_code == 500
    assert "[-]etcd failed: reason withheld\n" in failing.text and failing.text.endswith("readyz check failed\n")
    assert raw_get(kube_api, "/readyz").status_code == 500
    excluded = raw_get(kube_api, "/readyz?verbose&exclude=etcd&exclude=nope")
    assert excluded.status_code == 200
    assert excluded.text.startswith('warn: some health checks cannot be excluded: no matches for "nope"\n')
    assert "[+]etcd excluded: ok\n" in excluded.text
    assert raw_get(kube_api, "/readyz/etcd", token=kube_api.token).status_code == 500
    assert raw_get(kube_api, "/readyz/ping", token=kube_api.token).text == "ok"
    assert raw_get(kube_api, "/livez").text == "ok"
    kube_api.set_health(livez=False)
    assert raw_get(kube_api, "/livez").status_code == 500 and raw_get(kube_api, "/readyz").text == "ok"


def test_knobs_inject_failures_and_delay(kube_api: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube_api.knobs.fail_status = 503
    with pytest.raises(ApiException) as caught:
        core.list_node()
    assert caught.value.status == 503 and status_of(caught.value)["reason"] == "ServiceUnavailable"
    kube_api.knobs.fail_status = None

    kube_api.knobs.flap = True
    outcomes = []
    for _ in range(4):
        try:
            core.list_node()
            outcomes.append("ok")
        except ApiException as exc:
            outcomes.append(exc.status)
    assert outcomes == ["ok", 500, "ok", 500]
    kube_api.knobs.flap = False

    kube_api.knobs.delay_seconds = 0.3
    started = time.monotonic()
    core.list_node()
    assert time.monotonic() - started >= 0.3


def test_watchtower_factory_connects(kube_api: KubeAPIServer, tmp_path: Path) -> None:
    kube_api.add_node("cp-1")
    path = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = KubeClientFactory(KubernetesConfig(kubeconfig=str(path)), environ={}).api_client()
    try:
        assert [n["metadata"]["name"] for n in list_json_pages(api_client, "/api/v1/nodes", 500)] == ["cp-1"]
    finally:
        api_client.close()


def _server_threads() -> list[threading.Thread]:
    """Threads of any KubeAPIServer: its accept loop and its per-connection handlers."""
    return [t for t in threading.enumerate() if t.name.startswith("kubeapi-") or "process_request_thread" in t.name]


def test_stop_releases_everything_and_restarts_on_the_same_port(tmp_path: Path) -> None:
    api = KubeAPIServer(tmp_path).start()
    port = api.port
    session = requests.Session()  # keeps its connection alive, like the official client's pool
    assert session.get(api.url + "/livez", verify=str(api.ca_file), timeout=5).text == "ok"
    api.stop()
    assert _server_threads() == []
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(api.url + "/livez", verify=str(api.ca_file), timeout=5)
    with api:
        assert api.port == port
        assert session.get(api.url + "/livez", verify=str(api.ca_file), timeout=5).text == "ok"
    session.close()
