"""The certs collector over generated kubeadm trees and files: series, checks, findings, errors."""

from __future__ import annotations

import base64
import dataclasses
import datetime

import pytest

from tests.support.certs import make_collector, samples
from tests.support.kubeadm_pki import EXPECTED_NAMES, KubeadmPKI, issue, kubeconfig_yaml
from watchtower.app.config import Config, ControlPlaneConfig, from_mapping
from watchtower.collectors.certs import CertsCollector
from watchtower.collectors.certs.settings import CertsSettings, EndpointSettings
from watchtower.collectors.certs.table import render_table
from watchtower.core.results import Severity
from watchtower.core.settings import ConfigError


def checks(result, check: str) -> dict[str, float]:
    return {s.labels.get("location") or s.labels.get("endpoint"): s.value
            for s in samples(result, f"watchtower_cert_{check}")}


@pytest.fixture
def pki(tmp_path) -> KubeadmPKI:
    return KubeadmPKI.build(tmp_path)


def test_kubeadm_discovery_finds_every_certificate_with_its_name(pki):
    result = make_collector(pki).collect()
    assert result.errors == ()
    after = samples(result, "watchtower_cert_not_after_timestamp_seconds")
    assert {s.labels["name"] for s in after} == set(EXPECTED_NAMES)
    assert all(s.labels["source"] == "kubeadm" for s in after)
    by_name = {s.labels["name"]: s for s in after if s.labels["is_ca"] == "false" or s.labels["name"] in
               {"ca", "etcd/ca", "front-proxy-ca"}}
    for name in EXPECTED_NAMES:
        cert = pki.cert(name)
        sample = by_name[name]
        assert sample.value == cert.not_valid_after_utc.timestamp()
        assert int(sample.labels["serial"], 16) == cert.serial_number
    assert by_name["apiserver"].labels["location"] == str(pki.pki / "apiserver.crt")
    assert by_name["apiserver"].labels["issuer_cn"] == "kubernetes"
    assert by_name["etcd/server"].labels["issuer_cn"] == "etcd-ca"
    assert by_name["ca"].labels["is_ca"] == "true"
    assert by_name["admin.conf"].labels["location"] == f"{pki.root}/admin.conf#user:kubernetes-admin"
    assert by_name["kubelet.conf"].labels["location"] == str(pki.kubelet_dir / "kubelet-client-current.pem")
    before = samples(result, "watchtower_cert_not_before_timestamp_seconds")
    assert len(before) == len(after) == len(EXPECTED_NAMES) + 1  # kubelet.crt also bundles its CA
    assert all(v == 1 for v in checks(result, "key_matches").values())
    assert len(checks(result, "key_matches")) == 17  # 10 pki pairs, sa, 4 kubeconfigs, kubelet client + serving
    assert all(v == 1 for v in checks(result, "kubeconfig_ca_matches_cluster_ca").values())
    assert all(v == 1 for v in checks(result, "chain_valid").values()) and len(checks(result, "chain_valid")) == 13
    assert all(v == 0 for v in checks(result, "expires_after_issuer").values())
    assert result.findings == ()


def test_kubelet_conf_embedded(tmp_path):
    pki = KubeadmPKI.build(tmp_path, kubelet_conf_embedded=True)
    after = samples(make_collector(pki).collect(), "watchtower_cert_not_after_timestamp_seconds")
    (kubelet,) = [s for s in after if s.labels["name"] == "kubelet.conf"]
    assert kubelet.labels["location"] == f"{pki.root}/kubelet.conf#user:system:node:cp1"


