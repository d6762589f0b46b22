"""Realistic certificate data for the certs benchmarks, generated once and cached on disk.

``distinct_tree(count)`` is a directory of ``count`` distinct leaf certificates (half RSA-2048,
half EC P-256; kubeadm/cert-manager-like subjects, 2–5 DNS SANs and an IP SAN, server and
client EKUs, key usage, SKI/AKI, lifetimes from 90 days to 2 years, a few expiring soon and a few
expired) under ``leaves/NNN/``, and their CAs under ``ca/``: an RSA and an EC root, each with two
intermediates that sign the leaves. Every leaf therefore chains to a root in the same tree.

Generating 10,000 certificates takes tens of seconds (signing and building are Python code);
the result is kept under the temporary directory, keyed by a version and the count, and reused
by later runs (``WATCHTOWER_BENCH_CERTDATA`` overrides the parent directory). A half-written
tree is never used: it is built beside the final path and renamed into place.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VERSION = 2  # 2: leaves' validity starts differ to the second, as certificates issued one by one do
RSA_LEAF_KEYS = 24  # RSA key generation is slow; leaves share a pool of keys (the certificates stay distinct)
_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)  # fixed: data are the same every time
PER_DIR = 1000


def data_root() -> Path:
    return Path(os.environ.get("WATCHTOWER_BENCH_CERTDATA") or tempfile.gettempdir())


def _name(cn: str, org: str | None = None, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")]
    if org:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(name: x509.Name, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, issuer: x509.Name,
        signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, serial: int, path_length: int | None) -> x509.Certificate:
    public = key.public_key()
    issuer_public = signer.public_key()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(public)
            .serial_number(serial).not_valid_before(_EPOCH - datetime.timedelta(days=400))
            .not_valid_after(_EPOCH + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
            .sign(signer, hashes.SHA256()))


def _leaf(i: int, key_public: object, issuer: x509.Certificate,
          signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    namespace = f"team-{i % 97}"
    service = f"svc-{i:05d}"
    lifetime = (90, 365, 397, 730)[i % 4]
    if i % 101 == 0:
        start = _EPOCH - datetime.timedelta(days=lifetime + 3)  # expired
    elif i % 53 == 0:
        start = _EPOCH - datetime.timedelta(days=lifetime - 5)  # expiring within days
    else:
        start = _EPOCH - datetime.timedelta(days=(i * 7) % max(lifetime // 2, 1))
    start += datetime.timedelta(seconds=(i * 7919) % 86_400)  # issued one by one: no two share a Validity
    dns = [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", f"{service}.example.org"]
    dns += [f"alt{n}-{service}.example.org" for n in range(i % 3)]
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans.append(x509.IPAddress(ipaddress.ip_address(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")))
    builder = (x509.CertificateBuilder()
               .subject_name(_name(f"{service}.{namespace}.svc", org=namespace if i % 2 else "system:nodes"))
               .issuer_name(issuer.subject).public_key(key_public)  # type: ignore[arg-type]
               .serial_number(((i + 1) << 64) | 0x5EED).not_valid_before(start)
               .not_valid_after(start + datetime.timedelta(days=lifetime))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=isinstance(signer, rsa.RSAPrivateKey),
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                              critical=False)
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                   issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False))
    return builder.sign(signer, hashes.SHA256())


def _generate(base: Path, count: int) -> None:
    rsa_root_key = rsa.generate_private_key(65537, 2048)
    ec_root_key = ec.generate_private_key(ec.SECP384R1())
    rsa_root_name, ec_root_name = _name("bench-root-rsa", "bench"), _name("bench-root-ec", "bench")
    rsa_root = _ca(rsa_root_name, rsa_root_key, rsa_root_name, rsa_root_key, 1, 1)
    ec_root = _ca(ec_root_name, ec_root_key, ec_root_name, ec_root_key, 2, 1)
    issuers: list[tuple[x509.Certificate, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, bool]] = []
    cas = [rsa_root, ec_root]
    for n in range(2):
        rsa_key = rsa.generate_private_key(65537, 2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        rsa_int = _ca(_name(f"bench-intermediate-rsa-{n}", "bench", "pki"), rsa_key, rsa_root_name, rsa_root_key,
                      10 + n, 0)
        ec_int = _ca(_name(f"bench-intermediate-ec-{n}", "bench", "pki"), ec_key, ec_root_name, ec_root_key, 20 + n, 0)
        issuers += [(rsa_int, rsa_key, True), (ec_int, ec_key, False)]
        cas += [rsa_int, ec_int]
    (base / "ca").mkdir()
    for n, cert in enumerate(cas):
        (base / "ca" / f"ca-{n}.crt").write_bytes(_pem(cert))
    rsa_pool = [rsa.generate_private_key(65537, 2048).public_key() for _ in range(RSA_LEAF_KEYS)]
    for i in range(count):
        issuer, signer, is_rsa = issuers[i % len(issuers)]
        public = rsa_pool[i % RSA_LEAF_KEYS] if is_rsa else ec.generate_private_key(ec.SECP256R1()).public_key()
        directory = base / "leaves" / f"{i // PER_DIR:03d}"
        if i % PER_DIR == 0:
            directory.mkdir(parents=True)
        (directory / f"leaf-{i:05d}.crt").write_bytes(_pem(_leaf(i, public, issuer, signer)))


def distinct_tree(count: int) -> Path:
    """The cached tree for ``count`` leaves (made on first use): ``ca/*.crt`` and ``leaves/NNN/*.crt``."""
    final = data_root() / f"wt-bench-certdata-v{VERSION}-{count}"
    if (final / "complete").exists():
        return final
    building = Path(tempfile.mkdtemp(prefix=f"{final.name}.building-", dir=final.parent))
    try:
        _generate(building, count)
        (building / "complete").write_text(f"{count}\n")
        try:
            building.rename(final)
        except OSError:  # another run finished first, or a stale half-tree: use a complete one
            if not (final / "complete").exists():
                shutil.rmtree(final, ignore_errors=True)
                building.rename(final)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return final


def files(tree: Path) -> list[Path]:
    """Every certificate file of a tree, CAs first, in a stable order."""
    return sorted((tree / "ca").glob("*.crt")) + sorted((tree / "leaves").glob("*/*.crt"))
