"""The one-pass reading of the usual certificate (``der.loaded_parts``, ``names.plain_name_text``) answers
exactly as the general walk, or steps aside (``loaded_parts`` on what cryptography loads, its input): on real certificates (the benchmark's, Debian's store),
on certificates built with odd shapes (long names, long lengths, negative and zero serials, unique IDs),
and on byte mutations and truncations of all of them. ``CertInfo.from_x509`` is then the same value,
slot for slot, whether the one-pass route or the general one read it.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import hashlib
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from bench import certdata
from watchtower.pki import CertInfo, model, parse_certificates, serial_hex
from watchtower.pki.der import DerError, _tlv, certificate_parts, loaded_parts, surely_not_ca
from watchtower.pki.names import der_name_text, plain_name_text

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def _attr(oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type | None = None) -> x509.NameAttribute:
    return x509.NameAttribute(oid, value) if kind is None else x509.NameAttribute(oid, value, _type=kind)


ODD_NAMES = [
    [_attr(NameOID.COUNTRY_NAME, "DE"), _attr(NameOID.ORGANIZATION_NAME, "o" * 150), _attr(NameOID.COMMON_NAME, "cn")],
    [_attr(NameOID.COMMON_NAME, "a,b")], [_attr(NameOID.COMMON_NAME, "a+b", _ASN1Type.PrintableString)],
    [_attr(NameOID.COMMON_NAME, " lead")], [_attr(NameOID.COMMON_NAME, "trail ")], [_attr(NameOID.COMMON_NAME, "#h")],
    [_attr(NameOID.COMMON_NAME, "ü-utf8")], [_attr(NameOID.COMMON_NAME, "bmp", _ASN1Type.BMPString)],
    [_attr(NameOID.DOMAIN_COMPONENT, "example"), _attr(NameOID.USER_ID, "u1")],
    [_attr(NameOID.COMMON_NAME, "ia5 name", _ASN1Type.IA5String)], [_attr(NameOID.SERIAL_NUMBER, "42")],
    [_attr(NameOID.COMMON_NAME, "x" * 64)], [_attr(NameOID.COMMON_NAME, "semi;colon<>")],
    [_attr(NameOID.ORGANIZATION_NAME, "first"), _attr(NameOID.COMMON_NAME, "one"), _attr(NameOID.COMMON_NAME, "two")],
    [_attr(NameOID.COMMON_NAME, "sys:nodes/a=b?(c)'d", _ASN1Type.PrintableString)], [],
]


def _built() -> list[bytes]:
    """Certificates with odd names, serials and sizes (a SAN list long enough for 0x82 lengths)."""
    out = []
    for number, attributes in enumerate(ODD_NAMES):
        name = x509.Name(attributes)
        serial = [1, 0x7F, 0x80, 0xFF00, 2**159 - 1, 0][number % 6]
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(x509.Name(ODD_NAMES[0]))
                   .public_key(KEY.public_key()).serial_number(serial or 1).not_valid_before(NOW)
                   .not_valid_after(NOW + datetime.timedelta(days=number + 1)))
        if number % 3 == 0:
            sans = [x509.DNSName(f"host-{i}.example.org") for i in range(number * 40 + 1)]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        out.append(builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    small = ed25519.Ed25519PrivateKey.generate()  # small enough for short and 0x81 lengths of the TBS and the whole
    for size in (1, 8, 40, 90, 130):
        attributes = [_attr(NameOID.COMMON_NAME, "s" * min(size, 64))]
        name = x509.Name(attributes + [_attr(NameOID.ORGANIZATION_NAME, "o" * (size - 64))] if size > 64 else attributes)
        out.append(x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(small.public_key())
                   .serial_number(size).not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
                   .sign(small, None).public_bytes(serialization.Encoding.DER))
    return out


def _ders() -> list[bytes]:
    paths = [str(p) for p in certdata.files(certdata.distinct_tree(40))][:30] + sorted(glob.glob("/etc/ssl/certs/*.pem"))[:80]
    return [c.der for p in paths for c in parse_certificates(open(p, "rb").read()).certificates] + _built()


def _general(der: bytes) -> tuple[object, ...] | None:
    try:
        parts = certificate_parts(der, extensions=False)
    except DerError:
        return None
    return (parts.tbs_start, parts.tbs_end, parts.signature_start, parts.inner_algorithm, parts.issuer, parts.subject,
            parts.outer_algorithm)


def _serial_validity_after_key(der: bytes, tbs_start: int) -> tuple[bytes, bytes, int]:
    """The serial INTEGER's content, the whole Validity and the end of the key, found with ``_tlv``:
    after the TBS header and the optional version, then the signature algorithm and the issuer."""
    _, pos, end = _tlv(der, tbs_start, len(der))
    tag, content, field_end = _tlv(der, pos, end)
    if tag == 0xA0:
        tag, content, field_end = _tlv(der, field_end, end)
    assert tag == 0x02
    serial = der[content:field_end]
    for _ in range(2):
        _, _, field_end = _tlv(der, field_end, end)
    _, _, validity_end = _tlv(der, field_end, end)
    _, _, subject_end = _tlv(der, validity_end, end)
    _, _, key_end = _tlv(der, subject_end, end)
    return serial, der[field_end:validity_end], key_end


def _mutations(der: bytes, rnd: random.Random, count: int) -> list[bytes]:
    """Single bytes changed to telling values (tags, long-form lengths), mostly in the headers up front."""
    out = [der[:cut] for cut in sorted({rnd.randrange(len(der)) for _ in range(8)})]
    for _ in range(count):
        data = bytearray(der)
        index = rnd.randrange(min(len(data), 200)) if rnd.random() < 0.7 else rnd.randrange(len(data))
        data[index] = rnd.choice([0x00, 0x01, 0x02, 0x03, 0x30, 0x31, 0x7F, 0x80, 0x81, 0x82, 0x83, 0xA0, 0xA3, 0xFF,
                                  (data[index] + 1) & 0xFF, (data[index] - 1) & 0xFF])
        out.append(bytes(data))
    return out


def test_loaded_parts_equals_the_general_walk_or_steps_aside() -> None:
    """On every certificate cryptography loads (its contract): the general walk's parts, or None."""
    rnd = random.Random(1403)
    answered = stepped_aside = 0
    for der in _ders():
        assert loaded_parts(der) is not None  # every real and built certificate takes the one pass
        for variant in [der, *_mutations(der, rnd, 100)]:
            if _loaded_serial(variant) is None:
                continue  # not loaded: not loaded_parts' input
            fast = loaded_parts(variant)
            if fast is None:
                stepped_aside += 1
                continue
            assert fast[:7] == _general(variant), variant.hex()
            assert fast[7:] == _serial_validity_after_key(variant, fast[0]), variant.hex()
            answered += 1
    assert answered > 1000


