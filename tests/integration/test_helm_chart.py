"""The Helm chart, rendered and linted by an embedded Helm (PyPI helm-python-sdk, Helm v4).

Every manifest is validated offline with PyPI kubernetes-validate against the Kubernetes 1.32
schemas in strict mode (unknown fields are errors). The two Prometheus Operator CRD kinds
(ServiceMonitor, PrometheusRule) have no schema there: the PrometheusRule's groups go through
the real `promtool check rules`, and the ServiceMonitor is checked against the Services it must
select. Then the security properties the chart promises, and every watchtower config it renders
through the real `watchtower config check`.
"""

from __future__ import annotations

import copy
import json
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.services import require_binary, require_module

helm: Any = require_module("helm_python")
kubernetes_validate: Any = require_module("kubernetes_validate")

pytestmark = pytest.mark.helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "watchtower"
KUBERNETES_VERSION = "1.32.0"
CRD_KINDS = frozenset({"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"})  # no schema in kubernetes-validate
RELEASE, NAMESPACE = "wt", "monitoring"
FULLNAME = "wt-watchtower"

# Would-be secret values: they must never be accepted into values or appear in any output.
SENTINEL = "wt-sentinel-NOT-A-REAL-SECRET-5e1d"

FULL_VALUES: dict[str, Any] = {
    "cluster": "prod-1",
    "image": {"repository": "registry.example.org/kube-watchtower", "tag": "0.1.0"},
    "imagePullSecrets": [{"name": "regcred"}],
    "log": {"level": "debug", "format": "json"},
    "controlPlane": {
        "endpoint": "k8s-api.example.org:6443",
        "vips": ["198.51.100.100"],
        "apiservers": ["198.51.100.11:6443", "198.51.100.12:6443", "198.51.100.13:6443"],
    },
    "tlsSecrets": {"enabled": True, "namespaces": ["ingress", "cert-manager"]},
    "metricsAuth": {"username": "prometheus", "secretName": "wt-metrics"},
    "secrets": {
        "grafanaToken": {"name": "grafana-sa", "key": "token"},
        "slackWebhookUrl": {"name": "slack", "key": "webhook-url"},
        "smtpPassword": {"name": "smtp", "key": "password"},
        "heartbeatUrl": {"name": "heartbeat", "key": "url"},
    },
    "alertmanagerConfig": {
        "enabled": True,
        "labels": {"alertmanagerConfig": "watchtower"},
        "email": {"oncall": ["k8s-oncall@example.org"], "ticket": ["k8s-tickets@example.org", "ops@example.org"],
                  "from": "watchtower@example.org", "smarthost": "smtp.example.org:587",
                  "authUsername": "watchtower@example.org"},
        "slack": {"channel": "#k8s-oncall"},
    },
    "deployment": {
        "podAnnotations": {"example.org/team": "platform"},
        "priorityClassName": "high",
        "persistence": {"enabled": True, "storageClassName": "local-path"},
        "config": {"collectors": {"certs": {"endpoints": ["ingress.example.org:443"]},
                                  "grafana": {"email_addresses": ["oncall@example.org"]}}},
    },
    "daemonSet": {
        "extraHostPaths": [{"name": "keepalived-state", "path": "/run/keepalived"},
                           {"name": "haproxy-run", "path": "/run/haproxy"}],
        "config": {"collectors": {"haproxy": {"stats_socket": "/run/haproxy/admin.sock"}}},
        "priorityClassName": "system-node-critical",
    },
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "grafana": {
        "provisioner": {"url": "http://grafana.monitoring.svc"},
        "dashboards": {"enabled": True, "annotations": {"grafana_folder": "watchtower"}},
        "alerting": {"enabled": True},
    },
}


# --------------------------------------------------------------------------------------------
# rendering helpers


def render(values: Mapping[str, Any] | None = None) -> dict[str, str]:
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values=dict(values or {}), name=RELEASE, namespace=NAMESPACE)


def manifests(rendered: Mapping[str, str]) -> list[dict[str, Any]]:
    docs = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in {"Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod"}]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def rendered_configs(docs: list[dict[str, Any]]) -> dict[str, str]:
    """ConfigMap name → the watchtower config.yaml it carries."""
    return {d["metadata"]["name"]: d["data"]["config.yaml"] for d in of_kind(docs, "ConfigMap")
            if "config.yaml" in (d.get("data") or {})}


def config_check(text: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "watchtower", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def default_docs() -> list[dict[str, Any]]:
    return manifests(render())


@pytest.fixture(scope="module")
def full_docs() -> list[dict[str, Any]]:
    return manifests(render(FULL_VALUES))


@pytest.fixture(params=["default", "full"])
def docs(request: pytest.FixtureRequest, default_docs: list, full_docs: list) -> list[dict[str, Any]]:
    return default_docs if request.param == "default" else full_docs


# --------------------------------------------------------------------------------------------
# lint, schema, Kubernetes validation


@pytest.mark.parametrize("values, kube", [(None, KUBERNETES_VERSION), (FULL_VALUES, KUBERNETES_VERSION),
                                          (FULL_VALUES, "1.25.0")], ids=["default", "full", "full-k8s-1.25"])
def test_strict_lint_is_clean(values: dict | None, kube: str) -> None:
    """Also on the oldest Kubernetes the chart admits (Chart.yaml kubeVersion), the older-API branch."""
    report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE, kube_version=f"v{kube}")
    assert report["errors"] == [], report
    worse_than_info = [m for m in report["messages"] if m["severity"] >= 2]
    assert worse_than_info == [], report


