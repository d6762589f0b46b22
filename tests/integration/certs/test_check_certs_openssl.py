"""`watchtower check certs` on openssl-made certificates: dates and serials exactly as openssl says,
every broken file reported with its reason, the rest still reported, exit 2 when one is expired."""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path

import pytest

from tests.support.certs import check_certs
from tests.support.openssl_certs import OpenSSLCA, openssl, openssl_facts

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def openssl_dir(tmp_path_factory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("openssl")
    certs = base / "certs"
    certs.mkdir()
    ca = OpenSSLCA(base)
    made: dict[str, Path] = {}
    made["valid"] = ca.issue(certs / "valid.pem", "valid.example.test", days=365, serial=0x7F)
    made["short"] = ca.issue(certs / "short.crt", "short-lived", days=90, serial=0x0123456789ABCDEF0123)
    made["expired"] = ca.issue(certs / "expired.pem", "expired.example.test",
                               start=NOW - datetime.timedelta(days=400), end=NOW - datetime.timedelta(days=2))
    made["future"] = ca.issue(certs / "future.pem", "future.example.test",
                              start=NOW + datetime.timedelta(days=5), end=NOW + datetime.timedelta(days=400))
    # the key openssl wrote for valid.pem, next to it under the name kubeadm would use
    (certs / "valid.key").write_bytes((ca.work / "valid.pem.key").read_bytes())
    # DER, PKCS#7 and PKCS#12 renderings of the same 90-day certificate
    openssl("x509", "-in", str(made["short"]), "-outform", "DER", "-out", str(certs / "short.der"))
    openssl("crl2pkcs7", "-nocrl", "-certfile", str(made["valid"]), "-certfile", str(ca.cert),
            "-out", str(certs / "bundle.p7b"))
    (base / "p12pass").write_text("correct horse\n")
    openssl("pkcs12", "-export", "-in", str(made["valid"]), "-inkey", str(ca.work / "valid.pem.key"),
            "-passout", "pass:correct horse", "-out", str(certs / "valid.p12"))
    openssl("pkcs12", "-export", "-in", str(made["short"]), "-inkey", str(ca.work / "short.crt.key"),
            "-passout", "pass:another one", "-out", str(certs / "other-pass.p12"))
    (certs / "ca-bundle.pem").write_bytes(ca.cert.read_bytes() + made["valid"].read_bytes())
    # bad input, one of each kind
    valid_pem = made["valid"].read_bytes()
    (certs / "truncated.pem").write_bytes(valid_pem[: len(valid_pem) // 2])
    (certs / "garbage.crt").write_text("this is not a certificate at all\n")
    (certs / "empty.crt").write_bytes(b"")
    (certs / "binary.der").write_bytes(os.urandom(2048).replace(b"\x30", b"\x31"))
    with open(certs / "huge.pem", "wb") as handle:  # sparse: 100 MB without writing 100 MB
        handle.truncate(100 * 1024 * 1024)
    (certs / "loop-a.pem").symlink_to("loop-b.pem")
    (certs / "loop-b.pem").symlink_to("loop-a.pem")
    (certs / "subdir").mkdir()
    (certs / "subdir" / "back-up").symlink_to("..")  # a directory loop
    (certs / "README.txt").write_text("not a certificate name: skipped quietly in a directory walk\n")
    (certs / "server.key").write_bytes((ca.work / "short.crt.key").read_bytes())  # a key alone: skipped quietly
    return {"base": base, "certs": certs, "ca": ca, "made": made}


@pytest.fixture(scope="module")
def report(openssl_dir) -> tuple[dict, int]:
    done = check_certs(str(openssl_dir["certs"]), "--passphrase-file", str(openssl_dir["base"] / "p12pass"),
                       "--output", "json")
    assert done.stderr == ""
    return json.loads(done.stdout), done.returncode


def _by_location(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for cert in doc["certificates"]:
        out.setdefault(cert["location"], []).append(cert)
    return out


def test_dates_and_serials_exactly_as_openssl(openssl_dir, report):
    doc, _ = report
    certs = openssl_dir["certs"]
    found = _by_location(doc)
    for name in ("valid.pem", "short.crt", "expired.pem", "future.pem"):
        not_after, serial = openssl_facts(certs / name)
        (entry,) = found[str(certs / name)]
        assert entry["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert entry["serial"] == serial
    der_after, der_serial = openssl_facts(certs / "short.der", inform="DER")
    (der,) = found[str(certs / "short.der")]
    assert (der["not_after"], der["serial"]) == (der_after.strftime("%Y-%m-%dT%H:%M:%SZ"), der_serial)
    assert {c["subject_cn"] for c in found[str(certs / "bundle.p7b")]} == {"valid.example.test", "openssl-test-ca"}
    assert [c["serial"] for c in found[str(certs / "valid.p12")]] == [openssl_facts(certs / "valid.pem")[1]]
    assert len(found[str(certs / "ca-bundle.pem")]) == 2
    for entry in doc["certificates"]:
        assert set(entry) >= {"location", "subject", "issuer", "serial", "not_before", "not_after"}
        datetime.datetime.fromisoformat(entry["not_before"])


def test_each_broken_file_has_its_reason(openssl_dir, report):
    doc, _ = report
    certs = openssl_dir["certs"]
    reasons = {e["location"]: e["reason"] for e in doc["errors"]}
    assert reasons == {
        str(certs / "truncated.pem"): "truncated",
        str(certs / "garbage.crt"): "not_certificate",
        str(certs / "empty.crt"): "empty",
        str(certs / "binary.der"): "not_certificate",
        str(certs / "huge.pem"): "too_large",
        str(certs / "loop-a.pem"): "symlink_loop",
        str(certs / "loop-b.pem"): "symlink_loop",
        str(certs / "subdir" / "back-up"): "symlink_loop",
        str(certs / "other-pass.p12"): "pkcs12_wrong_passphrase",
    }
    assert all(set(e) >= {"location", "reason"} for e in doc["errors"])
    assert "correct horse" not in json.dumps(doc) and "another one" not in json.dumps(doc)


def test_statuses_and_exit_code(openssl_dir, report):
    doc, code = report
    certs = openssl_dir["certs"]
    status = {c["location"]: c["status"] for c in doc["certificates"]}
    assert status[str(certs / "expired.pem")] == "expired"
    assert status[str(certs / "future.pem")] == "not_yet_valid"
    assert status[str(certs / "valid.pem")] == "ok"
    assert code == 2
    keys = [c for c in doc["checks"] if c["check"] == "key_matches"]
    assert {(c["location"], c["ok"]) for c in keys} >= {(str(certs / "valid.pem"), True), (str(certs / "valid.p12"), True)}


def test_exit_codes_follow_the_worst_certificate(openssl_dir, tmp_path):
    ca: OpenSSLCA = openssl_dir["ca"]
    fine = ca.issue(tmp_path / "fine.pem", "fine", days=365)
    assert check_certs(str(fine)).returncode == 0
    warn = ca.issue(tmp_path / "warn.pem", "warn", start=NOW - datetime.timedelta(days=340),
                    end=NOW + datetime.timedelta(days=25))
    done = check_certs(str(warn))
    assert done.returncode == 1, done.stdout
    assert "WARNING" in done.stdout and "warn.pem" in done.stdout
    crit = ca.issue(tmp_path / "crit.pem", "crit", start=NOW - datetime.timedelta(days=360),
                    end=NOW + datetime.timedelta(days=3))
    assert check_certs(str(fine), str(crit)).returncode == 2


def test_table_output_lists_every_certificate(openssl_dir):
    done = check_certs(str(openssl_dir["made"]["valid"]), str(openssl_dir["made"]["expired"]))
    assert done.returncode == 2
    header, *rows = done.stdout.splitlines()
    assert header.split()[:2] == ["CERTIFICATE", "EXPIRES"]
    assert any("expired.pem" in r and "<expired>" in r and "EXPIRED" in r for r in rows)
    assert "\033[" not in done.stdout  # not a terminal: no colour


def test_unreadable_file_is_reported_and_the_rest_kept(openssl_dir):
    scratch = Path(tempfile.mkdtemp(prefix="wt-certs-perm-"))
    try:
        scratch.chmod(0o755)
        readable = scratch / "readable.pem"
        readable.write_bytes(openssl_dir["made"]["valid"].read_bytes())
        readable.chmod(0o644)
        secret = scratch / "unreadable.pem"
        secret.write_bytes(openssl_dir["made"]["valid"].read_bytes())
        secret.chmod(0o000)
        done = check_certs(str(scratch), "--output", "json", without_dac_override=True)
        doc = json.loads(done.stdout)
        assert [(e["location"], e["reason"]) for e in doc["errors"]] == [(str(secret), "permission_denied")]
        assert [c["location"] for c in doc["certificates"]] == [str(readable)]
    finally:
        for child in scratch.iterdir():
            child.unlink()
        scratch.rmdir()


def test_no_arguments_is_a_usage_error():
    done = check_certs()
    assert done.returncode == 2
    assert "PATH" in done.stderr
