"""The DER fast paths (CA flag, signature check) answer exactly as cryptography does, on varied certificates.

Each case is a real certificate made with cryptography (or openssl-style odd DER built by hand);
the fast answer is compared with the slow one computed the old way in the same test.
"""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench import certdata
from watchtower.pki import CertInfo, IssuerIndex, parse_certificates
from watchtower.pki.checks import _fast_signed_by
from watchtower.pki.der import DerError, basic_constraints_ca, certificate_parts

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
RSA_KEY = rsa.generate_private_key(65537, 2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC384_KEY = ec.generate_private_key(ec.SECP384R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wt"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


SHA256 = hashes.SHA256()


def _build(subject: str, issuer: str, key, signer, *, ca: bool | None, hash_alg=SHA256,
           extra: tuple = (), padding_=None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=30)))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    if padding_ is not None:
        return builder.sign(signer, hash_alg, rsa_padding=padding_)
    return builder.sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey) else hash_alg)


def _slow_is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return False


def _slow_signed(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


SAN = x509.SubjectAlternativeName([x509.DNSName(f"n{i}.example.org") for i in range(40)])
EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


@pytest.mark.parametrize(("ca", "extra"), [
    (True, ()), (False, ()), (None, ()), (True, (SAN, EKU)), (False, (SAN,)), (None, (EKU,)),
])
def test_ca_flag_matches_cryptography(ca: bool | None, extra: tuple) -> None:
    cert = _build("c", "c", RSA_KEY, RSA_KEY, ca=ca, extra=extra)
    info = CertInfo.from_x509(cert)
    assert info.is_ca == _slow_is_ca(cert) == bool(ca)
    assert basic_constraints_ca(certificate_parts(info.der)) == bool(ca)


@pytest.mark.parametrize(("values", "expected"), [
    ((bytes.fromhex("30030101ff"),), True),  # cA TRUE
    ((bytes.fromhex("3000"),), False),  # empty: cA defaults to FALSE
    ((bytes.fromhex("3003020100"),), False),  # only pathLenConstraint
    ((bytes.fromhex("3003010100"),), DerError),  # FALSE written out: not DER, cryptography refuses it
    ((bytes.fromhex("3003010101"),), DerError),  # TRUE that is not 0xFF
    ((bytes.fromhex("30030101ff"), bytes.fromhex("30030101ff")), DerError),  # repeated extension
    ((bytes.fromhex("30040101ff"),), DerError),  # length beyond the value
])
def test_basic_constraints_walk_refuses_what_is_not_plain_der(values: tuple[bytes, ...], expected: object) -> None:
    parts = certificate_parts(_build("c", "c", EC_KEY, EC_KEY, ca=None).public_bytes(serialization.Encoding.DER))
    parts = parts._replace(extensions=tuple((b"\x55\x1d\x13", v) for v in values))
    if expected is DerError:
        with pytest.raises(DerError):
            basic_constraints_ca(parts)
    else:
        assert basic_constraints_ca(parts) is expected


CASES = [
    ("rsa-sha256", RSA_KEY, hashes.SHA256(), None),
    ("rsa-sha384", RSA_KEY, hashes.SHA384(), None),
    ("rsa-sha512", RSA_KEY, hashes.SHA512(), None),
    ("rsa-pss", RSA_KEY, hashes.SHA256(), padding.PSS(padding.MGF1(hashes.SHA256()), 32)),
    ("ec-sha256", EC_KEY, hashes.SHA256(), None),
    ("ec384-sha384", EC384_KEY, hashes.SHA384(), None),
    ("ec-sha512", EC_KEY, hashes.SHA512(), None),
    ("ed25519", ED_KEY, None, None),
]


@pytest.mark.parametrize(("label", "key", "hash_alg", "padding_"), CASES, ids=[c[0] for c in CASES])
def test_signature_fast_path_matches_cryptography(label: str, key, hash_alg, padding_) -> None:
    issuer = _build("ca", "ca", key, key, ca=True, hash_alg=hash_alg, padding_=padding_)
    other = _build("ca", "ca", EC_KEY if key is not EC_KEY else RSA_KEY, EC_KEY if key is not EC_KEY else RSA_KEY,
                   ca=True)
    leaf = _build("leaf", "ca", EC_KEY, key, ca=False, hash_alg=hash_alg, padding_=padding_, extra=(SAN,))
    stranger = _build("leaf", "someone-else", EC_KEY, key, ca=False, hash_alg=hash_alg, padding_=padding_)
    infos = {c: CertInfo.from_x509(c) for c in (issuer, other, leaf, stranger)}
    for cert, signer in ((leaf, issuer), (leaf, other), (issuer, issuer), (stranger, issuer), (issuer, leaf)):
        expected = _slow_signed(cert, signer)
        index = IssuerIndex()
        assert index.signed_by(infos[cert], infos[signer]) is expected, (label, cert.subject, signer.subject)
        fast = _fast_signed_by(infos[cert], *index._issuer(infos[signer]))
        assert fast in (None, expected)


def test_a_tampered_signature_fails_the_fast_path_as_it_fails_cryptography() -> None:
    issuer = _build("ca", "ca", RSA_KEY, RSA_KEY, ca=True)
    leaf = _build("leaf", "ca", EC_KEY, RSA_KEY, ca=False)
    der = bytearray(leaf.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature bits
    tampered = x509.load_der_x509_certificate(bytes(der))
    info, issuer_info = CertInfo.from_x509(tampered), CertInfo.from_x509(issuer)
    index = IssuerIndex()
    assert _fast_signed_by(info, *index._issuer(issuer_info)) is False
    assert index.signed_by(info, issuer_info) is _slow_signed(tampered, issuer) is False


def test_bench_data_facts_match_cryptography() -> None:
    """A slice of the benchmark's realistic certificates: every fast answer equals the slow one."""
    tree = certdata.distinct_tree(40)
    paths = certdata.files(tree)
    certs = [x509.load_pem_x509_certificate(p.read_bytes()) for p in paths]
    infos = [parse_certificates(p.read_bytes()).certificates[0] for p in paths]
    by_subject = {c.subject: c for c in certs[:6]}
    info_of = dict(zip(certs, infos))
    index = IssuerIndex()
    for cert, info in zip(certs, infos):
        assert info.is_ca == _slow_is_ca(cert)
        assert info.fingerprint == cert.fingerprint(hashes.SHA256())
        issuer = by_subject[cert.issuer]
        assert _fast_signed_by(info, *index._issuer(info_of[issuer])) is True
        assert index.signed_by(info, info_of[issuer]) is _slow_signed(cert, issuer) is True