def test_default_render_has_both_roles(default_docs: list) -> None:
    assert {d["kind"] for d in default_docs} >= {"Deployment", "DaemonSet", "ServiceAccount", "ConfigMap", "Service",
                                                 "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    assert not {d["kind"] for d in default_docs} & CRD_KINDS, "CRD kinds must be opt-in"


def test_full_render_has_everything_switched_on(full_docs: list) -> None:
    kinds = {d["kind"] for d in full_docs}
    assert kinds >= {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}
    labels = [d["metadata"]["labels"] for d in of_kind(full_docs, "ConfigMap")]
    assert any(l.get("grafana_alert") == "1" for l in labels)
    claim = one(full_docs, "PersistentVolumeClaim", f"{FULLNAME}-state")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in pod_spec(one(full_docs, "Deployment", FULLNAME))["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_every_manifest_validates_against_kubernetes(docs: list) -> None:
    checked = 0
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
        checked += 1
    assert checked >= 10


def test_validator_is_strict_enough_to_fail() -> None:
    """Guard against a validator that accepts anything: a misspelled field must be rejected."""
    deployment = one(manifests(render()), "Deployment", FULLNAME)
    broken = copy.deepcopy(deployment)
    pod_spec(broken)["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True  # capital S
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("values, where", [
    ({"deamonSet": {"enabled": False}}, "deamonSet"),
    ({"daemonSet": {"readRootOnlyFile": False}}, "readRootOnlyFile"),
    ({"serviceMonitor": {"enable": True}}, "enable"),
    ({"tlsSecrets": {"enabled": True, "namespace": ["x"]}}, "namespace"),
    ({"rbac": {"secrets": {"enabled": True}}}, "secrets"),
    ({"daemonSet": {"extraHostPaths": [{"name": "x", "path": "/x", "readOnly": False}]}}, "readOnly"),
])
def test_schema_rejects_a_typo(values: dict, where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        render(values)


def test_schema_rejects_a_secret_value() -> None:
    """Values hold Secret names and keys only: there is no place to put the secret itself."""
    for values in (
        {"secrets": {"slackWebhookUrl": {"name": "slack", "key": "url", "value": SENTINEL}}},
        {"secrets": {"grafanaToken": SENTINEL}},
    ):
        with pytest.raises(helm.HelmValuesError) as caught:
            render(values)
        assert SENTINEL not in str(caught.value)


# --------------------------------------------------------------------------------------------
# security properties


def _host_path_volumes(spec: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}


def _all_containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def test_host_paths_are_exactly_the_documented_ones_and_read_only(docs: list, full_docs: list) -> None:
    for workload in workloads(docs):
        spec = pod_spec(workload)
        host = _host_path_volumes(spec)
        writable = [(m["name"], m["mountPath"]) for c in _all_containers(spec) for m in c.get("volumeMounts", [])
                    if not m.get("readOnly")]
        if workload["kind"] == "Deployment":
            assert host == {}, "the cluster role must not touch the host"
            assert writable == [("tmp", "/tmp"), ("state", "/var/lib/watchtower")]
            continue
        assert writable == [("tmp", "/tmp")], "the node role writes nothing but its own emptyDir"
        expected = {"/etc/kubernetes", "/var/lib/kubelet/pki"}
        if docs is full_docs:
            expected |= {p["path"] for p in FULL_VALUES["daemonSet"]["extraHostPaths"]}
        assert set(host.values()) == expected
        for container in _all_containers(spec):
            mounts = [m for m in container.get("volumeMounts", []) if m["name"] in host]
            assert {m["name"] for m in mounts} == set(host), "each host path is mounted"
            for mount in mounts:
                assert mount.get("readOnly") is True, f"{mount['name']} is writable"
                assert mount.get("recursiveReadOnly") == "IfPossible"
                assert mount["mountPath"] == host[mount["name"]], "kubeconfigs refer to absolute host paths"
                assert "subPath" not in mount


def test_containers_are_locked_down(docs: list) -> None:
    for workload in workloads(docs):
        spec = pod_spec(workload)
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not spec.get("hostPID") and not spec.get("hostIPC")
        assert spec.get("hostNetwork", False) == (workload["kind"] == "DaemonSet")
        for container in _all_containers(spec):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["privileged"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}, "nothing added, everything dropped"
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert "limits" in container["resources"] and "requests" in container["resources"]
            assert [p["name"] for p in container["ports"]] == ["http"]


def test_pods_are_non_root_except_the_documented_daemonset_exception(docs: list) -> None:
    deployment = one(docs, "Deployment", FULLNAME)
    sc = pod_spec(deployment)["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0 and sc["runAsGroup"] != 0
    assert all("runAsUser" not in c["securityContext"] for c in pod_spec(deployment)["containers"])
    daemonset = one(docs, "DaemonSet", f"{FULLNAME}-node")
    assert pod_spec(daemonset)["securityContext"]["runAsUser"] == 0  # default readRootOnlyFiles: true
    # ... documented where users look: values.yaml next to the switch, and the chart README.
    values_text = (CHART / "values.yaml").read_text()
    doc = values_text[values_text.index("readRootOnlyFiles") - 1200: values_text.index("readRootOnlyFiles: true")]
    for fact in ("0600", "uid 0", "capabilit", "read-only", "CAP_DAC_READ_SEARCH"):
        assert fact in doc, f"values.yaml does not explain {fact!r} next to daemonSet.readRootOnlyFiles"
    readme = (CHART / "README.md").read_text()
    assert "readRootOnlyFiles" in readme and "0600" in readme


def test_daemonset_can_run_non_root() -> None:
    docs = manifests(render({"daemonSet": {"readRootOnlyFiles": False}}))
    for workload in workloads(docs):
        sc = pod_spec(workload)["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532


def test_daemonset_runs_on_control_plane_nodes_without_api_access(docs: list) -> None:
    spec = pod_spec(one(docs, "DaemonSet", f"{FULLNAME}-node"))
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    tolerated = {(t["key"], t.get("effect")) for t in spec["tolerations"]}
    assert ("node-role.kubernetes.io/control-plane", "NoSchedule") in tolerated
    assert spec["automountServiceAccountToken"] is False, "the node role never calls the Kubernetes API"
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"


def _rules(docs: list[dict[str, Any]]) -> set[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
    """(scope, apiGroup, resource, resourceNames, verbs) for every rule of every Role/ClusterRole."""
    out = set()
    for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
        scope = "cluster" if role["kind"] == "ClusterRole" else role["metadata"]["namespace"]
        for rule in role["rules"]:
            for url in rule.get("nonResourceURLs", ()):
                out.add((scope, "nonResourceURL", url, (), tuple(sorted(rule["verbs"]))))
            for group in rule.get("apiGroups", ()):
                for resource in rule["resources"]:
                    out.add((scope, group, resource, tuple(rule.get("resourceNames", ())), tuple(sorted(rule["verbs"]))))
    return out


def _removed_api_rules() -> set[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
    """list on every listable resource of the shipped removal data (events and *Reviews are never listed)."""
    from watchtower.upgrades.removal_data import load_shipped

    return {("cluster", a.group, a.resource, (), ("list",)) for a in load_shipped().apis
            if a.resource != "events" and not a.resource.endswith("reviews")}


REMOVED_API_RULES = _removed_api_rules() | {("cluster", "nonResourceURL", "/metrics", (), ("get",))}
BASE_RULES = {
    ("cluster", "", "nodes", (), ("get", "list", "watch")),
    ("kube-system", "", "configmaps", ("kubeadm-config",), ("get",)),
} | REMOVED_API_RULES


def test_rbac_default_is_exactly_nodes_kubeadm_config_and_removed_api_lists(default_docs: list) -> None:
    assert _rules(default_docs) == BASE_RULES
    assert not any("secrets" in str(r["rules"]) for r in of_kind(default_docs, "ClusterRole") + of_kind(default_docs, "Role"))


def test_rbac_full_adds_only_secret_reads_in_the_chosen_namespaces(full_docs: list) -> None:
    assert _rules(full_docs) == BASE_RULES | {
        ("ingress", "", "secrets", (), ("get", "list")),
        ("cert-manager", "", "secrets", (), ("get", "list")),
    }
    certs = yaml.safe_load(rendered_configs(full_docs)[f"{FULLNAME}-cluster-config"])["collectors"]["certs"]
    assert certs["secrets"] == {"enabled": True, "namespaces": ["ingress", "cert-manager"]}


def test_rbac_removed_apis_sources_each_bring_their_own_rules() -> None:
    off = manifests(render({"removedApis": {"enabled": False}}))
    assert _rules(off) == BASE_RULES - REMOVED_API_RULES
    config = yaml.safe_load(rendered_configs(off)[f"{FULLNAME}-cluster-config"])["collectors"]["removed_apis"]
    assert config["enabled"] is False
    metrics_only = manifests(render({"removedApis": {"liveObjects": False}}))
    assert _rules(metrics_only) - (BASE_RULES - REMOVED_API_RULES) == {("cluster", "nonResourceURL", "/metrics", (), ("get",))}
    helm = manifests(render({"removedApis": {"helmReleases": {"enabled": True, "namespaces": ["shop", "web"]}}}))
    assert _rules(helm) == BASE_RULES | {("shop", "", "secrets", (), ("list",)), ("web", "", "secrets", (), ("list",))}
    config = yaml.safe_load(rendered_configs(helm)[f"{FULLNAME}-cluster-config"])["collectors"]["removed_apis"]
    assert config["helm_releases"] is True and config["helm_namespaces"] == ["shop", "web"]
    wide = manifests(render({"removedApis": {"helmReleases": {"enabled": True}}}))
    assert _rules(wide) == BASE_RULES | {("cluster", "", "secrets", (), ("list",))}
    node = yaml.safe_load(rendered_configs(wide)[f"{FULLNAME}-node-config"])["collectors"]["removed_apis"]
    assert node == {"enabled": False}


def test_rbac_secrets_cluster_wide_when_no_namespaces_given() -> None:
    docs = manifests(render({"tlsSecrets": {"enabled": True}}))
    assert _rules(docs) == BASE_RULES | {("cluster", "", "secrets", (), ("get", "list"))}


def test_no_write_verbs_anywhere(docs: list) -> None:
    verbs = {v for rule in _rules(docs) for v in rule[4]}
    assert verbs <= {"get", "list", "watch"}


def test_rbac_bindings_bind_only_our_service_account(docs: list) -> None:
    roles = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"])
             for r in of_kind(docs, "ClusterRole") + of_kind(docs, "Role")}
    bindings = of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding")
    assert len(bindings) == len(roles)
    for binding in bindings:
        ref = binding["roleRef"]
        namespace = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        assert (ref["kind"], namespace, ref["name"]) in roles
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert "*" not in json.dumps([r["rules"] for r in of_kind(docs, "ClusterRole") + of_kind(docs, "Role")])


def test_rbac_off_renders_no_roles() -> None:
    docs = manifests(render({"rbac": {"create": False}, "tlsSecrets": {"enabled": True}}))
    assert not [d for d in docs if d["kind"].endswith(("Role", "RoleBinding"))]


# --------------------------------------------------------------------------------------------
# secrets: referenced by name, mounted as files, never values


def test_secrets_are_mounted_read_only_by_reference(full_docs: list) -> None:
    spec = pod_spec(one(full_docs, "Deployment", FULLNAME))
    secret_volumes = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    assert {(s["secretName"], tuple(i["key"] for i in s["items"])) for s in secret_volumes.values()} == {
        ("grafana-sa", ("token",)), ("slack", ("webhook-url",)), ("wt-metrics", ("password",))}
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"] if m["name"] in secret_volumes}
    assert set(mounts) == set(secret_volumes) and all(m["readOnly"] for m in mounts.values())
    assert {m["mountPath"] for m in mounts.values()} == {
        "/etc/watchtower/secrets/grafana-token", "/etc/watchtower/secrets/slack-webhook-url",
        "/etc/watchtower/secrets/metrics-auth"}
    node_spec = pod_spec(one(full_docs, "DaemonSet", f"{FULLNAME}-node"))
    node_secrets = {v["secret"]["secretName"] for v in node_spec["volumes"] if "secret" in v}
    assert node_secrets == {"wt-metrics"}, "the node role gets only the metrics password"


_SECRET_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|hooks\.slack\.com/services/|xox[bp]-|glsa_[A-Za-z0-9]"
    r"|^[ \t]*(password|token|api_key|webhook_url|secret)[ \t]*:[ \t]*\S", re.MULTILINE | re.IGNORECASE)


@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_no_secret_values_in_values_or_rendered_output(values: dict | None) -> None:
    rendered = render(values)
    assert not of_kind(manifests(rendered), "Secret"), "the chart never creates Secrets: it references existing ones"
    texts = {"values.yaml": (CHART / "values.yaml").read_text(), **rendered}
    for where, text in texts.items():
        match = _SECRET_SHAPES.search(text)
        assert match is None, f"{where} holds something secret-shaped: {match.group(0)!r}"


def test_secret_scanner_would_catch_an_inline_secret() -> None:
    """Guard against a scanner that finds nothing: an inline secret passed through `config` is seen."""
    rendered = render({"deployment": {"config": {"server": {"basic_auth": {"password": SENTINEL}}}}})
    text = "\n".join(rendered.values())
    assert SENTINEL in text
    assert _SECRET_SHAPES.search(text) is not None


def test_an_inline_secret_in_config_fails_the_config_check_without_echoing_it(tmp_path: Path) -> None:
    """`config` is free-form: the chart passes it through, watchtower refuses inline secrets."""
    docs = manifests(render({"config": {"common": {"server": {"basic_auth": {"username": "p", "password": SENTINEL}}}}}))
    for name, text in rendered_configs(docs).items():
        done = config_check(text, tmp_path, name)
        assert done.returncode == 2
        assert "no inline secret" in done.stderr
        assert SENTINEL not in done.stdout + done.stderr


# --------------------------------------------------------------------------------------------
# the rendered watchtower configs are valid watchtower configs


def test_every_rendered_config_passes_watchtower_config_check(docs: list, tmp_path: Path) -> None:
    configs = rendered_configs(docs)
    assert set(configs) == {f"{FULLNAME}-cluster-config", f"{FULLNAME}-node-config"}
    for name, text in configs.items():
        done = config_check(text, tmp_path, name)
        assert done.returncode == 0, f"{name}:\n{text}\n{done.stderr}"


CONFIG_VARIANTS = {
    "non-root node role": {"daemonSet": {"readRootOnlyFiles": False}},
    "secrets cluster-wide": {"tlsSecrets": {"enabled": True}},
    "provisioner without secrets": {"grafana": {"provisioner": {"url": "https://grafana.example.org"}}},
    "custom host paths": {"daemonSet": {"hostPaths": {"kubernetes": "/srv/kubernetes", "kubeletPki": "/srv/kubelet/pki"}}},
}


@pytest.mark.parametrize("values", CONFIG_VARIANTS.values(), ids=CONFIG_VARIANTS.keys())
def test_config_variants_pass_watchtower_config_check(values: dict, tmp_path: Path) -> None:
    for name, text in rendered_configs(manifests(render(values))).items():
        done = config_check(text, tmp_path, name)
        assert done.returncode == 0, f"{name}:\n{text}\n{done.stderr}"


def _file_keys(node: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(config path, value) of every key naming a file: *_file, *_dir, kubeadm_root and friends."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if isinstance(value, str) and (key.endswith(("_file", "_dir", "_root", "_socket"))):
                yield here, value
            else:
                yield from _file_keys(value, here)


def _mounted(path: str, mounts: list[dict[str, Any]]) -> dict[str, Any] | None:
    best = None
    for mount in mounts:
        root = mount["mountPath"].rstrip("/")
        if (path == root or path.startswith(root + "/")) and (best is None or len(root) > len(best["mountPath"])):
            best = mount
    return best


@pytest.mark.parametrize("values", [FULL_VALUES, CONFIG_VARIANTS["custom host paths"]], ids=["full", "custom-paths"])
def test_every_file_the_configs_name_is_mounted(values: dict) -> None:
    """A config path with no volume behind it would be a collector error in production."""
    docs = manifests(render(values))
    configs = rendered_configs(docs)
    # Shipped in the image (Dockerfile), or injected by Kubernetes (automountServiceAccountToken).
    image_paths = ("/usr/share/watchtower/", "/var/run/secrets/kubernetes.io/serviceaccount/")
    for kind, name, config_name in (("Deployment", FULLNAME, f"{FULLNAME}-cluster-config"),
                                    ("DaemonSet", f"{FULLNAME}-node", f"{FULLNAME}-node-config")):
        spec = pod_spec(one(docs, kind, name))
        mounts = spec["containers"][0]["volumeMounts"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for where, path in _file_keys(yaml.safe_load(configs[config_name])):
            if path.startswith(image_paths[1]):
                assert pod_spec(one(docs, kind, name))["automountServiceAccountToken"] is True
                continue
            if path.startswith(image_paths):
                continue
            mount = _mounted(path, mounts)
            assert mount is not None, f"{config_name}: {where}={path} is not on any volume"
            if where.endswith(("state_file", "backup_dir")):  # written by watchtower
                assert not mount.get("readOnly"), f"{where} must be on a writable mount"
                continue
            volume = volumes[mount["name"]]
            assert mount.get("readOnly") is True, f"{where} reads from a writable mount"
            if "secret" in volume:  # a *_file naming a Secret key: exactly that key is projected
                assert path == f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}"


def test_metrics_basic_auth_in_both_roles_and_the_service_monitor(full_docs: list) -> None:
    for text in rendered_configs(full_docs).values():
        auth = yaml.safe_load(text)["server"]["basic_auth"]
        assert auth == {"username": "prometheus", "password_file": "/etc/watchtower/secrets/metrics-auth/password"}
    for workload in workloads(full_docs):
        volumes = [v for v in pod_spec(workload)["volumes"] if v.get("secret", {}).get("secretName") == "wt-metrics"]
        assert [v["secret"]["items"] for v in volumes] == [[{"key": "password", "path": "password"}]]
    endpoint = one(full_docs, "ServiceMonitor", FULLNAME)["spec"]["endpoints"][0]
    assert endpoint["basicAuth"] == {"username": {"name": "wt-metrics", "key": "username"},
                                     "password": {"name": "wt-metrics", "key": "password"}}


def test_grafana_provisioner_reads_its_secrets_from_files(full_docs: list) -> None:
    grafana = yaml.safe_load(rendered_configs(full_docs)[f"{FULLNAME}-cluster-config"])["collectors"]["grafana"]
    assert grafana["url"] == "http://grafana.monitoring.svc" and grafana["enabled"] is True
    assert grafana["token_file"] == "/etc/watchtower/secrets/grafana-token/token"
    assert grafana["slack_webhook_file"] == "/etc/watchtower/secrets/slack-webhook-url/webhook-url"
    assert grafana["email_addresses"] == ["oncall@example.org"], "deployment.config merges into the preset"


def test_roles_never_collect_the_same_thing_twice(full_docs: list) -> None:
    from watchtower.app.registry import REGISTRY

    configs = {n: yaml.safe_load(t)["collectors"] for n, t in rendered_configs(full_docs).items()}
    cluster, node = configs[f"{FULLNAME}-cluster-config"], configs[f"{FULLNAME}-node-config"]
    for collector in set(cluster) | set(node):
        assert collector in REGISTRY
        on = [role for role, c in (("cluster", cluster), ("node", node)) if c.get(collector, {}).get("enabled") is not False]
        if collector == "certs":  # both, with disjoint sources: served/Secrets vs files on the node
            assert cluster["certs"]["kubeadm"] is False and "endpoints" not in node["certs"]
            continue
        assert len(on) == 1, f"{collector} runs in {on}"


def test_each_role_runs_exactly_the_collectors_that_declare_it(docs: list) -> None:
    """The presets come from the collectors' declared roles (files/collectors.yaml), not a hand list."""
    from watchtower.app.registry import REGISTRY

    configs = {n: yaml.safe_load(t)["collectors"] for n, t in rendered_configs(docs).items()}
    for role, config in (("cluster", configs[f"{FULLNAME}-cluster-config"]), ("node", configs[f"{FULLNAME}-node-config"])):
        assert set(config) == set(REGISTRY), role
        for name, cls in REGISTRY.items():
            off = config[name].get("enabled") is False
            if role not in cls.roles:
                assert off, f"{name} runs in the {role} role it does not declare"
            elif name != "grafana":  # the provisioner is off until grafana.provisioner.url is set
                assert not off, f"{name} declares {role} but is off there"


def test_chart_collector_roles_equal_the_registry() -> None:
    sync = runpy.run_path(str(ROOT / "scripts" / "sync-helm-files.py"), run_name="sync")
    assert (CHART / "files" / "collectors.yaml").read_text() == sync["collector_roles_yaml"](), \
        "run scripts/sync-helm-files.py: files/collectors.yaml differs from the registry"


def test_config_check_catches_a_typo_passed_through_values(tmp_path: Path) -> None:
    docs = manifests(render({"daemonSet": {"config": {"log": {"levle": "debug"}}}}))
    done = config_check(rendered_configs(docs)[f"{FULLNAME}-node-config"], tmp_path, "node")
    assert done.returncode == 2 and "log.levle" in done.stderr


def test_values_reach_the_configs(full_docs: list) -> None:
    for text in rendered_configs(full_docs).values():
        config = yaml.safe_load(text)
        assert config["cluster"] == "prod-1"
        assert config["control_plane"]["vips"] == ["198.51.100.100"]
        assert config["server"]["listen"] == "0.0.0.0:9847"


def test_cluster_role_watches_the_served_apiserver_certificates() -> None:
    values = {"controlPlane": FULL_VALUES["controlPlane"]}
    config = yaml.safe_load(rendered_configs(manifests(render(values)))[f"{FULLNAME}-cluster-config"])
    ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    assert config["collectors"]["certs"]["endpoints"] == [
        {"address": a, "ca_file": ca} for a in [*FULL_VALUES["controlPlane"]["apiservers"], "k8s-api.example.org:6443"]]


def test_node_role_reads_the_kubeadm_tree_it_mounts() -> None:
    values = CONFIG_VARIANTS["custom host paths"]
    config = yaml.safe_load(rendered_configs(manifests(render(values)))[f"{FULLNAME}-node-config"])
    certs, etcd = config["collectors"]["certs"], config["collectors"]["etcd"]
    assert (certs["kubeadm_root"], certs["kubelet_pki_dir"]) == ("/srv/kubernetes", "/srv/kubelet/pki")
    assert etcd["key_file"] == "/srv/kubernetes/pki/etcd/healthcheck-client.key"
    non_root = yaml.safe_load(rendered_configs(manifests(render(CONFIG_VARIANTS["non-root node role"])))[f"{FULLNAME}-node-config"])
    assert non_root["collectors"]["etcd"]["endpoints"] == ["http://127.0.0.1:2381"], "no 0600 key without root"


def test_null_in_values_removes_a_preset_key() -> None:
    """As in Helm values: `key: null` drops the preset's key, so watchtower's default applies."""
    docs = manifests(render({"deployment": {"config": {"collectors": {"apiserver": {"token_file": None}}}}}))
    apiserver = yaml.safe_load(rendered_configs(docs)[f"{FULLNAME}-cluster-config"])["collectors"]["apiserver"]
    assert "token_file" not in apiserver and apiserver["ca_file"].endswith("serviceaccount/ca.crt")


def test_config_maps_fit_the_kubernetes_size_limit(full_docs: list) -> None:
    for config_map in of_kind(full_docs, "ConfigMap"):
        size = sum(len(k) + len(v.encode()) for k, v in (config_map.get("data") or {}).items())
        assert size < 1024 * 1024 * 0.9, f"{config_map['metadata']['name']}: {size} bytes, near the 1 MiB limit"


def test_config_change_rolls_the_pods(default_docs: list) -> None:
    changed = manifests(render({"config": {"common": {"log": {"level": "debug"}}}}))
    for kind, name in (("Deployment", FULLNAME), ("DaemonSet", f"{FULLNAME}-node")):
        before = one(default_docs, kind, name)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        after = one(changed, kind, name)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        assert before != after


def test_workloads_run_the_cli_with_the_mounted_config(docs: list) -> None:
    from watchtower.app.cli import build_parser

    for workload in workloads(docs):
        container = pod_spec(workload)["containers"][0]
        args = build_parser().parse_args(container["args"])
        assert args.command == "run" and args.config == "/etc/watchtower/config.yaml"
        assert any(m["mountPath"] == args.config for m in container["volumeMounts"])


def test_image_defaults_to_the_package_version() -> None:
    import watchtower

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == watchtower.__version__
    docs = manifests(render())
    assert pod_spec(one(docs, "Deployment", FULLNAME))["containers"][0]["image"] == f"kube-watchtower:{watchtower.__version__}"
    digest = "sha256:" + "ab" * 32
    docs = manifests(render({"image": {"digest": digest}}))
    assert pod_spec(one(docs, "Deployment", FULLNAME))["containers"][0]["image"] == f"kube-watchtower@{digest}"


# --------------------------------------------------------------------------------------------
# Services, ServiceMonitor, PrometheusRule, Grafana ConfigMaps


# A local subset of the monitoring.coreos.com/v1 CRD schemas (kubernetes-validate has none):
# the fields this chart may use; a typo such as `scrapeTimout` fails here.
SERVICE_MONITOR_SPEC_KEYS = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels"}
SERVICE_MONITOR_ENDPOINT_KEYS = {"port", "path", "scheme", "interval", "scrapeTimeout", "relabelings",
                                 "metricRelabelings", "honorLabels", "tlsConfig", "basicAuth"}
PROMETHEUS_RULE_SPEC_KEYS = {"groups"}
ALERTMANAGER_CONFIG = {  # v1alpha1: spec and receiver fields this chart may use
    "spec": {"route", "receivers", "inhibitRules"},
    "receiver": {"name", "emailConfigs", "slackConfigs", "webhookConfigs"},
    "emailConfigs": {"to", "from", "smarthost", "authUsername", "authPassword", "requireTLS", "sendResolved"},
    "slackConfigs": {"apiURL", "channel", "sendResolved"},
    "webhookConfigs": {"urlSecret", "sendResolved"},
    "route": {"receiver", "groupBy", "groupWait", "groupInterval", "repeatInterval", "matchers", "routes", "continue"},
}


def test_crd_objects_use_only_known_fields(full_docs: list) -> None:
    monitor = one(full_docs, "ServiceMonitor", FULLNAME)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= SERVICE_MONITOR_SPEC_KEYS
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= SERVICE_MONITOR_ENDPOINT_KEYS
        for field in ("interval", "scrapeTimeout"):
            assert re.fullmatch(r"([0-9]+(ms|s|m|h))+", endpoint[field])
    rule = one(full_docs, "PrometheusRule", FULLNAME)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == PROMETHEUS_RULE_SPEC_KEYS
    amc = one(full_docs, "AlertmanagerConfig", FULLNAME)
    assert amc["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    assert set(amc["spec"]) <= ALERTMANAGER_CONFIG["spec"]
    for receiver in amc["spec"]["receivers"]:
        assert set(receiver) <= ALERTMANAGER_CONFIG["receiver"]
        for kind in ("emailConfigs", "slackConfigs", "webhookConfigs"):
            for item in receiver.get(kind, []):
                assert set(item) <= ALERTMANAGER_CONFIG[kind]

    def routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield route
        for child in route.get("routes", []):
            yield from routes(child)

    for route in routes(amc["spec"]["route"]):
        assert set(route) <= ALERTMANAGER_CONFIG["route"]
        for matcher in route.get("matchers", []):
            assert set(matcher) == {"name", "value", "matchType"} and matcher["matchType"] in {"=", "!=", "=~", "!~"}


def test_service_monitor_selects_both_services(full_docs: list) -> None:
    monitor = one(full_docs, "ServiceMonitor", FULLNAME)
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = of_kind(full_docs, "Service")
    assert len(services) == 2
    for service in services:
        assert selector.items() <= service["metadata"]["labels"].items()
        assert "http" in [p["name"] for p in service["spec"]["ports"]]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
    # The alerts route by `cluster`, which comes from the scrape target.
    assert monitor["spec"]["endpoints"][0]["relabelings"] == [
        {"action": "replace", "targetLabel": "cluster", "replacement": "prod-1"}]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_services_select_their_pods(default_docs: list) -> None:
    pods = {w["kind"]: w["spec"]["template"]["metadata"]["labels"] for w in workloads(default_docs)}
    deployment_svc = one(default_docs, "Service", FULLNAME)["spec"]["selector"]
    node_svc = one(default_docs, "Service", f"{FULLNAME}-node")["spec"]["selector"]
    assert deployment_svc.items() <= pods["Deployment"].items() and not deployment_svc.items() <= pods["DaemonSet"].items()
    assert node_svc.items() <= pods["DaemonSet"].items() and not node_svc.items() <= pods["Deployment"].items()


@pytest.mark.parametrize("source, pattern, copy_dir", [
    ("alerts", "*.rules.yaml", "alerts"), ("dashboards", "*.json", "dashboards"),
    ("alerts", "alertmanager.yaml", "alertmanager")])
def test_chart_copies_equal_the_repository_sources(source: str, pattern: str, copy_dir: str) -> None:
    originals, copies = sorted((ROOT / source).glob(pattern)), sorted((CHART / "files" / copy_dir).glob(pattern))
    assert [p.name for p in copies] == [p.name for p in originals], \
        "run scripts/sync-helm-files.py: the chart's copies differ from the sources"
    for original, copied in zip(originals, copies):
        assert copied.read_bytes() == original.read_bytes(), f"{copied} is stale: run scripts/sync-helm-files.py"


def test_prometheus_rule_carries_every_rule_group(full_docs: list) -> None:
    rule = one(full_docs, "PrometheusRule", FULLNAME)
    expected = []
    for path in sorted((CHART / "files" / "alerts").glob("*.rules.yaml")):
        expected.extend(yaml.safe_load(path.read_text())["groups"])
    assert rule["spec"]["groups"] == expected


@pytest.mark.promtool
def test_prometheus_rule_passes_promtool(full_docs: list, tmp_path: Path) -> None:
    groups = one(full_docs, "PrometheusRule", FULLNAME)["spec"]["groups"]
    assert groups, "alerts/*.rules.yaml reached the PrometheusRule"
    rules = tmp_path / "from-chart.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    done = subprocess.run([require_binary("promtool"), "check", "rules", str(rules)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_config_maps_for_the_grafana_sidecar(full_docs: list) -> None:
    maps = [d for d in of_kind(full_docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    sources = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert len(maps) == len(sources)
    by_key = {key: value for m in maps for key, value in m["data"].items()}
    for source in sources:
        assert json.loads(by_key[source.name]) == json.loads(source.read_text())
    for m in maps:
        assert m["metadata"]["annotations"] == {"grafana_folder": "watchtower"}


def test_grafana_alerting_config_map(full_docs: list) -> None:
    alerting = one(full_docs, "ConfigMap", f"{FULLNAME}-grafana-alerting")
    assert alerting["metadata"]["labels"]["grafana_alert"] == "1"
    sources = sorted((CHART / "files" / "grafana-alerting").glob("*.yaml"))
    assert sorted(alerting.get("data") or {}) == [p.name for p in sources]
    for source in sources:
        assert yaml.safe_load(alerting["data"][source.name]) == yaml.safe_load(source.read_text())


def _matchers(texts: list[str]) -> list[dict[str, str]]:
    out = []
    for text in texts:
        match = re.fullmatch(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*', text)
        assert match, text
        out.append({"name": match[1], "matchType": match[2], "value": match[3]})
    return out


def _route(route: dict[str, Any]) -> dict[str, Any]:
    names = {"receiver": "receiver", "group_by": "groupBy", "group_wait": "groupWait",
             "group_interval": "groupInterval", "repeat_interval": "repeatInterval", "continue": "continue"}
    out = {names[k]: v for k, v in route.items() if k in names}
    if "matchers" in route:
        out["matchers"] = _matchers(route["matchers"])
    if "routes" in route:
        out["routes"] = [_route(r) for r in route["routes"]]
    return out


def test_alertmanager_config_routes_like_the_repository_config(full_docs: list) -> None:
    """alerts/alertmanager.yaml is the source of truth; the chart translates it at render time."""
    source = yaml.safe_load((ROOT / "alerts" / "alertmanager.yaml").read_text())
    spec = one(full_docs, "AlertmanagerConfig", FULLNAME)["spec"]
    assert spec["route"] == _route(source["route"])
    assert spec["inhibitRules"] == [
        {"sourceMatch": _matchers(r["source_matchers"]), "targetMatch": _matchers(r["target_matchers"]),
         **({"equal": r["equal"]} if r.get("equal") else {})} for r in source["inhibit_rules"]]

    def receivers_of(route: dict[str, Any]) -> set[str]:
        return {route["receiver"]} | {n for child in route.get("routes", []) for n in receivers_of(child)}

    defined = {r["name"]: r for r in spec["receivers"]}
    assert receivers_of(spec["route"]) <= set(defined), "every routed receiver exists"
    oncall, ticket = defined["oncall"], defined["ticket"]
    assert oncall["emailConfigs"][0]["to"] == "k8s-oncall@example.org"
    assert ticket["emailConfigs"][0]["to"] == "k8s-tickets@example.org, ops@example.org"
    assert "slackConfigs" in oncall and "slackConfigs" not in ticket, "Slack pages: critical only"


def test_alertmanager_config_references_secrets_only_by_name(full_docs: list) -> None:
    spec = one(full_docs, "AlertmanagerConfig", FULLNAME)["spec"]
    receivers = {r["name"]: r for r in spec["receivers"]}
    for email in receivers["oncall"]["emailConfigs"] + receivers["ticket"]["emailConfigs"]:
        assert email["authPassword"] == {"name": "smtp", "key": "password"}
    assert receivers["oncall"]["slackConfigs"][0]["apiURL"] == {"name": "slack", "key": "webhook-url"}
    assert receivers["heartbeat"]["webhookConfigs"][0]["urlSecret"] == {"name": "heartbeat", "key": "url"}
    for workload in workloads(full_docs):  # the operator reads these; watchtower's pods never see them
        mounted = {v["secret"]["secretName"] for v in pod_spec(workload)["volumes"] if "secret" in v}
        assert not mounted & {"smtp", "heartbeat"}


def test_alertmanager_config_without_recipients_is_a_valid_null_route() -> None:
    docs = manifests(render({"alertmanagerConfig": {"enabled": True}}))
    receivers = one(docs, "AlertmanagerConfig", FULLNAME)["spec"]["receivers"]
    assert receivers == [{"name": "oncall"}, {"name": "ticket"}, {"name": "heartbeat"}]


def test_notes_name_the_objects() -> None:
    notes = render()["watchtower/templates/NOTES.txt"]
    assert f"deploy/{FULLNAME}" in notes and "pod-security.kubernetes.io/enforce=privileged" in notes
