"""Kubeconfig files: the test API server's own (file references) and hand-written ones (relative paths)."""

from __future__ import annotations

import base64

import yaml

from tests.support.certs import make_collector, samples
from tests.support.kubeadm_pki import issue
from watchtower.pki import parse_certificates


def test_kubeconfig_with_file_references_from_the_test_api_server(kube_api, tmp_path):
    path = kube_api.write_kubeconfig(tmp_path / "kubeconfig", auth="cert")
    result = make_collector(kubeadm=False, kubeconfigs=(str(path),)).collect()
    assert result.errors == ()
    after = {s.labels["location"]: s for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}
    assert set(after) == {str(kube_api.ca_file), str(kube_api.client_cert_file)}
    ca = parse_certificates(kube_api.ca_file.read_bytes()).certificates[0]
    assert after[str(kube_api.ca_file)].value == ca.not_after and after[str(kube_api.ca_file)].labels["is_ca"] == "true"
    assert after[str(kube_api.client_cert_file)].labels["name"] == "watchtower-cert"
    keys = {s.labels["key_location"]: s.value for s in samples(result, "watchtower_cert_key_matches")}
    assert keys == {str(kube_api.client_key_file): 1}


def test_relative_references_bad_entries_and_globs(tmp_path):
    ca = issue("relative-ca", is_ca=True)
    user = issue("relative-user", ca, client=True)
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "pki" / "user.crt").write_bytes(user.cert_pem)
    (tmp_path / "pki" / "user.key").write_bytes(issue("someone-else").key_pem)  # wrong key
    confs = tmp_path / "confs"
    confs.mkdir()
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "rel", "cluster": {"certificate-authority": "../pki/ca.crt", "server": "https://x"}},
                        {"name": "gone", "cluster": {"certificate-authority": "../pki/missing.crt"}}],
           "users": [{"name": "u", "user": {"client-certificate": "../pki/user.crt", "client-key": "../pki/user.key"}},
                     {"name": "b", "user": {"client-certificate-data": "not*base64"}},
                     {"name": "e", "user": {"client-certificate-data": base64.b64encode(user.cert_pem).decode()}}]}
    (confs / "a.conf").write_text(yaml.safe_dump(doc))
    (confs / "b.conf").write_text("users: [ {")
    result = make_collector(kubeadm=False, kubeconfigs=(str(confs / "*.conf"), str(tmp_path / "none" / "*"))).collect()
    errors = {(e.location, e.reason) for e in result.errors}
    assert errors == {
        (f"{confs}/a.conf#cluster:gone -> {tmp_path}/pki/missing.crt", "not_found"),
        (f"{confs}/a.conf#user:b", "invalid_base64"),
        (f"{confs}/b.conf", "invalid_yaml"),
        (f"{tmp_path}/none/*", "not_found"),
    }
    after = {(s.labels["location"], s.labels["name"]) for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}
    assert after == {(f"{tmp_path}/pki/ca.crt", "rel"), (f"{tmp_path}/pki/user.crt", "u"), (f"{confs}/a.conf#user:e", "e")}
    keys = {s.labels["location"]: s.value for s in samples(result, "watchtower_cert_key_matches")}
    assert keys == {f"{tmp_path}/pki/user.crt": 0}
    chain = {s.labels["location"]: s.value for s in samples(result, "watchtower_cert_chain_valid")}
    assert chain == {f"{tmp_path}/pki/user.crt": 1, f"{confs}/a.conf#user:e": 1}
