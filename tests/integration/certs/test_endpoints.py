"""TLS endpoints on loopback: whole chains, verified, and reported even when verification fails."""

from __future__ import annotations

import datetime
import json
import time

import pytest

from tests.support.certs import check_certs, make_collector, samples
from tests.support.kubeadm_pki import KubeadmPKI, issue, utcnow
from tests.support.services import free_port
from tests.support.tls_servers import SilentServer, TLSServer
from watchtower.collectors.certs.settings import EndpointSettings
from watchtower.core.results import Severity


@pytest.fixture(scope="module")
def pki():
    root = issue("endpoint-root-ca", is_ca=True, days=3650)
    inter = issue("endpoint-intermediate-ca", root, is_ca=True, days=1825)
    good = issue("good.example.test", inter, server=True, sans=["good.example.test", "127.0.0.1"])
    expired = issue("expired.example.test", inter, server=True, sans=["127.0.0.1"],
                    not_before=utcnow() - datetime.timedelta(days=400), not_after=utcnow() - datetime.timedelta(days=1))
    return {"root": root, "inter": inter, "good": good, "expired": expired}


def _chain(result):
    return {s.labels["location"]: s for s in samples(result, "watchtower_cert_chain_valid")}


def test_good_missing_intermediate_expired_wrong_host(tmp_path, pki):
    ca_file = tmp_path / "root.pem"
    ca_file.write_bytes(pki["root"].cert_pem)
    inter = pki["inter"].cert_pem
    with TLSServer(tmp_path, pki["good"].cert_pem + inter, pki["good"].key_pem, "good") as good, \
         TLSServer(tmp_path, pki["good"].cert_pem, pki["good"].key_pem, "nointer") as nointer, \
         TLSServer(tmp_path, pki["expired"].cert_pem + inter, pki["expired"].key_pem, "expired") as expired:
        endpoints = (
            EndpointSettings(good.address, "good.example.test", str(ca_file)),
            EndpointSettings(nointer.address, "good.example.test", str(ca_file)),
            EndpointSettings(expired.address, None, str(ca_file)),
            EndpointSettings(f"localhost:{good.port}", "wrong.example.test", str(ca_file)),
        )
        result = make_collector(kubeadm=False, endpoints=endpoints, endpoint_timeout=5).collect()
    assert result.errors == ()
    chain = _chain(result)
    assert chain[good.address].value == 1 and chain[good.address].labels["reason"] == ""
    assert (chain[nointer.address].value, chain[nointer.address].labels["reason"]) == (0, "issuer_unknown")
    assert (chain[expired.address].value, chain[expired.address].labels["reason"]) == (0, "expired")
    wrong = chain[f"localhost:{good.port}"]
    assert (wrong.value, wrong.labels["reason"]) == (0, "hostname_mismatch")
    after = samples(result, "watchtower_cert_not_after_timestamp_seconds")
    at_good = sorted((s.labels["name"], s.labels["subject_cn"]) for s in after if s.labels["location"] == good.address)
    assert at_good == [("good.example.test", "good.example.test"), ("good.example.test chain[1]", "endpoint-intermediate-ca")]
    (exp,) = [s for s in after if s.labels["location"] == expired.address and s.labels["is_ca"] == "false"]
    assert exp.value == pki["expired"].cert.not_valid_after_utc.timestamp()  # metrics despite the failed handshake
    severities = {f.subject: f.severity for f in result.findings}
    assert severities[nointer.address] == Severity.CRITICAL
    assert any(expired.address in s and v == Severity.CRITICAL for s, v in severities.items())


def test_silent_and_refused_endpoints_are_bounded_errors(tmp_path, pki):
    refused = f"127.0.0.1:{free_port()}"
    with SilentServer() as silent1, SilentServer() as silent2, \
         TLSServer(tmp_path, pki["good"].cert_pem, pki["good"].key_pem) as good:
        start = time.monotonic()
        result = make_collector(kubeadm=False, endpoints=(silent1.address, silent2.address, refused, good.address),
                                endpoint_timeout=1, endpoint_concurrency=4).collect()
        took = time.monotonic() - start
    assert took < 3.5  # two 1 s timeouts in parallel, not in series, and nothing hangs
    assert {(e.location, e.reason) for e in result.errors} == {
        (silent1.address, "timeout"), (silent2.address, "timeout"), (refused, "connect_error")}
    locations = {s.labels["location"] for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}
    assert locations == {good.address}
    errors = {(s.labels["source"], s.labels["reason"]): s.value for s in samples(result, "watchtower_cert_read_errors")}
    assert errors == {("endpoint", "timeout"): 2, ("endpoint", "connect_error"): 1}


def test_served_certificate_versus_disk(tmp_path):
    tree = KubeadmPKI.build(tmp_path / "node")
    apiserver = tree.issued["apiserver"]
    stale = issue("kube-apiserver", tree.issued["ca"], key=apiserver.key, server=True, days=30,
                  sans=["127.0.0.1"])  # the certificate before `kubeadm certs renew`: same key
    with TLSServer(tmp_path / "fresh", apiserver.cert_pem, apiserver.key_pem) as fresh, \
         TLSServer(tmp_path / "stale", stale.cert_pem, apiserver.key_pem) as old:
        result = make_collector(tree, apiserver_endpoints=(fresh.address, old.address)).collect()
    served = {s.labels["endpoint"]: s for s in samples(result, "watchtower_cert_served_matches_disk")}
    assert served[fresh.address].value == 1
    assert served[old.address].value == 0
    assert served[old.address].labels["served_serial"] == f"{stale.cert.serial_number:X}".rjust(
        len(served[old.address].labels["served_serial"]), "0")
    assert served[old.address].labels["disk_serial"] == served[fresh.address].labels["served_serial"]
    assert any(f.subject == f"apiserver {old.address}" and f.severity == Severity.WARNING for f in result.findings)


def test_check_certs_endpoint_cli(tmp_path, pki):
    ca_file = tmp_path / "root.pem"
    ca_file.write_bytes(pki["root"].cert_pem)
    with TLSServer(tmp_path, pki["expired"].cert_pem + pki["inter"].cert_pem, pki["expired"].key_pem) as server:
        done = check_certs("--endpoint", server.address, "--ca-file", str(ca_file), "--output", "json", "--timeout", "3")
    doc = json.loads(done.stdout)
    assert done.returncode == 2
    assert [c["subject_cn"] for c in doc["certificates"]] == ["expired.example.test", "endpoint-intermediate-ca"]
    (chain,) = [c for c in doc["checks"] if c["check"] == "chain_valid"]
    assert (chain["ok"], chain["reason"]) == (False, "expired")


def test_without_ca_file_the_system_store_decides(tmp_path, pki):
    lone = issue("127.0.0.1", server=True, sans=["127.0.0.1"])  # self-signed, in no system store
    with TLSServer(tmp_path / "lone", lone.cert_pem, lone.key_pem) as selfsigned, \
         TLSServer(tmp_path / "private", pki["good"].cert_pem + pki["inter"].cert_pem, pki["good"].key_pem) as private:
        result = make_collector(kubeadm=False, endpoints=(selfsigned.address, private.address)).collect()
    chain = _chain(result)
    assert (chain[selfsigned.address].value, chain[selfsigned.address].labels["reason"]) == (0, "self_signed")
    assert (chain[private.address].value, chain[private.address].labels["reason"]) == (0, "issuer_unknown")
