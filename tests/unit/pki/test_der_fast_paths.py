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
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench import certdata
from watchtower.pki import CertInfo, IssuerIndex, parse_certificates
from watchtower.pki.checks import _fast_signed_by
from watchtower.pki.der import DerError, basic_constraints_ca, certificate_parts
from watchtower.pki.names import der_name_facts, name_facts

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
        fast = _fast_signed_by(infos[cert], index._issuer(infos[signer]))
        assert fast in (None, expected)


def test_a_tampered_signature_fails_the_fast_path_as_it_fails_cryptography() -> None:
    issuer = _build("ca", "ca", RSA_KEY, RSA_KEY, ca=True)
    leaf = _build("leaf", "ca", EC_KEY, RSA_KEY, ca=False)
    der = bytearray(leaf.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature bits
    tampered = x509.load_der_x509_certificate(bytes(der))
    info, issuer_info = CertInfo.from_x509(tampered), CertInfo.from_x509(issuer)
    index = IssuerIndex()
    assert _fast_signed_by(info, index._issuer(issuer_info)) is False
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
        assert _fast_signed_by(info, index._issuer(info_of[issuer])) is True
        assert index.signed_by(info, info_of[issuer]) is _slow_signed(cert, issuer) is True


def _attr(oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type | None = None) -> x509.NameAttribute:
    return x509.NameAttribute(oid, value, kind) if kind is not None else x509.NameAttribute(oid, value)


NAMES = {
    "plain": [_attr(NameOID.COUNTRY_NAME, "DE"), _attr(NameOID.ORGANIZATION_NAME, "system:masters"),
              _attr(NameOID.COMMON_NAME, "kubernetes-admin")],
    "printable": [_attr(NameOID.COMMON_NAME, "etcd-ca", _ASN1Type.PrintableString)],
    "ia5-dc": [_attr(NameOID.DOMAIN_COMPONENT, "example"), _attr(NameOID.DOMAIN_COMPONENT, "org"),
               _attr(NameOID.USER_ID, "u1")],
    "utf8": [_attr(NameOID.COMMON_NAME, "Zertifizierungsstelle Grüße ☃")],
    "escape-comma": [_attr(NameOID.COMMON_NAME, "a,b")],
    "escape-leading-space": [_attr(NameOID.ORGANIZATION_NAME, " lead")],
    "escape-hash": [_attr(NameOID.COMMON_NAME, "#x")],
    "trailing-space": [_attr(NameOID.COMMON_NAME, "x ")],
    "bmp": [_attr(NameOID.COMMON_NAME, "bmp", _ASN1Type.BMPString)],
    "unknown-oid": [_attr(NameOID.SERIAL_NUMBER, "1234"), _attr(NameOID.COMMON_NAME, "n")],
    "two-cns": [_attr(NameOID.COMMON_NAME, "first"), _attr(NameOID.COMMON_NAME, "second")],
    "empty": [],
    "no-cn": [_attr(NameOID.ORGANIZATION_NAME, "only-o")],
}


@pytest.mark.parametrize("label", list(NAMES))
def test_der_name_facts_equal_cryptography_or_step_aside(label: str) -> None:
    name = x509.Name(NAMES[label])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(EC_KEY.public_key())
            .serial_number(7).not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
            .sign(EC_KEY, hashes.SHA256()))
    parts = certificate_parts(cert.public_bytes(serialization.Encoding.DER))
    slow = name_facts(cert.subject)
    fast = der_name_facts(parts.subject)
    assert fast is None or fast == slow, (label, fast, slow)
    if label in {"plain", "printable", "ia5-dc", "utf8", "two-cns", "empty", "no-cn"}:
        assert fast == slow  # the common shapes take the fast path
    if label in {"escape-comma", "escape-leading-space", "escape-hash", "trailing-space", "bmp", "unknown-oid"}:
        assert fast is None
    multi = x509.Name([x509.RelativeDistinguishedName([_attr(NameOID.ORGANIZATION_NAME, "b"),
                                                       _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "a")])])
    multi_cert = cert = (x509.CertificateBuilder().subject_name(multi).issuer_name(name)
                         .public_key(EC_KEY.public_key()).serial_number(7).not_valid_before(NOW)
                         .not_valid_after(NOW + datetime.timedelta(days=1)).sign(EC_KEY, hashes.SHA256()))
    assert der_name_facts(certificate_parts(multi_cert.public_bytes(serialization.Encoding.DER)).subject) is None
    assert CertInfo.from_x509(multi_cert).subject == name_facts(multi).text


def test_pem_blocks_with_headers_or_odd_base64_are_loaded_by_cryptography_alone() -> None:
    cert = _build("leaf", "ca", EC_KEY, EC_KEY, ca=False)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    crlf = pem.replace(b"\n", b"\r\n")
    assert parse_certificates(crlf).certificates[0].der == cert.public_bytes(serialization.Encoding.DER)
    broken = pem.replace(b"\n", b"\n!", 2)  # a stray character: strict base64 refuses, cryptography judges
    slow_error = None
    try:
        x509.load_pem_x509_certificate(broken)
    except ValueError as exc:
        slow_error = str(exc)
    parsed = parse_certificates(broken)
    if slow_error is None:
        assert parsed.certificates[0].der == cert.public_bytes(serialization.Encoding.DER)
    else:
        assert not parsed.certificates and slow_error[:40] in parsed.errors[0].detail


def test_inline_name_reading_agrees_with_the_general_walk_on_mangled_names() -> None:
    """Every byte of real names changed to a few telling values (lengths, tags, 0x80 long forms):
    the inline reader and the ``_tlv`` walk must give the same answer, None included."""
    from watchtower.pki.names import _name_attributes_walk, name_attributes

    tree = certdata.distinct_tree(40)
    names = []
    for path in certdata.files(tree)[:8]:
        parts = certificate_parts(parse_certificates(path.read_bytes()).certificates[0].der)
        names += [parts.subject, parts.issuer]
    names.append(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x" * 200)]).public_bytes())  # long lengths
    names.append(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "u" * 40)] * 4).public_bytes())
    checked = 0
    for name in names:
        assert name_attributes(name) == _name_attributes_walk(name) is not None
        for index in range(len(name)):
            for byte in (0x00, 0x01, 0x06, 0x0C, 0x13, 0x1F, 0x30, 0x31, 0x7F, 0x80, 0x81, 0xFF,
                         (name[index] + 1) & 0xFF, (name[index] - 1) & 0xFF):
                mangled = name[:index] + bytes([byte]) + name[index + 1:]
                assert name_attributes(mangled) == _name_attributes_walk(mangled), (name.hex(), index, byte)
                checked += 1
        for cut in range(len(name)):
            assert name_attributes(name[:cut]) == _name_attributes_walk(name[:cut])
    assert checked > 5000


def test_signature_layout_noted_at_parse_time_gives_what_a_fresh_walk_gives() -> None:
    tree = certdata.distinct_tree(40)
    for path in certdata.files(tree)[:10]:
        (info,) = parse_certificates(path.read_bytes()).certificates
        assert info._signed is not None
        noted = info.signed_parts()
        parts = certificate_parts(info.der, extensions=False)
        assert noted == (parts.tbs, parts.inner_algorithm, parts.issuer, parts.outer_algorithm, parts.signature)
        object.__setattr__(info, "_signed", None)  # what a run after the parsing one sees
        assert info.signed_parts() == noted
