"""Just enough DER to find a certificate's parts without building an object for every field.

cryptography parses a field when it is read, and reading the extensions builds every one of
them (a long SAN list, EKUs) to answer "is this a CA?". A scan of thousands of certificates
needs only a few parts: the signed TBS bytes, the signature and its algorithm, the issuer and
subject name bytes, and the basic-constraints flag. This module walks the outer structure once
and slices them out: ``loaded_parts`` for a certificate cryptography loaded, with the headers read inline,
``certificate_parts`` for any other.

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


def surely_not_ca(der: bytes, start: int = 0, end: int | None = None) -> bool:
    """True when the certificate certainly carries no basicConstraints with cA TRUE, without a walk.

    Looked for in ``der[start:end]``: the whole DER, or the part of the TBS after the key, where the
    extensions are (``loaded_parts`` says where): a real basicConstraints lies there. Its OID's DER
    (``06 03 55 1d 13``: DER allows no other spelling, and cryptography reads DER strictly) met
    nowhere there: no such extension. Met exactly once, just inside a SEQUENCE of one-byte length,
    and read there as "not a CA": if that is the real extension, cryptography reads the same bytes
    and says the same (or calls it malformed: no CA either); if it is not (bytes inside some other
    value), there is no real basicConstraints at all. Anything else (False): ask the walk.
    """
    inner = der.find(_BASIC_CONSTRAINTS_OID, start, len(der) if end is None else end)
    if inner < 0:
        return True
    if der.find(_BASIC_CONSTRAINTS_OID, inner + 5, len(der) if end is None else end) >= 0:
        return False
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


# (TBS start, TBS end, signature start, inner algorithm, issuer, subject, outer algorithm, serial content,
# validity, where the TBS's fields after the key (extensions, unique IDs) start)
PlainLayout = tuple[int, int, int, bytes, bytes, bytes, bytes, bytes, bytes, int]


def _long(der: bytes, pos: int) -> int:
    """The end of the element at ``pos`` whose length is in long form (0 beyond two bytes)."""
    form = der[pos + 1]
    return pos + 3 + der[pos + 2] if form == 0x81 else pos + 4 + (der[pos + 2] << 8 | der[pos + 3]) if form == 0x82 else 0


def loaded_parts(der: bytes) -> PlainLayout | None:
    """The parts ``certificate_parts(der, extensions=False)`` finds (TBS and signature by position,
    the serial as its INTEGER content, the Validity SEQUENCE whole, where the fields after the key
    start) in a DER that cryptography loaded, or None: ask it (a length beyond two bytes, a long
    serial or algorithm, signature bits with unused bits).

    cryptography loads DER strictly (minimal lengths, every field of the schema in its place and
    nothing else, no trailing bytes: rust-asn1), so what ``certificate_parts`` checks besides holds
    already; what it checks beyond that (whole octets of signature bits) is checked here. The
    headers are then read inline, at about half the cost of the general walk, which also copies
    out the TBS and the key.
    """
    try:
        # SEQUENCE { TBS SEQUENCE { [0] version?, serial, algorithm, issuer, validity, subject, key, [1]? [2]? [3]? },
        # algorithm, BIT STRING }; a long-form length (0x81/0x82) is rare but for the certificate and TBS (256
        # bytes to 64 KiB: 0x82, asked first), long names, and an RSA key and signature (0x82 too)
        length = der[1]
        start = 4 if length == 0x82 else 3 if length == 0x81 else 2 if length < 0x80 else 0
        if not start:
            return None
        length = der[start + 1]
        if length == 0x82:
            pos, tbs_end = start + 4, start + 4 + (der[start + 2] << 8 | der[start + 3])
        elif length == 0x81:
            pos, tbs_end = start + 3, start + 3 + der[start + 2]
        elif length < 0x80:
            pos, tbs_end = start + 2, start + 2 + length
        else:
            return None
        if der[pos] == 0xA0:  # [0] EXPLICIT version
            pos += 2 + der[pos + 1]
        length = der[pos + 1]  # the serial
        if length >= 0x80:
            return None
        serial = der[pos + 2 : pos + 2 + length]
        algorithm = pos + 2 + length
        length = der[algorithm + 1]
        if length >= 0x80:
            return None
        issuer = algorithm + 2 + length
        length = der[issuer + 1]
        validity = issuer + 2 + length if length < 0x80 else _long(der, issuer)
        length = der[validity + 1]
        if not validity or length >= 0x80:
            return None
        subject = validity + 2 + length
        length = der[subject + 1]
        key = subject + 2 + length if length < 0x80 else _long(der, subject)
        length = der[key + 1]
        if length == 0x82:
            after_key = key + 4 + (der[key + 2] << 8 | der[key + 3])
        else:
            after_key = key + 2 + length if length < 0x80 else _long(der, key)
        if not key or not after_key or after_key > tbs_end:
            return None
        length = der[tbs_end + 1]  # the outer algorithm
        if length >= 0x80:
            return None
        bits = tbs_end + 2 + length
        length = der[bits + 1]
        if length == 0x82:
            content, length = bits + 4, der[bits + 2] << 8 | der[bits + 3]
        elif length == 0x81:
            content, length = bits + 3, der[bits + 2]
        elif length < 0x80:
            content = bits + 2
        else:
            return None
        if der[content] != 0 or content + length != len(der):
            return None  # unused bits in the signature: certificate_parts refuses it
        return (start, tbs_end, content + 1, der[algorithm:issuer], der[issuer:validity], der[subject:key], der[tbs_end:bits],
                serial, der[validity:subject], after_key)
    except IndexError:  # not what cryptography loads: let the general walk say so
        return None