def _loaded_serial(der: bytes) -> int | None:
    try:
        return x509.load_der_x509_certificate(der).serial_number
    except Exception:  # noqa: BLE001 - cryptography refuses it: nothing to compare
        return None


def _loaded(der: bytes) -> tuple[x509.Certificate, CertInfo] | None:
    try:
        cert = x509.load_der_x509_certificate(der)
        return cert, CertInfo.from_x509(cert, der)
    except Exception:  # noqa: BLE001 - cryptography refuses it: nothing to compare
        return None


def test_the_serial_read_from_the_der_is_cryptographys() -> None:
    rnd = random.Random(1404)
    checked = 0
    for der in _ders():
        for variant in [der, *_mutations(der, rnd, 30)]:
            fast = loaded_parts(variant)
            serial = _loaded_serial(variant)
            if fast is not None and serial is not None:
                assert int.from_bytes(fast[7], "big", signed=True) == serial, variant.hex()
                checked += 1
    assert checked > 1000


def test_lengths_beyond_two_bytes_step_aside() -> None:
    sans = [x509.DNSName(f"a-long-host-name-{i:05d}.example.org") for i in range(2500)]  # > 64 KiB: 0x83 lengths
    cert = (x509.CertificateBuilder().subject_name(x509.Name(ODD_NAMES[1])).issuer_name(x509.Name(ODD_NAMES[1]))
            .public_key(KEY.public_key()).serial_number(5).not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(KEY, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    assert loaded_parts(der) is None and _general(der) is not None
    info = CertInfo.from_x509(cert, der)
    assert info.serial == 5 and info.signed_parts()[0] == certificate_parts(der).tbs


def _names() -> list[bytes]:
    names = [x509.Name(attributes).public_bytes() for attributes in ODD_NAMES]
    for der in _ders()[:60]:
        parts = certificate_parts(der)
        names += [parts.subject, parts.issuer]
    return names


def test_plain_name_text_equals_der_name_text_or_steps_aside() -> None:
    answered = stepped_aside = 0
    for name in _names():
        variants = [name, *(name[:cut] for cut in range(len(name)))]
        for index in range(len(name)):
            for byte in (0x00, 0x06, 0x0C, 0x13, 0x16, 0x1E, 0x20, 0x22, 0x23, 0x2B, 0x2C, 0x30, 0x31, 0x3B, 0x3C, 0x3E, 0x40,
                         0x55, 0x5C, 0x5F, 0x7E, 0x7F, 0x80, 0x81, 0xC3, 0xFF, (name[index] + 1) & 0xFF,
                         (name[index] - 1) & 0xFF):
                variants.append(name[:index] + bytes([byte]) + name[index + 1:])
        for variant in variants:
            fast = plain_name_text(variant)
            if fast is None:
                stepped_aside += 1
            else:
                assert fast == der_name_text(variant), variant.hex()
                answered += 1
    assert answered > 5000 and stepped_aside > 5000


def _one_attribute_name(oid: bytes, tag: int, value: bytes) -> bytes:
    attribute = b"\x06\x03" + oid + bytes([tag, len(value)]) + value
    rdn = b"\x31" + bytes([len(attribute) + 2, 0x30, len(attribute)]) + attribute
    return bytes([0x30, len(rdn)]) + rdn


def test_plain_name_text_takes_every_safe_byte_and_no_other() -> None:
    """Each byte value at the start, inside and at the end of a CN and an O of each string type: the fast
    path answers as ``der_name_text`` or steps aside, and steps aside from a name ``der_name_text`` reads only
    for a byte outside printable ASCII or a ``#`` (escaped only at the start: the fast path refuses it anywhere)."""
    for oid in (b"\x55\x04\x03", b"\x55\x04\x0a"):
        for tag in (0x0C, 0x13, 0x16):
            for byte in range(256):
                for value in (bytes([byte]), b"a" + bytes([byte]) + b"b", b"ab" + bytes([byte])):
                    name = _one_attribute_name(oid, tag, value)
                    fast, general = plain_name_text(name), der_name_text(name)
                    assert fast is None or fast == general, name.hex()
                    if fast is None and general is not None:
                        assert not 0x20 <= byte < 0x7F or byte == ord("#"), name.hex()


def _slot(info: CertInfo, name: str) -> object:
    """What the slot holds, without computing a lazy value."""
    try:
        return CertInfo.__dict__[name].__get__(info, CertInfo)
    except AttributeError:
        return None


@pytest.mark.parametrize("seed", [1, 2])
def test_certinfo_is_the_same_through_either_route(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(seed)
    pairs = []
    for der in _ders()[seed * 20 :][:70]:
        for variant in [der, *_mutations(der, rnd, 12)]:
            loaded = _loaded(variant)
            if loaded is not None:
                pairs.append((loaded[0], variant, loaded[1]))
    monkeypatch.setattr(model, "loaded_parts", lambda der: None)
    monkeypatch.setattr(model, "plain_name_text", lambda name: None)
    for cert, variant, fast in pairs:
        slow = CertInfo.from_x509(cert, variant)
        for slot in CertInfo.__slots__:
            assert _slot(fast, slot) == _slot(slow, slot), (slot, variant.hex())
    assert len(pairs) > 300


def test_from_x509_writes_every_field_init_takes() -> None:
    """``from_x509`` writes the slots with their own setters, not through ``__init__``: each field ``__init__``
    takes is set, and the certificate equals (hash and repr too) one made through ``__init__`` of the same values."""
    fields = [field.name for field in dataclasses.fields(CertInfo) if field.init]
    for der in _ders()[::3]:
        info = CertInfo.from_x509(x509.load_der_x509_certificate(der), der)
        made = CertInfo(*(getattr(info, name) for name in fields))  # AttributeError if one were left unset
        assert made == info and hash(made) == hash(info) and repr(made) == repr(info)
        assert all(getattr(made, name) is getattr(info, name) for name in fields)
        assert info.serial_hex == serial_hex(info.serial) and info.fingerprint == hashlib.sha256(der).digest()


def test_the_ca_flag_looked_for_after_the_key_is_cryptographys() -> None:
    """``surely_not_ca`` over the TBS after the key (where ``loaded_parts`` says the extensions start):
    a "not a CA" answer must be cryptography's, on CAs, leaves and bytes changed around basicConstraints."""
    oid = b"\x06\x03\x55\x1d\x13"
    rnd = random.Random(1405)
    sure = 0
    for der in _ders():
        at = der.find(oid)
        variants = [der]
        for _ in range(40):
            data = bytearray(der)
            index = rnd.randrange(max(0, at - 6), min(len(data), at + 20)) if at >= 0 else rnd.randrange(len(data))
            data[index] = rnd.choice([0x00, 0x01, 0x04, 0x06, 0x13, 0x30, 0x80, 0xFF, rnd.randrange(256)])
            variants.append(bytes(data))
        for variant in variants:
            layout = loaded_parts(variant)
            loaded = _loaded(variant)
            if layout is None or loaded is None or not surely_not_ca(variant, layout[9], layout[1]):
                continue
            sure += 1
            try:
                ca = loaded[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
                ca = False
            assert not ca and not loaded[1].is_ca, variant.hex()
    assert sure > 1000


def test_signature_bits_with_unused_bits_step_aside_as_in_the_general_walk() -> None:
    der = bytearray(_ders()[0])
    parts = loaded_parts(bytes(der))
    assert parts is not None
    der[parts[2] - 1] = 1  # one unused bit (and it zero): cryptography still loads it, certificate_parts refuses
    der[-1] &= 0xFE
    assert _loaded_serial(bytes(der)) is not None
    assert loaded_parts(bytes(der)) is None and _general(bytes(der)) is None


def test_the_serial_hex_from_the_der_bytes_is_serial_hex_of_the_number() -> None:
    rnd = random.Random(1406)
    cases = [b"\x00", b"\x01", b"\x7f", b"\x00\x80", b"\x00\x00", b"\x00\x01", b"\x80", b"\xff", b"\x0a\x00", b"\x00\xff"]
    cases += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 22))) for _ in range(20_000)]
    for content in cases:
        assert model._serial_hex_of(content) == serial_hex(int.from_bytes(content, "big", signed=True)), content.hex()