def test_checks_catch_what_kubeadm_does_not(tmp_path):
    pki = KubeadmPKI.build(tmp_path, vip=None, days={"etcd/ca": 100})
    # a key that is not apiserver.crt's, admin.conf embedding a foreign CA, a leaf signed by an impostor CA
    (pki.pki / "apiserver.key").write_bytes(issue("other").key_pem)
    impostor = issue("kubernetes", is_ca=True)
    admin = pki.issued["admin.conf"]
    (pki.root / "admin.conf").write_text(kubeconfig_yaml("https://x:6443", impostor.cert_pem, "kubernetes-admin",
                                                         cert_pem=admin.cert_pem, key_pem_bytes=admin.key_pem))
    forged = issue("kube-apiserver-kubelet-client", impostor, client=True)
    (pki.pki / "apiserver-kubelet-client.crt").write_bytes(forged.cert_pem)
    (pki.pki / "apiserver-kubelet-client.key").write_bytes(forged.key_pem)
    config = Config(control_plane=ControlPlaneConfig(endpoint="k8s-api.example.test:6443", vips=("198.51.100.10",)))
    result = make_collector(pki, config=config).collect()
    assert checks(result, "key_matches")[str(pki.pki / "apiserver.crt")] == 0
    assert checks(result, "kubeconfig_ca_matches_cluster_ca")[f"{pki.root}/admin.conf#cluster:kubernetes"] == 0
    chain = {s.labels["name"]: s for s in samples(result, "watchtower_cert_chain_valid")}
    assert chain["apiserver-kubelet-client"].value == 0
    assert chain["apiserver-kubelet-client"].labels["reason"] == "bad_signature"
    assert chain["apiserver"].value == 1
    san = {s.labels["name"]: s.value for s in samples(result, "watchtower_cert_san_covers")}
    assert san == {"198.51.100.10": 0, "k8s-api.example.test": 1}
    outlives = {s.labels["name"]: s.value for s in samples(result, "watchtower_cert_expires_after_issuer")}
    assert outlives["etcd/server"] == 1 and outlives["apiserver-etcd-client"] == 1 and outlives["apiserver"] == 0
    found = {(f.subject, f.severity) for f in result.findings}
    assert ("apiserver SAN 198.51.100.10", Severity.CRITICAL) in found
    assert ("etcd/server", Severity.WARNING) in found
    assert ("apiserver", Severity.CRITICAL) in found  # key mismatch
    assert ("admin.conf", Severity.CRITICAL) in found


def test_lifetime_relative_findings_and_fixed_clock(tmp_path):
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    for name, days in (("year", 365), ("quarter", 90), ("week", 6)):
        (cert_dir / f"{name}.crt").write_bytes(issue(name, not_before=base, days=days).cert_pem)
    def at(days_in: float):
        collector = make_collector(paths=(str(cert_dir),), kubeadm=False,
                                   now=(base + datetime.timedelta(days=days_in)).timestamp())
        return {f.subject.split(" ")[0].rsplit("/", 1)[1]: f.severity for f in collector.collect().findings}
    assert at(1) == {}
    assert at(4.7) == {}  # 6-day cert with 1.3 days left: above 20 % (1.2 days)
    assert at(4.9) == {"week.crt": Severity.WARNING}  # 1.1 days left
    found = at(73)  # quarter: 17 days left (< 18 = 20 %), year: 292 days left
    assert found["quarter.crt"] == Severity.WARNING and "year.crt" not in found
    assert at(336)["year.crt"] == Severity.WARNING  # 29 days left
    assert at(359)["year.crt"] == Severity.CRITICAL  # 6 days left
    assert at(400) == {n: Severity.CRITICAL for n in ("year.crt", "quarter.crt", "week.crt")}


def test_duplicates_collapse_and_metrics_render(tmp_path):
    leaf = issue("dup")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(leaf.cert_pem * 3)
    result = make_collector(paths=(str(bundle), str(tmp_path / "*.pem")), kubeadm=False).collect()
    assert len(samples(result, "watchtower_cert_not_after_timestamp_seconds")) == 1
    assert [s.value for s in samples(result, "watchtower_cert_certificates") if s.labels["source"] == "file"] == [1]


def test_bad_kubeconfig_in_kubeadm_tree_loses_nothing_else(pki):
    text = (pki.root / "scheduler.conf").read_text()
    data = base64.b64encode(pki.issued["scheduler.conf"].cert_pem).decode()
    (pki.root / "scheduler.conf").write_text(text.replace(data, data[:10] + "~~~" + data[13:]))
    (pki.root / "controller-manager.conf").write_text("clusters: [\n")
    result = make_collector(pki).collect()
    errors = {(e.location, e.reason) for e in result.errors}
    assert errors == {(f"{pki.root}/scheduler.conf#user:system:kube-scheduler", "invalid_base64"),
                      (f"{pki.root}/controller-manager.conf", "invalid_yaml")}
    names = {s.labels["name"] for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}
    assert names == set(EXPECTED_NAMES) - {"scheduler.conf", "controller-manager.conf"}
    read_errors = {(s.labels["source"], s.labels["reason"]): s.value for s in samples(result, "watchtower_cert_read_errors")}
    assert read_errors == {("kubeadm", "invalid_base64"): 1, ("kubeadm", "invalid_yaml"): 1}


