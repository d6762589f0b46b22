"""Kubernetes TLS Secrets from the test API server: thousands over many pages, filtered server-side."""

from __future__ import annotations

import pytest

from tests.support.certs import make_collector, samples
from tests.support.kubeadm_pki import issue
from watchtower.app.config import Config, KubernetesConfig
from watchtower.collectors.certs.settings import SecretsSettings

SECRETS = 3000
PAGE = 200


@pytest.fixture(scope="module")
def certs():
    return [issue(f"svc-{i}.example.test", days=30 + i) for i in range(40)]


def _config(kube_api, tmp_path, page_size: int = PAGE) -> Config:
    path = kube_api.write_kubeconfig(tmp_path / "kubeconfig", auth="token")
    return Config(kubernetes=KubernetesConfig(kubeconfig=str(path), page_size=page_size))


def test_thousands_of_tls_secrets_over_many_pages(kube_api, tmp_path, certs):
    for i in range(SECRETS):
        kube_api.add_secret(f"team-{i % 7}", f"tls-{i:05d}", data={"tls.crt": certs[i % len(certs)].cert_pem,
                                                                   "tls.key": certs[i % len(certs)].key_pem})
    kube_api.add_secret("team-0", "opaque-with-cert", type="Opaque", data={"tls.crt": certs[0].cert_pem})
    kube_api.add_secret("team-1", "broken", data={"tls.crt": b"garbage, not a certificate"})
    kube_api.clear_requests()
    result = make_collector(config=_config(kube_api, tmp_path), kubeadm=False,
                            secrets=SecretsSettings(enabled=True)).collect()
    after = samples(result, "watchtower_cert_not_after_timestamp_seconds")
    assert len(after) == SECRETS
    first = next(s for s in after if s.labels["location"] == "team-3/tls-00003#tls.crt")
    assert first.labels["source"] == "secret" and first.labels["name"] == "tls-00003"
    assert first.value == certs[3].cert.not_valid_after_utc.timestamp()
    assert [(e.location, e.reason) for e in result.errors] == [("team-1/broken#tls.crt", "not_certificate")]
    lists = [r for r in kube_api.requests if r.path == "/api/v1/secrets"]
    assert len(lists) == -(-(SECRETS + 1) // PAGE)  # every page fetched, none twice
    assert all(r.query.get("fieldSelector") == "type=kubernetes.io/tls" and r.query.get("limit") == str(PAGE)
               for r in lists)
    assert "tls.key" not in str(result.details.to_json()) and "PRIVATE KEY" not in str(result.details.to_json())


def test_selected_namespaces_other_types_and_keys(kube_api, tmp_path, certs):
    kube_api.add_secret("team-a", "web", data={"tls.crt": certs[0].cert_pem, "ca.crt": certs[1].cert_pem})
    kube_api.add_secret("team-b", "web", data={"tls.crt": certs[2].cert_pem})
    kube_api.add_secret("team-a", "bundle", type="Opaque", data={"ca.crt": certs[3].cert_pem})
    settings = SecretsSettings(enabled=True, namespaces=("team-a",), types=("kubernetes.io/tls", "Opaque"),
                               keys=("tls.crt", "ca.crt"))
    result = make_collector(config=_config(kube_api, tmp_path), kubeadm=False, secrets=settings).collect()
    locations = sorted(s.labels["location"] for s in samples(result, "watchtower_cert_not_after_timestamp_seconds"))
    assert locations == ["team-a/bundle#ca.crt", "team-a/web#ca.crt", "team-a/web#tls.crt"]
    assert result.errors == ()


def test_forbidden_secrets_do_not_lose_other_sources(kube_api, tmp_path, certs):
    kube_api.add_secret("team-a", "web", data={"tls.crt": certs[0].cert_pem})
    kube_api.forbid("secrets")
    cert_file = tmp_path / "local.crt"
    cert_file.write_bytes(certs[1].cert_pem)
    result = make_collector(config=_config(kube_api, tmp_path), kubeadm=False, paths=(str(cert_file),),
                            secrets=SecretsSettings(enabled=True)).collect()
    assert [(e.reason) for e in result.errors] == ["api_status_403"]
    assert [s.labels["source"] for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")] == ["file"]
    errors = {(s.labels["source"], s.labels["reason"]) for s in samples(result, "watchtower_cert_read_errors")}
    assert errors == {("secret", "api_status_403")}
