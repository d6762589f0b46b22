"""Parsing every format from bytes, and a reason for every kind of bad input."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from tests.support.kubeadm_pki import issue
from watchtower.pki import CertInfo, kubeconfig_entries, load_kubeconfig, parse_certificates, serial_hex
from watchtower.pki.model import ParseError


@pytest.fixture(scope="module")
def chain():
    root = issue("root-ca", is_ca=True, days=3650)
    inter = issue("intermediate-ca", root, is_ca=True, days=1000)
    leaf = issue("leaf.example.test", inter, server=True, sans=["leaf.example.test", "198.51.100.7"], days=90)
    return root, inter, leaf


def test_pem_bundle_keeps_order_and_fields(chain):
    root, inter, leaf = chain
    parsed = parse_certificates(leaf.cert_pem + inter.cert_pem + root.cert_pem)
    assert [c.subject_cn for c in parsed.certificates] == ["leaf.example.test", "intermediate-ca", "root-ca"]
    first = parsed.certificates[0]
    assert first.issuer_cn == "intermediate-ca"
    assert first.serial == leaf.cert.serial_number
    assert first.not_after == leaf.cert.not_valid_after_utc.timestamp()
    assert not first.is_ca and parsed.certificates[1].is_ca
    assert first.dns_names == ("leaf.example.test",)
    assert [str(a) for a in first.ip_addresses] == ["198.51.100.7"]
    assert first.fingerprint_sha256 == leaf.cert.fingerprint(hashes.SHA256()).hex()
    assert parsed.errors == ()


def test_key_blocks_are_noted_not_errors(chain):
    _, _, leaf = chain
    only_key = parse_certificates(leaf.key_pem)
    assert only_key.certificates == () and only_key.errors == () and only_key.has_private_key
    both = parse_certificates(leaf.cert_pem + leaf.key_pem)
    assert len(both.certificates) == 1 and both.has_private_key


def test_der_pkcs7_and_pkcs12(chain):
    root, inter, leaf = chain
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    assert parse_certificates(der).certificates[0].serial == leaf.cert.serial_number
    p7 = pkcs7.serialize_certificates([leaf.cert, inter.cert], serialization.Encoding.DER)
    assert {c.subject_cn for c in parse_certificates(p7).certificates} == {"leaf.example.test", "intermediate-ca"}
    p7pem = pkcs7.serialize_certificates([root.cert], serialization.Encoding.PEM)
    assert parse_certificates(p7pem).certificates[0].subject_cn == "root-ca"
    p12 = pkcs12.serialize_key_and_certificates(
        b"leaf", leaf.key, leaf.cert, [inter.cert], serialization.BestAvailableEncryption(b"s3cret"))
    got = parse_certificates(p12, passphrase=b"s3cret", name_hint="leaf.p12")
    assert [c.subject_cn for c in got.certificates] == ["leaf.example.test", "intermediate-ca"]
    sniffed = parse_certificates(p12, passphrase=b"s3cret")  # no .p12 name: sniffed from the DER
    assert len(sniffed.certificates) == 2
    wrong = parse_certificates(p12, passphrase=b"nope", name_hint="leaf.p12")
    assert [e.reason for e in wrong.errors] == ["pkcs12_wrong_passphrase"]
    assert "nope" not in str(wrong.errors[0]) and "s3cret" not in str(wrong.errors[0])
    assert [e.reason for e in parse_certificates(p12).errors] == ["pkcs12_passphrase_required"]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"hello, this is not a certificate\n", "not_certificate"),
    (bytes(range(256)) * 4, "not_certificate"),
    (b"-----BEGIN CERTIFICATE-----\nMIIBxjCCAW2gAwIBAgIU\n", "truncated"),
    (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "invalid_pem"),
    (b"\x30\x82\x05\x00\x01\x02", "truncated"),
    (b"\x30\x03\x02\x01\x05", "invalid_der"),
])
def test_bad_input_reasons(data, reason):
    parsed = parse_certificates(data)
    assert parsed.certificates == ()
    assert [e.reason for e in parsed.errors] == [reason]


def test_good_block_survives_a_bad_one(chain):
    _, _, leaf = chain
    broken = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    parsed = parse_certificates(broken + leaf.cert_pem + b"-----BEGIN CERTIFICATE-----\nMIIB")
    assert len(parsed.certificates) == 1
    assert sorted(e.reason for e in parsed.errors) == ["invalid_pem", "truncated"]


def test_serial_hex_matches_openssl_spelling():
    assert serial_hex(1) == "01"
    assert serial_hex(0xABC) == "0ABC"
    assert serial_hex(0x1F2E) == "1F2E"


def test_kubeconfig_entries_embedded_file_and_bad_base64(chain):
    root, _, leaf = chain
    doc = load_kubeconfig(f"""
