"""Just enough DER to find a certificate's parts without building an object for every field.

cryptography parses a field when it is read, and reading the extensions builds every one of
them (a long SAN list, EKUs) to answer "is this a CA?". A scan of thousands of certificates
needs only a few parts: the signed TBS bytes, the signature and its algorithm, the issuer and
subject name bytes, and the basic-constraints flag. This module walks the outer structure once
and slices them out.

It is strict: anything that is not plain DER raises ``DerError``, and callers then ask
cryptography, so an odd certificate is judged exactly as before, only more slowly.
"""

from __future__ import annotations

from typing import NamedTuple


class DerError(ValueError):
    """Not the plain DER this walker understands (the caller falls back to cryptography)."""


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at ``pos``; low tag numbers only."""
    if pos + 2 > end:
        raise DerError("truncated header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag number")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end or data[pos] == 0:
            raise DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80:
            raise DerError("length not minimal")
        pos += count
    if pos + length > end:
        raise DerError("content beyond its container")
    return tag, pos, pos + length


_SEQUENCE, _SET, _BOOLEAN, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x30, 0x31, 0x01, 0x02, 0x03, 0x04, 0x06
_BASIC_CONSTRAINTS = b"\x55\x1d\x13"  # 2.5.29.19


class CertParts(NamedTuple):
    """Slices of one certificate's DER (each a whole element: tag, length and content)."""

    tbs: bytes
    inner_algorithm: bytes  # the TBS's signature AlgorithmIdentifier
    issuer: bytes  # Name
    subject: bytes  # Name
    spki: bytes  # SubjectPublicKeyInfo
    extensions: tuple[tuple[bytes, bytes], ...]  # (OID content, extnValue content) of each basicConstraints
    outer_algorithm: bytes
    signature: bytes  # the BIT STRING's bits (no unused-bits octet)
    tbs_start: int = 0  # where ``tbs`` and ``signature`` stand in the DER
    tbs_end: int = 0
    signature_start: int = 0


def certificate_parts(der: bytes, extensions: bool = True) -> CertParts:
    """The parts of a DER certificate; raises DerError for anything but plain DER.

    ``extensions=False`` leaves them unread (an empty tuple): a signature check needs none.
    """
    tag, start, end = _tlv(der, 0, len(der))
    if tag != _SEQUENCE or end != len(der):
        raise DerError("not one SEQUENCE")
    tbs_tag, tbs_start, tbs_end = _tlv(der, start, end)
    if tbs_tag != _SEQUENCE:
        raise DerError("TBS is not a SEQUENCE")
    tbs = der[start:tbs_end]
    pos = tbs_start
    tag, _, field_end = _tlv(der, pos, tbs_end)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = field_end
        tag, _, field_end = _tlv(der, pos, tbs_end)
    if tag != _INTEGER:
        raise DerError("no serial number")
    pos = field_end
    fields = []
    for _ in range(5):  # signature, issuer, validity, subject, subjectPublicKeyInfo
        tag, _, field_end = _tlv(der, pos, tbs_end)
        if tag != _SEQUENCE:
            raise DerError("TBS field is not a SEQUENCE")
        fields.append(der[pos:field_end])
        pos = field_end
    found: list[tuple[bytes, bytes]] = []
    while pos < tbs_end:
        tag, content, field_end = _tlv(der, pos, tbs_end)
        if tag == 0xA3:
            if extensions:
                found = _extensions(der, content, field_end)
        elif tag not in (0x81, 0xA1, 0x82, 0xA2):  # issuer/subject unique IDs
            raise DerError("unexpected TBS field")
        pos = field_end
    tag, _, alg_end = _tlv(der, tbs_end, end)
    if tag != _SEQUENCE:
        raise DerError("no signature algorithm")
    outer_algorithm = der[tbs_end:alg_end]
    tag, content, sig_end = _tlv(der, alg_end, end)
    if tag != _BIT_STRING or sig_end != end or content >= sig_end or der[content] != 0:
        raise DerError("bad signature BIT STRING")
    return CertParts(tbs, fields[0], fields[1], fields[3], fields[4], tuple(found), outer_algorithm,
                     der[content + 1 : sig_end], start, tbs_end, content + 1)


