"""The certs collector's cross-run cache: a warm run reports exactly what a cold one would.

The daemon rescans the same files every interval; unchanged files are taken from the cache by
their stamp (device, inode, size, mtime, ctime). Every test compares a warm collector's result
with a fresh collector's over the same files and the same clock.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tests.support.certs import make_collector, samples
from tests.support.kubeadm_pki import KubeadmPKI, issue, kubeconfig_yaml
from watchtower.collectors.certsources import CertRecord, CheckRecord, ScanCache
from watchtower.collectors.certsources import files as files_module
from watchtower.collectors.certsources.cache import FileReads
from watchtower.core.results import CollectResult
from watchtower.pki import checks as checks_module

NOW = time.time()


def same(warm: CollectResult, cold: CollectResult) -> None:
    assert warm.metrics == cold.metrics
    assert warm.errors == cold.errors
    assert warm.findings == cold.findings
    assert warm.details.to_json() == cold.details.to_json()


@pytest.fixture
def tree(tmp_path: Path) -> tuple[KubeadmPKI, Path]:
    """A kubeadm tree plus a directory of files: bundle, cert with key, broken file, kubeconfig."""
    pki = KubeadmPKI.build(tmp_path / "kubeadm")
    ca = issue("files-ca", is_ca=True)
    leaf = issue("leaf.example.test", ca)
    other = tmp_path / "files"
    other.mkdir()
    (other / "bundle.pem").write_bytes(leaf.cert_pem + ca.cert_pem)
    (other / "leaf.crt").write_bytes(leaf.cert_pem)
    (other / "leaf.key").write_bytes(leaf.key_pem)
    (other / "broken.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n")
    (other / "user.conf").write_text(kubeconfig_yaml("https://198.51.100.10:6443", ca.cert_pem, "user",
                                                     cert_pem=leaf.cert_pem, key_pem_bytes=leaf.key_pem))
    return pki, other


def collector_for(tree: tuple[KubeadmPKI, Path]):  # type: ignore[no-untyped-def]
    pki, other = tree
    return make_collector(pki, now=NOW, paths=(str(other),), kubeconfigs=(str(other / "*.conf"),))


def test_warm_run_equals_cold_run(tree):
    warm = collector_for(tree)
    first = warm.collect()
    assert len(warm.cache) > 10
    same(warm.collect(), first)
    same(warm.collect(), collector_for(tree).collect())


def test_unchanged_files_are_not_parsed_again_and_signatures_not_verified_again(tree, monkeypatch):
    warm = collector_for(tree)
    warm.collect()
    calls = {"parse": 0, "verify": 0}
    parse, verify = files_module.parse_certificates, checks_module._signed_by

    def counting_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["parse"] += 1
        return parse(*args, **kwargs)

    def counting_verify(*args):  # type: ignore[no-untyped-def]
        calls["verify"] += 1
        return verify(*args)

    monkeypatch.setattr(files_module, "parse_certificates", counting_parse)
    monkeypatch.setattr(checks_module, "_signed_by", counting_verify)
    result = warm.collect()
    assert calls == {"parse": 0, "verify": 0}
    assert samples(result, "watchtower_cert_chain_valid")  # chains are still judged, from remembered signatures
    leaf = tree[1] / "leaf.crt"
    mtime = leaf.stat().st_mtime_ns
    leaf.write_bytes(leaf.read_bytes())  # the same content rewritten, with a new mtime
    os.utime(leaf, ns=(mtime, mtime + 1_000_000_000))
    warm.collect()
    assert calls["parse"] == 1


def test_changed_content_gives_the_new_certificate(tree):
    warm = collector_for(tree)
    warm.collect()
    replacement = issue("renewed.example.test")
    leaf = tree[1] / "leaf.crt"
    before = leaf.stat()
    leaf.write_bytes(replacement.cert_pem)
    os.utime(leaf, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the old mtime: ctime moved
    result = warm.collect()
    same(result, collector_for(tree).collect())
    at_leaf = [s for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")
               if s.labels["location"] == str(leaf)]
    assert [s.labels["subject_cn"] for s in at_leaf] == ["renewed.example.test"]
    key_checks = {s.labels["location"]: s.value for s in samples(result, "watchtower_cert_key_matches")}
    assert key_checks[str(leaf)] == 0  # leaf.key no longer matches


def test_deleted_file_is_gone_from_metrics_and_cache(tree):
    warm = collector_for(tree)
    warm.collect()
    entries = len(warm.cache)
    (tree[1] / "bundle.pem").unlink()
    result = warm.collect()
    same(result, collector_for(tree).collect())
    locations = {s.labels["location"] for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}
    assert str(tree[1] / "bundle.pem") not in locations
    assert len(warm.cache) == entries - 1


def test_a_key_file_appearing_or_changing_is_seen(tree):
    other = tree[1]
    (other / "leaf.key").unlink()
    warm = collector_for(tree)
    first = warm.collect()
    assert str(other / "leaf.crt") not in {s.labels["location"] for s in samples(first, "watchtower_cert_key_matches")}
    (other / "leaf.key").write_bytes(issue("unrelated").key_pem)
    result = warm.collect()
    same(result, collector_for(tree).collect())
    assert {s.labels["location"]: s.value for s in samples(result, "watchtower_cert_key_matches")}[
        str(other / "leaf.crt")] == 0


def test_a_referenced_file_changing_refreshes_its_kubeconfig(tmp_path):
    ca = issue("ref-ca", is_ca=True)
    user = issue("ref-user", ca)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "client.crt").write_bytes(user.cert_pem)
    (tmp_path / "client.key").write_bytes(user.key_pem)
    (tmp_path / "ref.conf").write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    certificate-authority: ca.crt\n"
        "    server: https://198.51.100.10:6443\nusers:\n- name: u\n  user:\n    client-certificate: client.crt\n"
        "    client-key: client.key\n")
    warm = make_collector(now=NOW, kubeadm=False, kubeconfigs=(str(tmp_path / "ref.conf"),))
    warm.collect()
    (tmp_path / "client.crt").write_bytes(issue("ref-user-renewed", ca).cert_pem)
    result = warm.collect()
    same(result, make_collector(now=NOW, kubeadm=False, kubeconfigs=(str(tmp_path / "ref.conf"),)).collect())
    assert "ref-user-renewed" in {s.labels["subject_cn"]
                                  for s in samples(result, "watchtower_cert_not_after_timestamp_seconds")}


def test_time_dependent_judgements_are_made_each_run(tmp_path):
    """Urgency and issuer expiry depend on the clock, not on the cache."""
    ca = issue("short-ca", is_ca=True, days=10)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "leaf.crt").write_bytes(issue("leaf", ca, days=5).cert_pem)
    now = [NOW]
    collector = make_collector(kubeadm=False, paths=(str(tmp_path),))
    collector.context = type(collector.context)(config=collector.context.config, kube=collector.context.kube,
                                                clock=lambda: now[0], node_name="cp1")
    assert all(s.value == 1 for s in samples(collector.collect(), "watchtower_cert_chain_valid"))
    now[0] = NOW + 20 * 86400  # the CA has expired
    result = collector.collect()
    chain = {s.labels["location"]: s for s in samples(result, "watchtower_cert_chain_valid")}
    assert chain[str(tmp_path / "leaf.crt")].value == 0
    assert chain[str(tmp_path / "leaf.crt")].labels["reason"] == "issuer_expired"
    assert {r["status"] for r in result.details.to_json()["certificates"]} == {"expired"}


def test_the_cache_holds_no_private_key_material(tree):
    warm = collector_for(tree)
    warm.collect()
    keys = [tree[0].issued[name].key_pem for name in tree[0].issued] + [(tree[1] / "leaf.key").read_bytes()]
    records = [r for entry in warm.cache._entries.values() for r in entry.records]
    assert any(isinstance(r, CheckRecord) and r.check == "key_matches" for r in records)
    for record in records:
        assert isinstance(record, (CertRecord, CheckRecord)) or type(record).__name__ == "ItemError"
        text = repr(record)
        assert "PRIVATE KEY" not in text
        assert not any(key.decode() in text for key in keys)
    assert warm.cache.memo == {}  # PEM blocks are remembered within a run only
    assert all(len(a) == len(b) == 32 for a, b in warm.cache.signatures)


def test_cache_is_bounded_and_results_stay_right_beyond_the_bound(tree):
    warm = collector_for(tree)
    warm.cache = ScanCache(max_entries=3)
    warm.collect()
    assert len(warm.cache) == 3
    same(warm.collect(), collector_for(tree).collect())


def test_special_files_are_never_cached(tmp_path):
    reads = FileReads()
    assert not reads.is_file(str(tmp_path))
    assert not reads.cacheable
    reads = FileReads()
    assert not reads.is_file(str(tmp_path / "missing.key"))
    assert reads.cacheable and reads.stamps[str(tmp_path / "missing.key")] == errno.ENOENT  # absence is a stamp too


def test_series_of_secrets_and_endpoints_are_not_kept_between_runs():
    """Their certificates are new objects every run: keeping them would only hold memory."""
    from watchtower.collectors.certs.accumulate import _Accumulator
    from watchtower.pki import CertInfo, Thresholds, parse_certificates

    cert = parse_certificates(issue("svc.example.test").cert_pem).certificates[0]
    acc = _Accumulator(NOW, Thresholds())
    acc.add("secret", CertRecord("secret", "ns/tls#tls.crt", "tls", cert))
    acc.add("file", CertRecord("file", "/etc/x.crt", "x.crt", cert))
    acc.metrics()
    kept = {key[0]: series for key, series in acc.series.items()}  # what the result holds between runs
    assert isinstance(kept["file"], CertRecord) and kept["file"].cert is cert
    assert isinstance(kept["secret"], tuple) and all(not isinstance(v, CertInfo) for v in kept["secret"])
    assert kept["secret"][0] == "secret" and kept["secret"][7] == cert.serial_hex  # its row's values instead


def test_reads_are_capped_and_sized_by_fstat(tmp_path):
    from watchtower.collectors.certsources.base import ReadFailure, read_capped_stat

    (tmp_path / "empty.crt").write_bytes(b"")
    assert read_capped_stat(str(tmp_path / "empty.crt"))[0] == b""
    data, info = read_capped_stat("/proc/self/status")  # a regular file that reports size 0
    assert info.st_size == 0 and b"Name:" in data
    with pytest.raises(ReadFailure) as failure:
        read_capped_stat(str(tmp_path), max_bytes=1)
    assert failure.value.error.reason == "is_directory"
    (tmp_path / "big.crt").write_bytes(b"x" * 100)
    with pytest.raises(ReadFailure) as failure:
        read_capped_stat(str(tmp_path / "big.crt"), max_bytes=99)
    assert failure.value.error.reason == "too_large"
    assert read_capped_stat(str(tmp_path / "big.crt"), max_bytes=100)[0] == b"x" * 100


def test_an_entry_names_the_key_beside_its_file_without_keeping_that_path(tmp_path):
    """The probed ``NAME.key`` is stored as a marker for "beside the first file"; it is still checked."""
    from watchtower.collectors.certsources.cache import _KEY_BESIDE, _Entry

    crt, key = tmp_path / "a.crt", tmp_path / "a.key"
    crt.write_bytes(issue("beside").cert_pem)
    reads = FileReads()
    reads.read(str(crt))
    assert not reads.is_file(str(key))
    entry = _Entry.of(reads.stamps, (), 1)
    assert entry.stamps[0] == str(crt) and entry.stamps[2] is _KEY_BESIDE and entry.unchanged(None)
    key.write_bytes(b"appeared")
    assert not entry.unchanged(None)
    odd = FileReads()  # a file itself named like a key: its own path stays first and real
    odd.read(str(key))
    assert _Entry.of(odd.stamps, (), 1).stamps[0] == str(key)
