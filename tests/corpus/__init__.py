"""A corpus of odd certificate inputs, each with the result ``watchtower check certs`` must give.

``build(directory)`` writes every input (with the ``openssl`` CLI where only it can make the
thing — SHA-1/MD5 signatures, v1 certificates, serial 0 — and with cryptography otherwise) and
returns the cases. A case names the command-line arguments, the exit status (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN), the JSON ``status``, and what else must be true of the JSON document
(``expect``: a predicate with a description). Dates are relative to now, so the corpus never
rots; the files are made fresh in a temporary directory for every run.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from tests.support.kubeadm_pki import Issued, issue, kubeconfig_yaml, utcnow
from tests.support.services import require_binary

Doc = dict[str, Any]
EXIT_BY_STATUS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


@dataclasses.dataclass(frozen=True)
class Case:
    """One odd input: ``args`` for ``check certs``, the exit status and status it must give."""

    name: str
    why: str  # the expected result in words
    args: tuple[str, ...]
    status: str  # ok | warning | critical | unknown
    expect: tuple[tuple[str, Callable[[Doc], bool]], ...] = ()

    @property
    def exit(self) -> int:
        return EXIT_BY_STATUS[self.status]

    def problems(self, doc: Doc) -> list[str]:
        """What the JSON document gets wrong about this case; empty when it is right."""
        out = [] if doc.get("status") == self.status else [f"status {doc.get('status')!r}, expected {self.status!r}"]
        out += [f"not true: {text}" for text, check in self.expect if not check(doc)]
        return out


# ----------------------------------------------------------------- predicates on the JSON document

def certs(n: int) -> tuple[str, Callable[[Doc], bool]]:
    return f"{n} certificate row(s)", lambda d: len(d["certificates"]) == n


def reason(token: str) -> tuple[str, Callable[[Doc], bool]]:
    """Some input (or error) is unknown for ``token``."""
    return (f"an input or error with reason {token}",
            lambda d: any(i["reason"] == token for i in d["inputs"]) or any(e["reason"] == token for e in d["errors"]))


def finding(text: str, severity: str) -> tuple[str, Callable[[Doc], bool]]:
    return (f"a {severity} finding mentioning {text!r}",
            lambda d: any(f["severity"] == severity and text in f["message"] for f in d["findings"]))


def no_findings() -> tuple[str, Callable[[Doc], bool]]:
    return "no findings", lambda d: not d["findings"]


def no_errors() -> tuple[str, Callable[[Doc], bool]]:
    return "no errors", lambda d: not d["errors"]


def row(pred: Callable[[Doc], bool], text: str) -> tuple[str, Callable[[Doc], bool]]:
    return text, lambda d: any(pred(r) for r in d["certificates"])


def every_row(pred: Callable[[Doc], bool], text: str) -> tuple[str, Callable[[Doc], bool]]:
    return text, lambda d: bool(d["certificates"]) and all(pred(r) for r in d["certificates"])


def note(text: str) -> tuple[str, Callable[[Doc], bool]]:
    return f"a note saying {text!r}", lambda d: any(text in n["message"] for n in d["notes"])


# ----------------------------------------------------------------- makers

def openssl(*args: str, cwd: Path | None = None) -> None:
    done = subprocess.run([require_binary("openssl"), *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr}")


def pem(item: Issued) -> bytes:
    return item.cert_pem


def der(item: Issued) -> bytes:
    return item.cert.public_bytes(serialization.Encoding.DER)


def _openssl_root(work: Path, name: str, digest: str, days: int = 365, serial: str | None = None) -> Path:
    """A self-signed RSA root made by ``openssl req -x509`` with the given digest (sha1, md5, ...)."""
    out = work / f"{name}.pem"
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(work / f"{name}.key"), "-out", str(out),
            "-days", str(days), "-subj", f"/CN={name}", f"-{digest}"]
    if serial is not None:
        args += ["-set_serial", serial]
    openssl(*args)
    return out


def _openssl_leaf(work: Path, name: str, ca: Path, ca_key: Path, digest: str, *, v1: bool = False,
                  days: int = 365) -> Path:
    """A leaf signed by ``ca`` with ``openssl x509 -req`` (no extensions → an X.509 v1 certificate)."""
    csr, key, out = work / f"{name}.csr", work / f"{name}.key", work / f"{name}.pem"
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
            "-subj", f"/CN={name}.example.test")
    args = ["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-out", str(out),
            "-days", str(days), f"-{digest}", "-set_serial", "10"]
    if not v1:
        ext = work / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:leaf.example.test\n")
        args += ["-extfile", str(ext)]
    openssl(*args)
    return out


def build(directory: Path) -> list[Case]:
    """Write the corpus into ``directory`` and return its cases (paths are absolute)."""
    d = directory
    work = d / "_work"
    work.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    root = issue("corpus-root", is_ca=True, days=3650)
    other_root = issue("corpus-root", is_ca=True, days=3650)  # same name, other key
    leaf = issue("leaf.example.test", root, days=365, server=True, sans=["leaf.example.test"])
    cases: list[Case] = []

    def add(name: str, why: str, args: Sequence[str | Path], status: str, *expect: tuple[str, Callable[[Doc], bool]]) -> None:
        cases.append(Case(name, why, tuple(str(a) for a in args), status, tuple(expect)))

    def write(name: str, data: bytes | str) -> Path:
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    # --- bundles
    p = write("bundle-duplicates.pem", pem(leaf) + pem(leaf) + pem(root) + pem(root))
    add("bundle with duplicates", "a duplicate certificate is not an error: each reported once, OK",
        [p], "ok", certs(2), no_errors(), no_findings())
    add("the same file named twice", "a duplicate input is not an error: both inputs OK, one row per certificate",
        [p, p], "ok", certs(2), no_errors(), ("both inputs ok", lambda doc: [i["status"] for i in doc["inputs"]] ==
                                                ["ok", "ok"]))
    p = write("bundle-one-corrupt.pem", pem(leaf) + b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
              b"-----END CERTIFICATE-----\n" + pem(root))
    add("bundle with one corrupt block", "the good certificates are reported, the bad block makes it UNKNOWN",
        [p], "unknown", certs(2), reason("invalid_pem"))
    p = write("crlf.pem", pem(leaf).replace(b"\n", b"\r\n") + pem(root).replace(b"\n", b"\r\n"))
    add("CRLF line endings", "Windows line endings read like any PEM: OK", [p], "ok", certs(2), no_errors())
    p = write("x509-tag.pem", pem(root).replace(b"BEGIN CERTIFICATE", b"BEGIN X509 CERTIFICATE")
              .replace(b"END CERTIFICATE", b"END X509 CERTIFICATE"))
    add("old X509 CERTIFICATE tag", "the pre-RFC 7468 tag is a certificate: OK", [p], "ok", certs(1))
    openssl("x509", "-in", str(write("plain-root.pem", pem(root))), "-addtrust", "serverAuth", "-trustout",
            "-out", str(d / "trusted.pem"))
    add("OpenSSL TRUSTED CERTIFICATE", "openssl's -trustout form (certificate + trust settings) is read: OK",
        [d / "trusted.pem"], "ok", certs(1), no_errors())
    p = write("bom-and-text.pem", b"\xef\xbb\xbfSubject: CN=leaf\nIssuer: CN=corpus-root\n" + pem(leaf))
    add("UTF-8 BOM and text before the PEM", "explanatory text around a PEM block (openssl x509 -text): OK",
        [p], "ok", certs(1), no_errors())
    p = write("chain.p7b", pkcs7.serialize_certificates([leaf.cert, root.cert], serialization.Encoding.PEM))
    add("PKCS#7 bundle", "both certificates of a .p7b: OK", [p], "ok", certs(2), no_errors())
    p = write("truncated.pem", pem(leaf)[:-40])
    add("PEM without END line", "a truncated PEM block is UNKNOWN (truncated)", [p], "unknown", reason("truncated"))

    # --- keys, CSRs, nothing
    p = write("key-only.pem", leaf.key_pem)
    add("key-only PEM", "a private key holds no certificate: UNKNOWN, no_certificate", [p], "unknown",
        certs(0), reason("no_certificate"))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            str(work / "csr.key"), "-out", str(d / "request.csr.pem"), "-subj", "/CN=csr")
    add("CSR only", "a certificate request is not a certificate: UNKNOWN", [d / "request.csr.pem"], "unknown",
        certs(0), reason("no_certificate"))
    p = write("empty.pem", b"")
    add("empty file", "an empty file is UNKNOWN (empty)", [p], "unknown", reason("empty"))
    p = write("notes.txt", "just some text\n")
    add("text file named explicitly", "text without a PEM block: UNKNOWN (not_certificate)", [p], "unknown",
        reason("not_certificate"))
    add("missing file", "a path that does not exist: UNKNOWN (not_found)", [d / "does-not-exist.pem"], "unknown",
        reason("not_found"))
    add("glob matching nothing", "a glob that matches nothing: UNKNOWN (not_found)", [d / "nothing-here" / "*.pem"],
        "unknown", reason("not_found"))
    (d / "empty-dir").mkdir()
    add("empty directory", "a directory with no certificate: UNKNOWN (no_certificate)", [d / "empty-dir"], "unknown",
        reason("no_certificate"))
    write("keys-dir/tls.key", leaf.key_pem)
    write("keys-dir/README", "keys only\n")
    add("directory of keys", "keys are skipped quietly, but no certificate at all is UNKNOWN", [d / "keys-dir"],
        "unknown", reason("no_certificate"))
    os.symlink(d / "gone.pem", d / "dangling.pem")
    add("dangling symlink", "a symlink to nothing: UNKNOWN (not_found)", [d / "dangling.pem"], "unknown",
        reason("not_found"))

    # --- serials and versions (openssl makes what cryptography refuses to)
    s0 = _openssl_root(work, "serial-zero", "sha256", serial="0")
    add("serial 0", "serial 0 (old roots have it) is read, no Python warning: OK", [s0], "ok", certs(1),
        row(lambda r: r["serial"] == "00", "serial shown as 00"))
    neg = _openssl_root(work, "serial-negative", "sha256", serial="-5")
    add("negative serial", "a negative serial is read and shown as openssl does: OK", [neg], "ok",
        row(lambda r: r["serial"] == "-05", "serial shown as -05"))
    v1_ca = _openssl_root(work, "v1-ca", "sha256", days=3650)
    v1 = _openssl_leaf(work, "v1-leaf", v1_ca, work / "v1-ca.key", "sha256", v1=True, days=300)
    p = write("v1-bundle.pem", v1.read_bytes() + v1_ca.read_bytes())
    assert x509.load_pem_x509_certificate(v1.read_bytes()).version is x509.Version.v1
    add("X.509 v1 certificate", "a v1 leaf (no extensions) with its CA: chain verifies, OK", [p], "ok", certs(2),
        no_findings())

    # --- signature algorithms the library cannot verify
    sha1_root = _openssl_root(work, "sha1-root", "sha1")
    add("SHA-1 self-signed root", "a trust anchor's own SHA-1 signature is not judged: OK, no finding", [sha1_root],
        "ok", no_findings())
    md5_root = _openssl_root(work, "md5-root", "md5")
    add("MD5 self-signed root", "likewise for MD5: OK, no finding", [md5_root], "ok", no_findings())
    sha256_ca = _openssl_root(work, "legacy-ca", "sha256", days=3650)
    sha1_leaf = _openssl_leaf(work, "sha1-leaf", sha256_ca, work / "legacy-ca.key", "sha1", days=300)
    p = write("sha1-leaf-bundle.pem", sha1_leaf.read_bytes() + sha256_ca.read_bytes())
    assert x509.load_pem_x509_certificate(sha1_leaf.read_bytes()).signature_hash_algorithm.name == "sha1"
    add("SHA-1-signed leaf", "cannot be verified here: a WARNING naming unsupported_signature_algorithm, never "
        "critical; its row says so", [p], "warning", finding("unsupported_signature_algorithm", "warning"),
        row(lambda r: r["severity"] == "warning" and r["problems"], "the leaf's row is WARNING with the problem"))
    md5_leaf = _openssl_leaf(work, "md5-leaf", sha256_ca, work / "legacy-ca.key", "md5", days=300)
    p = write("md5-leaf-bundle.pem", md5_leaf.read_bytes() + sha256_ca.read_bytes())
    add("MD5-signed leaf", "likewise: WARNING, not critical", [p], "warning",
        finding("unsupported_signature_algorithm", "warning"))
    p = write("forged-leaf-bundle.pem", pem(issue("forged.example.test", other_root)) + pem(root))
    add("leaf signed by a different key of the same name", "a real bad signature stays CRITICAL (bad_signature)",
        [p], "critical", finding("bad_signature", "critical"),
        row(lambda r: r["severity"] == "critical", "the leaf's row is CRITICAL"))

    # --- dates
    expired = issue("expired.example.test", root, not_after=now - datetime.timedelta(days=2), days=365)
    p = write("expired.pem", pem(expired))
    add("expired certificate", "expired: CRITICAL, the finding says expired", [p], "critical",
        finding("expired", "critical"), row(lambda r: r["status"] == "expired", "row status expired"))
    soon = issue("soon.example.test", root, not_after=now + datetime.timedelta(days=20), days=365)
    p = write("expiring-soon.pem", pem(soon))
    add("expires in 20 days", "a one-year certificate with 20 days left: WARNING", [p], "warning",
        finding("expires in", "warning"))
    future = issue("future.example.test", root, not_before=now + datetime.timedelta(days=3), days=365)
    p = write("not-yet-valid.pem", pem(future))
    add("not yet valid", "valid only in 3 days: CRITICAL", [p], "critical", finding("not valid until", "critical"))
    expired_root = issue("expired-root", is_ca=True, not_after=now - datetime.timedelta(days=30), days=3650)
    p = write("expired-root.pem", pem(expired_root))
    add("expired self-signed root", "an expired root is expired, whatever signs it: CRITICAL", [p], "critical",
        finding("expired", "critical"))

    # --- sizes and shapes
    many = issue("many-sans.example.test", root, sans=[f"host-{i}.example.test" for i in range(3000)])
    p = write("huge-san.pem", pem(many))
    add("3000 SANs", "a huge SAN list is just a certificate: OK", [p], "ok", certs(1), no_errors())
    p = write("leaf.der", der(leaf))
    add("DER certificate", "binary DER: OK", [p], "ok", certs(1))
    p = write("trailing.der", der(leaf) + b"\x00\x01trailing garbage")
    add("DER with trailing bytes", "the certificate is read as openssl x509 -inform DER reads it: OK", [p], "ok",
        certs(1))
    p = write("truncated.der", der(leaf)[:200])
    add("truncated DER", "DER shorter than it announces: UNKNOWN (truncated)", [p], "unknown", reason("truncated"))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
              "stringData": {"tls.crt": pem(leaf).decode(), "tls.key": "(elided)"}}
    p = write("secret-with-pem.yaml", yaml.safe_dump(secret, default_style="|"))
    add("PEM inside YAML", "an indented PEM block in a manifest, named explicitly: the certificate, OK", [p], "ok",
        certs(1))

    # --- PKCS#12
    enc = serialization.BestAvailableEncryption(b"s3cret-pass")
    p = write("with-pass.p12", pkcs12.serialize_key_and_certificates(b"tls", leaf.key, leaf.cert, [root.cert], enc))
    (work / "pass.txt").write_text("s3cret-pass\n")
    add("PKCS#12 with passphrase given", "decrypted with --passphrase-file: OK, key matches", [p, "--passphrase-file",
        work / "pass.txt"], "ok", certs(2))
    add("PKCS#12 without its passphrase", "cannot be decrypted: UNKNOWN (pkcs12_passphrase_required)", [p],
        "unknown", reason("pkcs12_passphrase_required"))
    (work / "wrong.txt").write_text("nope\n")
    add("PKCS#12 with a wrong passphrase", "UNKNOWN (pkcs12_wrong_passphrase)", [p, "--passphrase-file",
        work / "wrong.txt"], "unknown", reason("pkcs12_wrong_passphrase"))
    p = write("no-pass.p12", pkcs12.serialize_key_and_certificates(b"tls", leaf.key, leaf.cert, None,
                                                                   serialization.NoEncryption()))
    add("PKCS#12 without a passphrase", "an unencrypted .p12: OK", [p], "ok", certs(1))

    # --- kubeconfigs
    client = issue("kubernetes-admin", root, client=True)
    good = kubeconfig_yaml("https://198.51.100.10:6443", pem(root), "admin", cert_pem=pem(client),
                           key_pem_bytes=client.key_pem)
    p = write("kube/good.conf", good)
    add("kubeconfig named explicitly", "its CA and client certificate: OK", [p], "ok", certs(2), no_errors())
    bad = yaml.safe_load(good)
    bad["users"][0]["user"]["client-certificate-data"] = "this is ~not~ base64!"
    p = write("kube/bad-base64.conf", yaml.safe_dump(bad))
    add("kubeconfig with bad base64", "the CA is reported, the broken client certificate makes it UNKNOWN",
        [p], "unknown", reason("invalid_base64"), certs(1))
    missing = kubeconfig_yaml("https://198.51.100.10:6443", pem(root), "kubelet", cert_file="pki/gone.pem",
                              key_file="pki/gone.pem")
    p = write("kube/missing-file.conf", missing)
    add("kubeconfig referencing a missing file", "the referenced certificate cannot be read: UNKNOWN (not_found)",
        [p], "unknown", reason("not_found"))
    token = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": {
        "server": "https://198.51.100.10:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    p = write("kube/token-only.conf", yaml.safe_dump(token))
    add("kubeconfig without certificates", "token auth, no CA: holds no certificate, UNKNOWN", [p], "unknown",
        reason("no_certificate"))
    p = write("kube/not-yaml.conf", "clusters: [unclosed\n  - : :\n")
    add("kubeconfig that is not YAML", "UNKNOWN (invalid_yaml), the position named", [p], "unknown",
        reason("invalid_yaml"))

    # --- directory scans find kubeconfigs by content
    kroot = d / "etc-kubernetes"
    (kroot / "pki").mkdir(parents=True)
    (kroot / "pki" / "ca.crt").write_bytes(pem(root))
    (kroot / "pki" / "ca.key").write_bytes(root.key_pem)
    for conf in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        user = issue(conf.removesuffix(".conf"), root, client=True)
        (kroot / conf).write_text(kubeconfig_yaml("https://198.51.100.10:6443", pem(root), conf, cert_pem=pem(user),
                                                  key_pem_bytes=user.key_pem))
    (kroot / "manifests").mkdir()
    (kroot / "manifests" / "kube-apiserver.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    (kroot / "nginx.conf").write_text("events {}\nhttp { server { listen 80; } }\n")
    kubeconfig_rows = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf")
    add("kubeadm-shaped directory", "the four kubeconfigs' client certificates are found by content, a manifest "
        "and an nginx.conf are skipped quietly, and the kubeadm-root hint is given: OK", [kroot], "ok",
        ("every kubeconfig's client certificate is listed",
         lambda doc: all(any(r["location"].startswith(str(kroot / k)) and not r["is_ca"]
                             for r in doc["certificates"]) for k in kubeconfig_rows)),
        no_errors(), note("looks like a kubeadm root"))
    add("a directory and a file inside it", "overlapping inputs are each judged by what they hold: OK",
        [kroot, kroot / "pki" / "ca.crt"], "ok", no_errors(),
        ("both inputs ok", lambda doc: [i["status"] for i in doc["inputs"]] == ["ok", "ok"]))
    kdir = d / "kubeconfig-dir"
    kdir.mkdir()
    (kdir / "config").write_text(good)
    (kdir / "team.kubeconfig").write_text(good)
    (kdir / "values.yaml").write_text("replicas: 3\nimage: nginx\n")
    add("kubeconfigs named config and *.kubeconfig", "found by content in a directory scan: OK", [kdir], "ok",
        ("both kubeconfigs' client certificates are listed",
         lambda doc: {os.path.basename(r["location"].split("#")[0]) for r in doc["certificates"]}
         >= {"config", "team.kubeconfig"}), no_errors())
    return cases


def endpoint_cases(unreachable: str, plain_tcp: str, silent: str) -> list[Case]:
    """Endpoints that cannot give a certificate: each UNKNOWN within its timeout, the reason named."""
    return [
        Case("endpoint refusing connections", "nothing listens: UNKNOWN (connection refused)",
             ("--endpoint", unreachable, "--timeout", "2s"), "unknown", (reason_any(),)),
        Case("endpoint that is not TLS", "a plain-text server: UNKNOWN", ("--endpoint", plain_tcp, "--timeout", "2s"),
             "unknown", (reason_any(),)),
        Case("endpoint that never answers", "accepts TCP, never speaks: UNKNOWN (timeout) after 1s",
             ("--endpoint", silent, "--timeout", "1s"), "unknown", (reason("timeout"),)),
    ]


def reason_any() -> tuple[str, Callable[[Doc], bool]]:
    return "the input is unknown with a reason", lambda d: any(i["status"] == "unknown" and i["reason"]
                                                              for i in d["inputs"])


__all__ = ["Case", "build", "endpoint_cases"]