clusters:
- name: a
  cluster: {{certificate-authority-data: {base64.b64encode(root.cert_pem).decode()}, server: https://x}}
- name: b
  cluster: {{certificate-authority: ca.crt}}
users:
- name: alice
  user: {{client-certificate-data: {base64.b64encode(leaf.cert_pem).decode()}, client-key-data: {base64.b64encode(leaf.key_pem).decode()}}}
- name: bob
  user: {{client-certificate-data: "!!!not-base64"}}
- name: carol
  user: {{client-certificate: ../carol.crt, client-key: ../carol.key}}
- name: token-only
  user: {{token: abc}}
""")
    entries = {e.fragment: e for e in kubeconfig_entries(doc)}
    assert set(entries) == {"#cluster:a", "#cluster:b", "#user:alice", "#user:bob", "#user:carol"}
    assert parse_certificates(entries["#cluster:a"].data).certificates[0].subject_cn == "root-ca"
    assert entries["#cluster:b"].file == "ca.crt"
    assert entries["#user:alice"].key_data == leaf.key_pem
    assert "PRIVATE KEY" not in repr(entries["#user:alice"])  # key material stays out of reprs
    assert entries["#user:bob"].error.reason == "invalid_base64"
    assert entries["#user:carol"].file == "../carol.crt" and entries["#user:carol"].key_file == "../carol.key"


def test_kubeconfig_invalid_yaml_and_shape():
    with pytest.raises(ParseError) as info:
        load_kubeconfig("clusters: [\n  - {")
    assert info.value.reason == "invalid_yaml"
    with pytest.raises(ParseError):
        kubeconfig_entries(["not", "a", "mapping"])


def test_certinfo_is_frozen(chain):
    info = CertInfo.from_x509(chain[2].cert)
    with pytest.raises(AttributeError):
        info.serial = 5  # type: ignore[misc]


def test_pem_with_crlf_comments_and_other_blocks(chain):
    root, _, leaf = chain
    text = (b"subject=CN=leaf (openssl x509 -text style preamble)\r\n" + leaf.cert_pem.replace(b"\n", b"\r\n")
            + b"\r\n# a comment between blocks\r\n" + root.cert_pem
            + b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    parsed = parse_certificates(text)
    assert [c.subject_cn for c in parsed.certificates] == ["leaf.example.test", "root-ca"]
    assert parsed.errors == () and parsed.other_blocks == ("CERTIFICATE REQUEST",)


def test_begin_line_without_closing_dashes_is_truncated():
    parsed = parse_certificates(b"-----BEGIN CERTIFICATE\nMIIB")
    assert [e.reason for e in parsed.errors] == ["truncated"]


@pytest.mark.parametrize("attributes", [
    [("O", "system:masters"), ("CN", "kubernetes-admin")],
    [("CN", "a,b+c;d<e>f")], [("CN", "#leading hash")], [("CN", " leading space")], [("CN", "trailing ")],
    [("CN", 'quote" and \\ backslash')], [("C", "DE"), ("ST", "Berlin"), ("L", "Berlin"), ("OU", "ops"), ("CN", "ü")],
    [("EMAIL", "ops@example.test"), ("SERIALNUMBER", "42"), ("DC", "example"), ("UID", "u1")],
])
def test_distinguished_name_matches_rfc4514_string(attributes):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from watchtower.pki.names import distinguished_name

    oids = {"O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME, "C": NameOID.COUNTRY_NAME,
            "ST": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "EMAIL": NameOID.EMAIL_ADDRESS, "SERIALNUMBER": NameOID.SERIAL_NUMBER, "DC": NameOID.DOMAIN_COMPONENT,
            "UID": NameOID.USER_ID}
    name = x509.Name([x509.NameAttribute(oids[k], v) for k, v in attributes])
    assert distinguished_name(name) == name.rfc4514_string()


def test_certificate_with_duplicate_extensions_is_still_reported():
    """cryptography refuses `.extensions` of such a certificate; its dates still matter."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from tests.support.kubeadm_pki import new_key

    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(0x0DD).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x30\x03\x01\x01\xff"),
                              critical=False))
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    patched = der.replace(b"\x06\x03\x2a\x03\x04", b"\x06\x03\x55\x1d\x13")  # 1.2.3.4 → basicConstraints again
    assert patched != der
    parsed = parse_certificates(patched)
    (cert,) = parsed.certificates
    assert (cert.subject_cn, cert.serial, cert.is_ca) == ("odd", 0x0DD, False)
    assert cert.not_after == (start + datetime.timedelta(days=30)).timestamp()
    assert cert.dns_names == ()
