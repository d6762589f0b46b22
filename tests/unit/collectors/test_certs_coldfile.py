"""The fused cold read of plain certificate files gives exactly what the general path gives.

A directory of every kind of file the walk meets (plain PEM, CRLF PEM, a key beside, bundles,
DER, PKCS#12-named, empty, corrupt, a copy of another file, certificates mutated so that
cryptography rejects or still loads them) is walked twice from a cold cache: once as the
collector does (fused path where it applies) and once with the fused path off. Records, cache
entries (stamps), the run's parse memo and a warm run's reuse must be the same.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.certs import make_collector
from tests.support.kubeadm_pki import issue
from watchtower.collectors.certsources import CertRecord, FileSource, ScanCache
from watchtower.collectors.certsources import coldfile as coldfile_module
from watchtower.collectors.certsources import files as files_module
from watchtower.pki import CertInfo, parse_certificates

NOW = 1_796_000_000.0


def _pem(der: bytes, newline: bytes = b"\n") -> bytes:
    body = base64.b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return newline.join([b"-----BEGIN CERTIFICATE-----", *lines, b"-----END CERTIFICATE-----", b""])


def _tree(root: Path) -> Path:
    rnd = random.Random(1414)
    ca = issue("cold-ca", is_ca=True)
    leaves = [issue(f"leaf-{i}.example.test", ca, sans=[f"leaf-{i}.example.test"]) for i in range(6)]
    d = root / "certs"
    (d / "sub").mkdir(parents=True)
    (d / "a-ca.crt").write_bytes(ca.cert_pem)
    (d / "plain.crt").write_bytes(leaves[0].cert_pem)
    (d / "zcopy.pem").write_bytes(leaves[0].cert_pem)  # the same certificate again: the memo's
    (d / "crlf.crt").write_bytes(_pem(leaves[1].cert.public_bytes(_der()), b"\r\n"))
    (d / "withkey.crt").write_bytes(leaves[2].cert_pem)
    (d / "withkey.key").write_bytes(leaves[2].key_pem)
    (d / "bundle.crt").write_bytes(leaves[3].cert_pem + ca.cert_pem)
    (d / "inline.pem").write_bytes(leaves[3].cert_pem + leaves[3].key_pem)
    (d / "raw.der").write_bytes(leaves[4].cert.public_bytes(_der()))
    (d / "store.p12").write_bytes(leaves[5].cert_pem)  # PKCS#12 by name: the general path's
    (d / "empty.crt").write_bytes(b"")
    (d / "junk.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    (d / "headers.crt").write_bytes(leaves[5].cert_pem.replace(b"-----\n", b"-----\nProc-Type: 4,ENCRYPTED\n\n", 1))
    (d / "sub" / "deep.cer").write_bytes(leaves[5].cert_pem)
    der = leaves[1].cert.public_bytes(_der())
    for n in range(60):  # mutated certificates: cryptography rejects some, loads others
        data = bytearray(der)
        data[rnd.randrange(len(data))] = rnd.randrange(256)
        (d / "sub" / f"mutant-{n:02d}.crt").write_bytes(_pem(bytes(data)))
    os.mkfifo(d / "fifo.crt")
    return d


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


def _scan(directory: Path, cache: ScanCache) -> list[Any]:
    cache.begin_run()
    records = list(FileSource((str(directory),), cache=cache).read())
    memo = dict(cache.memo)
    return [records, memo]


def _facts(cert: CertInfo) -> tuple[Any, ...]:
    return (cert.subject_cn, cert.issuer_cn, cert.serial, cert.not_before, cert.not_after, cert.is_ca, cert.der,
            cert.subject, cert.issuer, cert.subject_key, cert.issuer_key, getattr(cert, "_origin", None),
            getattr(cert, "_signed", None), cert.serial_hex, cert.fingerprint)


def _comparable(scan: list[Any], cache: ScanCache) -> Iterator[Any]:
    records, memo = scan
    for record in records:
        cert = getattr(record, "cert", None)
        yield repr(record), _facts(cert) if cert is not None else None
    yield sorted((der, _facts(cert)) for der, cert in memo.items())
    for key, entry in sorted(cache._entries.items(), key=lambda kv: repr(kv[0])):
        yield repr(key), entry.stamps, [repr(r) for r in entry.records], entry.run


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return _tree(tmp_path)


def test_the_fused_read_equals_the_general_path(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    real = coldfile_module.cold_record

    def spy(cache: ScanCache, key: Any, *args: Any) -> Any:
        record = real(cache, key, *args)
        if record is not None:
            taken.append(os.path.basename(key[0]))
        return record

    monkeypatch.setattr(files_module, "cold_record", spy)
    fused_cache = ScanCache()
    fused = list(_comparable(_scan(tree, fused_cache), fused_cache))
    monkeypatch.setattr(files_module, "cold_record", lambda *args: None)
    general_cache = ScanCache()
    general = list(_comparable(_scan(tree, general_cache), general_cache))
    assert fused == general
    # the usual files took the fused path; the rest stepped aside
    assert {"a-ca.crt", "plain.crt", "crlf.crt", "deep.cer", "zcopy.pem"} <= set(taken)
    assert not {"withkey.crt", "bundle.crt", "inline.pem", "raw.der", "store.p12", "empty.crt",
                "junk.crt", "headers.crt", "fifo.crt"} & set(taken)
    assert any(name.startswith("mutant-") for name in taken)  # loadable mutants too


def test_a_certificate_met_again_is_the_same_object_either_way(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for cold in (coldfile_module.cold_record, lambda *args: None):
        monkeypatch.setattr(files_module, "cold_record", cold)
        records = {os.path.basename(r.location): r for r in _scan(tree, ScanCache())[0] if hasattr(r, "cert")}
        assert records["zcopy.pem"].cert is records["plain.crt"].cert
        assert records["a-ca.crt"].cert is records["bundle.crt"].cert  # the bundle's last block: the CA


def test_a_warm_run_reuses_what_the_fused_read_cached(tree: Path) -> None:
    collector = make_collector(now=NOW, kubeadm=False, paths=(str(tree),))
    cold = collector.collect()
    entries = dict(collector.cache._entries)
    warm = collector.collect()
    assert all(collector.cache._entries[k] is e for k, e in entries.items())  # reused, not made again
    assert warm.metrics == cold.metrics and warm.errors == cold.errors and warm.findings == cold.findings
    assert warm.details.to_json() == cold.details.to_json()
    off = make_collector(now=NOW, kubeadm=False, paths=(str(tree),))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files_module, "cold_record", lambda *args: None)
        general = off.collect()
    assert general.metrics == cold.metrics and general.errors == cold.errors and general.findings == cold.findings
    assert general.details.to_json() == cold.details.to_json()


def test_a_key_appearing_beside_a_fused_file_is_seen(tree: Path) -> None:
    collector = make_collector(now=NOW, kubeadm=False, paths=(str(tree),))
    collector.collect()
    (tree / "plain.key").write_bytes(issue("other").key_pem)
    result = collector.collect()
    assert any(c.check == "key_matches" and not c.ok and c.labels["location"].endswith("plain.crt")
               for c in result.details.checks)


@pytest.mark.parametrize("name", ["a.crt", ".crt", "..crt", ".a.crt", "a.b.crt", "a..crt", "..a.pem", "tls.CRT",
                                  "ca.pem.crt"])
def test_the_key_beside_is_named_as_splitext_names_it(tmp_path: Path, name: str) -> None:
    """A listing holding ``splitext(name)[0] + ".key"`` sends the file to the general path (its key is
    checked there); any other key name leaves it to the fused read."""
    path = tmp_path / name
    path.write_bytes(issue("odd-name").cert_pem)
    key_name = os.path.splitext(name)[0] + ".key"

    def fused(siblings: frozenset[str]) -> object:
        return coldfile_module.cold_record(ScanCache(), (str(path), None), name, name.lower(), "file", 1 << 20, siblings)

    assert fused(frozenset([key_name])) is None
    assert fused(frozenset(["other.key"])) is not None
    assert fused(frozenset()) is not None


def test_a_cert_record_is_what_the_generated_init_would_make() -> None:
    """``CertRecord`` sets its slots in a hand-written ``__init__``: same fields in the same order,
    and the record equal, hashed, shown and frozen as the dataclass's own ``__init__`` makes it."""
    fields = [field.name for field in dataclasses.fields(CertRecord)]
    assert list(inspect.signature(CertRecord.__init__).parameters)[1:] == fields
    generated = dataclasses.make_dataclass("CertRecord", fields, frozen=True, slots=True)
    cert = parse_certificates(issue("record").cert_pem).certificates[0]
    values = ("file", "/etc/a.crt", "a.crt", cert)
    record, reference = CertRecord(*values), generated(*values)
    assert [getattr(record, name) for name in fields] == list(values)
    assert repr(record) == repr(reference) and hash(record) == hash(reference)
    assert record == CertRecord(*values) and record != CertRecord("secret", *values[1:])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "b.crt"  # type: ignore[misc]
    assert not hasattr(record, "__dict__")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _long_listings(root: Path) -> Path:
    """Three nested directories, each listing enough files for the walk to open it (``_directory_fd``)."""
    pem = issue("fd-walk").cert_pem
    d = root / "fds"
    for depth in range(3):
        d.mkdir(parents=True)
        for n in range(files_module._DIRECTORY_FD_ENTRIES + 2):
            (d / f"c-{n:02d}.crt").write_bytes(pem)
        d = d / "z-below"
    return root / "fds"