_BASIC_CONSTRAINTS_OID = b"\x06\x03" + _BASIC_CONSTRAINTS
# a whole basicConstraints extension with an empty value (cA FALSE), critical or not
_LEAF_BASIC_CONSTRAINTS = b"\x30\x0c" + _BASIC_CONSTRAINTS_OID + b"\x01\x01\xff\x04\x02\x30\x00"
_LEAF_BASIC_CONSTRAINTS_NOT_CRITICAL = b"\x30\x09" + _BASIC_CONSTRAINTS_OID + b"\x04\x02\x30\x00"


def _extensions(der: bytes, start: int, end: int) -> list[tuple[bytes, bytes]]:
    """The basicConstraints extensions; the others are stepped over whole (their insides are
    cryptography's business: a "CA" answer is confirmed by it, and it calls a malformed one no CA)."""
    tag, pos, seq_end = _tlv(der, start, end)
    if tag != _SEQUENCE or seq_end != end:
        raise DerError("extensions are not one SEQUENCE")
    out = []
    while pos < seq_end:
        tag, inner, ext_end = _tlv(der, pos, seq_end)
        if tag != _SEQUENCE:
            raise DerError("extension is not a SEQUENCE")
        if der[inner : inner + 5] == _BASIC_CONSTRAINTS_OID:
            out.append(_extension(der, inner, ext_end))
        pos = ext_end
    return out


def _extension(der: bytes, inner: int, end: int) -> tuple[bytes, bytes]:
    """(OID content, extnValue content) of the Extension whose content is ``der[inner:end]``."""
    tag, oid_start, oid_end = _tlv(der, inner, end)
    if tag != _OID:
        raise DerError("extension without an OID")
    tag, content, field_end = _tlv(der, oid_end, end)
    if tag == _BOOLEAN:  # critical
        tag, content, field_end = _tlv(der, field_end, end)
    if tag != _OCTET_STRING or field_end != end:
        raise DerError("extension value is not an OCTET STRING")
    return der[oid_start:oid_end], der[content:field_end]


def surely_not_ca(der: bytes) -> bool:
    """True when the certificate certainly carries no basicConstraints with cA TRUE, without a walk.

    The OID's DER (``06 03 55 1d 13``: DER allows no other spelling, and cryptography reads DER
    strictly) met nowhere: no such extension. Met exactly once, just inside a SEQUENCE of one-byte
    length, and read there as "not a CA": if that is the real extension, cryptography reads the
    same bytes and says the same (or calls it malformed: no CA either); if it is not (bytes inside
    some other value), there is no real basicConstraints at all. Anything else (False): ask the walk.
    """
    count = der.count(_BASIC_CONSTRAINTS_OID)
    if count == 0:
        return True
    if count > 1:
        return False
    inner = der.find(_BASIC_CONSTRAINTS_OID)
    if inner >= 2 and (der.startswith(_LEAF_BASIC_CONSTRAINTS, inner - 2)
                       or der.startswith(_LEAF_BASIC_CONSTRAINTS_NOT_CRITICAL, inner - 2)):
        return True  # the usual leaf's: what the walk below reads as {OID, [TRUE,] {}}, no cA
    if inner < 2 or der[inner - 2] != _SEQUENCE or der[inner - 1] & 0x80 or inner + der[inner - 1] > len(der):
        return False
    try:
        return not _ca_value(_extension(der, inner, inner + der[inner - 1])[1])
    except DerError:
        return False


def basic_constraints_ca(parts: CertParts) -> bool:
    """The cA flag of basicConstraints (False when absent); DerError when not plain DER or repeated."""
    found = [value for oid, value in parts.extensions if oid == _BASIC_CONSTRAINTS]
    if not found:
        return False
    if len(found) > 1:
        raise DerError("basicConstraints repeated")
    return _ca_value(found[0])