def test_missing_optional_kubeadm_files_are_not_errors(pki):
    for path in (pki.pki / "etcd").iterdir():
        path.unlink()
    (pki.root / "super-admin.conf").unlink()
    result = make_collector(pki).collect()
    assert result.errors == ()
    names = {s.labels["name"] for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}
    assert "etcd/server" not in names and "super-admin.conf" not in names and "apiserver" in names


def test_auto_says_why_it_does_not_run(tmp_path, pki):
    context = make_collector().context
    reason = CertsCollector.unavailable_reason(CertsSettings(kubeadm_root=str(tmp_path / "none"),
                                                             kubelet_pki_dir=str(tmp_path / "none")), context)
    assert reason and "no certificate source" in reason and str(tmp_path / "none") in reason
    assert CertsCollector.unavailable_reason(CertsSettings(kubeadm_root=str(pki.root)), context) is None
    assert CertsCollector.unavailable_reason(CertsSettings(kubeadm_root="/nope", kubelet_pki_dir="/nope",
                                                           paths=("/x",)), context) is None


def test_settings_bind_from_yaml_data(tmp_path):
    (tmp_path / "pass").write_text("pw\n")
    config = from_mapping({"collectors": {"certs": {
        "paths": ["/etc/ssl/private/*.pem"], "kubeadm": False, "endpoint_timeout": "3s",
        "endpoints": ["127.0.0.1:443", {"address": "[::1]:8443", "server_name": "api.example.test", "ca_file": "/ca"}],
        "secrets": {"enabled": True, "namespaces": ["ingress"]}, "pkcs12_passphrase_file": str(tmp_path / "pass"),
        "warning_before": "21d", "critical_fraction": 0.1,
    }}})
    settings = config.collectors["certs"]
    assert settings.endpoints[1] == EndpointSettings("[::1]:8443", "api.example.test", "/ca")
    assert settings.thresholds.warning_seconds == 21 * 86400 and settings.thresholds.critical_fraction == 0.1
    assert settings.pkcs12_passphrase.read() == "pw"
    with pytest.raises(ConfigError, match=r"collectors\.certs\.endpoints\[0\]"):
        from_mapping({"collectors": {"certs": {"endpoints": ["no-port"]}}})
    with pytest.raises(ConfigError, match="warning_fraction"):
        from_mapping({"collectors": {"certs": {"warning_fraction": 3}}})


def test_table_like_kubeadm(pki):
    result = make_collector(pki).collect()
    lines = render_table(result.details)
    assert lines[0].split() == ["CERTIFICATE", "EXPIRES", "RESIDUAL", "TIME", "CERTIFICATE", "AUTHORITY", "SOURCE", "STATUS"]
    first_names = [line.split()[0] for line in lines[1:]]
    assert first_names[0] == "admin.conf" and "kubelet.crt" in first_names
    assert "364d" in lines[1]
    colored = render_table(result.details, color=True)
    assert "\033[32mOK\033[0m" in colored[1]


def test_not_found_paths_and_size_cap(tmp_path):
    big = tmp_path / "big.pem"
    big.write_bytes(issue("x").cert_pem + b"#" * 5000)
    result = make_collector(paths=(str(tmp_path / "missing.pem"), str(tmp_path / "*.nothing"), str(big)),
                            kubeadm=False, max_file_size=4096).collect()
    assert {(e.location, e.reason) for e in result.errors} == {
        (str(tmp_path / "missing.pem"), "not_found"), (str(tmp_path / "*.nothing"), "not_found"),
        (str(big), "too_large")}
    assert dataclasses.replace(CertsSettings(), kubeadm=False).kubeadm is False


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("k8s-api.example.test:6443", "k8s-api.example.test"), ("k8s-api.example.test", "k8s-api.example.test"),
    ("[2001:db8::10]:6443", "2001:db8::10"), ("198.51.100.10:6443", "198.51.100.10"),
])
def test_san_names_from_the_control_plane_endpoint(pki, endpoint, expected):
    config = Config(control_plane=ControlPlaneConfig(endpoint=endpoint))
    san = {s.labels["name"] for s in samples(make_collector(pki, config=config).collect(), "watchtower_cert_san_covers")}
    assert san == {expected}