def test_files_of_a_long_listing_are_opened_relative_to_its_directory(tree: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``sub`` lists 61 entries (an fd), the top 15 (paths); the fused-vs-general test above walks both."""
    given: dict[str, list[int | None]] = {}
    real = coldfile_module.cold_record

    def spy(*args: Any) -> Any:
        given.setdefault(os.path.basename(os.path.dirname(args[1][0])), []).append(args[7])
        return real(*args)

    monkeypatch.setattr(files_module, "cold_record", spy)
    _scan(tree, ScanCache())
    assert given["certs"] and set(given["certs"]) == {None}
    assert given["sub"] and all(isinstance(fd, int) for fd in given["sub"]) and len(set(given["sub"])) == 1


def test_directory_fds_are_closed_however_the_walk_ends(tmp_path: Path) -> None:
    root = _long_listings(tmp_path)
    before = _open_fds()
    records = list(FileSource((str(root),), cache=ScanCache()).read())
    assert len(records) == 1 + 3 * (files_module._DIRECTORY_FD_ENTRIES + 2) and _open_fds() == before

    walk = FileSource((str(root),), cache=ScanCache()).read()
    for _ in range(1 + 2 * (files_module._DIRECTORY_FD_ENTRIES + 2) + 1):  # into the third directory
        next(walk)
    assert len(_open_fds() - before) == 3  # all three directories are open while the walk is in them
    walk.close()  # the consumer stopped (an error on its side, a deadline)
    assert _open_fds() == before

    walk = FileSource((str(root),), cache=ScanCache()).read()
    for _ in range(5):
        next(walk)
    assert _open_fds() != before
    with pytest.raises(RuntimeError):
        walk.throw(RuntimeError("raised where the walk yielded"))
    assert _open_fds() == before

    walk = FileSource((str(root),), cache=ScanCache()).read()
    for _ in range(5):
        next(walk)
    del walk  # dropped unfinished
    assert _open_fds() == before


def test_a_directory_that_will_not_open_is_read_by_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _long_listings(tmp_path)

    def scanned() -> list[Any]:
        cache = ScanCache()
        return list(_comparable(_scan(root, cache), cache))

    expected = scanned()
    real_open = os.open

    def no_directories(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_DIRECTORY:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_directories)
    before = _open_fds()
    assert scanned() == expected and _open_fds() == before