def _ca_value(value: bytes) -> bool:
    """The cA flag in a BasicConstraints value (DerError when not plain DER)."""
    tag, pos, end = _tlv(value, 0, len(value))
    if tag != _SEQUENCE or end != len(value):
        raise DerError("basicConstraints is not one SEQUENCE")
    if pos == end:
        return False
    tag, content, field_end = _tlv(value, pos, end)
    if tag != _BOOLEAN:
        return False if tag == _INTEGER else _raise("basicConstraints starts with neither cA nor pathLen")
    if field_end - content != 1 or value[content] != 0xFF:  # DER: TRUE is 0xFF, FALSE (the default) is omitted
        raise DerError("cA is not a DER TRUE")
    return True


def _raise(message: str) -> bool:
    raise DerError(message)


_UTF8_STRING, _PRINTABLE_STRING, _IA5_STRING = 0x0C, 0x13, 0x16
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _value(tag: int, raw: bytes) -> str | None:
    """A name attribute's value when cryptography reads it as this text (None: let it read it)."""
    if tag == _UTF8_STRING:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if (tag == _PRINTABLE_STRING and _PRINTABLE.issuperset(raw)) or (tag == _IA5_STRING and raw.isascii()):
        return raw.decode("ascii")
    return None


def name_attributes(name: bytes) -> list[tuple[bytes, str]] | None:
    """(OID content, value) per RDN of a Name, or None unless every RDN holds one attribute whose
    value is a UTF8String, PrintableString or IA5String that cryptography would read the same.

    Names whose lengths all fit in one byte (nearly all) are read inline, a few times faster
    than a ``_tlv`` call per element; any long length goes through the general walk.
    """
    size = len(name)
    if size < 2 or name[0] != _SEQUENCE or name[1] & 0x80:
        return _name_attributes_walk(name)
    if 2 + name[1] != size:
        return None
    out = []
    pos = 2
    while pos < size:
        if pos + 4 > size or name[pos] != _SET or name[pos + 2] != _SEQUENCE:
            return None
        set_length, attribute_length = name[pos + 1], name[pos + 3]
        if (set_length | attribute_length) & 0x80:
            return _name_attributes_walk(name)
        rdn_end = pos + 2 + set_length
        if rdn_end > size or pos + 4 + attribute_length != rdn_end:  # beyond the name, or not one attribute
            return None
        oid = pos + 4
        if oid + 2 > rdn_end or name[oid] != _OID or name[oid + 1] & 0x80:
            return None if oid + 2 > rdn_end or name[oid] != _OID else _name_attributes_walk(name)
        value = oid + 2 + name[oid + 1]
        if value + 2 > rdn_end:
            return None
        if name[value + 1] & 0x80:
            return _name_attributes_walk(name)
        if value + 2 + name[value + 1] != rdn_end:
            return None
        text = _value(name[value], name[value + 2 : rdn_end])
        if text is None:
            return None
        out.append((name[oid + 2 : value], text))
        pos = rdn_end
    return out


def _name_attributes_walk(name: bytes) -> list[tuple[bytes, str]] | None:
    """``name_attributes`` through ``_tlv``: any length form DER allows."""
    try:
        tag, pos, end = _tlv(name, 0, len(name))
        if tag != _SEQUENCE or end != len(name):
            return None
        out = []
        while pos < end:
            tag, inner, rdn_end = _tlv(name, pos, end)
            if tag != _SET:
                return None
            tag, content, attribute_end = _tlv(name, inner, rdn_end)
            if tag != _SEQUENCE or attribute_end != rdn_end:  # empty or multi-valued RDN
                return None
            tag, oid_start, oid_end = _tlv(name, content, attribute_end)
            if tag != _OID:
                return None
            tag, value_start, value_end = _tlv(name, oid_end, attribute_end)
            if value_end != attribute_end:
                return None
            value = _value(tag, name[value_start:value_end])
            if value is None:
                return None
            out.append((name[oid_start:oid_end], value))
            pos = rdn_end
        return out
    except (DerError, UnicodeDecodeError):
        return None
