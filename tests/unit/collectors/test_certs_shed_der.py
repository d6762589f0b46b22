"""Certificates kept between runs let their DER go and read it back from their file when a check needs it.

A daemon keeps thousands of certificates between runs; the DER is most of each one's bytes and
is needed again only when something new must be verified (a rotated issuer). These tests change
what needs verifying under a warm collector and compare with a fresh one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.certs import make_collector, samples
from tests.support.kubeadm_pki import issue
from watchtower.collectors.certsources import CertRecord
from watchtower.collectors.certsources import files as files_module
from watchtower.core.results import CollectResult
from watchtower.pki import IssuerIndex, model, parse_certificates

NOW = time.time()


def same(warm: CollectResult, cold: CollectResult) -> None:
    assert warm.metrics == cold.metrics
    assert warm.findings == cold.findings
    assert warm.details.to_json() == cold.details.to_json()


def chain(result: CollectResult, location: Path) -> tuple[float, str]:
    found = {s.labels["location"]: s for s in samples(result, "watchtower_cert_chain_valid")}
    return found[str(location)].value, found[str(location)].labels["reason"]


def test_a_kept_leaf_has_no_der_and_reads_it_back_for_a_rotated_issuer(tmp_path, monkeypatch):
    ca = issue("rotating-ca", is_ca=True)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "leaf.crt").write_bytes(issue("leaf.example.test", ca).cert_pem)
    warm = make_collector(now=NOW, kubeadm=False, paths=(str(tmp_path),))
    assert chain(warm.collect(), tmp_path / "leaf.crt") == (1.0, "")
    kept = [r.cert for e in warm.cache._entries.values() for r in e.records if isinstance(r, CertRecord)]
    assert {c.subject_cn: c._der is None for c in kept} == {"leaf.example.test": True, "rotating-ca": False}

    reads = []
    read_back = files_module.read_back_der
    monkeypatch.setattr(model, "DER_LOADER", lambda *a: reads.append(a[0]) or read_back(*a))
    rotated = issue("rotating-ca", is_ca=True)  # the same name, another key: the leaf must be checked again
    before = (tmp_path / "ca.crt").stat()
    (tmp_path / "ca.crt").write_bytes(rotated.cert_pem)
    os.utime(tmp_path / "ca.crt", ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    result = warm.collect()
    assert reads == [str(tmp_path / "leaf.crt")]
    assert chain(result, tmp_path / "leaf.crt") == (0.0, "bad_signature")
    same(result, make_collector(now=NOW, kubeadm=False, paths=(str(tmp_path),)).collect())


@pytest.mark.parametrize("loader", [None, lambda path, fingerprint: None])
def test_a_certificate_its_file_no_longer_holds_is_cannot_tell_and_not_remembered(tmp_path, monkeypatch, loader):
    """The file changed during the run that needs the DER: no verdict now (the next run reads the new file)."""
    ca = issue("gone-ca", is_ca=True)
    (leaf,) = parse_certificates(issue("gone-leaf", ca).cert_pem).certificates
    (issuer,) = parse_certificates(ca.cert_pem).certificates
    leaf.note_origin(str(tmp_path / "leaf.crt"))
    assert leaf.shed() and leaf._der is None
    monkeypatch.setattr(model, "DER_LOADER", loader)
    with pytest.raises(model.DerUnavailable):
        _ = leaf.der
    signatures: dict[tuple[bytes, bytes], bool | None] = {}
    index = IssuerIndex([issuer], signatures=signatures)
    assert index.signature(leaf, issuer) is None
    assert signatures == {}


def test_only_certificates_that_can_be_read_back_let_their_der_go():
    (cert,) = parse_certificates(issue("nowhere").cert_pem).certificates
    assert not cert.shed() and cert._der is not None  # no file to read it back from
    cert.note_origin("/first/file.crt")
    cert.note_origin("/second/file.crt")
    assert cert._origin == "/first/file.crt"
