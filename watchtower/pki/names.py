"""Certificate names as watchtower reports them: RFC 4514 text, first CN, an equality key.

Pure. Plain names are read straight from their DER (several times faster than ``x509.Name``);
anything unusual goes through cryptography's own formatter, so the text is the same.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import TYPE_CHECKING, Any

from watchtower.pki.der import _OID, _SEQUENCE, _SET, DerError, _tlv

if TYPE_CHECKING:
    from cryptography import x509

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


_COMMON_NAME = "2.5.4.3"
_DN_KEYWORDS = {  # dotted OID → RFC 4514 keyword (NameOID's, spelled out: no cryptography import needed)
    _COMMON_NAME: "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
    "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}
_DN_NEEDS_ESCAPE = re.compile(r'[\\",+;<>\x00]|^[# ]|\s$')


def distinguished_name(name: x509.Name) -> str:
    """RFC 4514 text of a name, as ``Name.rfc4514_string()`` but several times faster for plain values.

    Values needing escapes and attribute types without a short keyword go through cryptography's
    own formatter, so the output is the same.
    """
    return name_facts(name).text


@dataclasses.dataclass(frozen=True)
class NameFacts:
    """What watchtower reads from an ``x509.Name``, gathered in one walk over its attributes.

    ``key`` is equal for two names exactly when the ``Name`` objects compare equal (a multi-valued
    RDN is a set there), so issuer lookups compare strings instead of building ``Name`` objects.
    """

    common_name: str
    text: str
    key: str


def _attribute_text(attribute: x509.NameAttribute[Any]) -> str:
    value = attribute.value
    keyword = _DN_KEYWORDS.get(attribute.oid.dotted_string)
    if keyword is None or not isinstance(value, str) or _DN_NEEDS_ESCAPE.search(value):
        return attribute.rfc4514_string()
    return f"{keyword}={value}"


_OID_CONTENT = {
    "2.5.4.3": b"\x55\x04\x03", "2.5.4.10": b"\x55\x04\x0a", "2.5.4.11": b"\x55\x04\x0b",
    "2.5.4.6": b"\x55\x04\x06", "2.5.4.7": b"\x55\x04\x07", "2.5.4.8": b"\x55\x04\x08",
    "2.5.4.9": b"\x55\x04\x09", "0.9.2342.19200300.100.1.25": b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19",
    "0.9.2342.19200300.100.1.1": b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x01",
}
_DER_KEYWORDS = {_OID_CONTENT[dotted]: keyword for dotted, keyword in _DN_KEYWORDS.items()}
_CN_CONTENT, _COUNTRY_CONTENT = _OID_CONTENT["2.5.4.3"], _OID_CONTENT["2.5.4.6"]


def der_name_facts(name: bytes) -> NameFacts | None:
    """``name_facts`` straight from a Name's DER, or None when cryptography must read it.

    Only single-valued RDNs with keyword attributes and plain values (no RFC 4514 escapes, the
    lengths cryptography accepts without a warning) take this path; the text is what
    ``name_facts`` makes of the same name, and the key equals the text as it does there.
    """
    found = der_name_text(name)
    return None if found is None else NameFacts(found[0], found[1], found[1])


def der_name_text(name: bytes) -> tuple[str, str] | None:
    """``der_name_facts`` as (first CN, text): a leaf's subject is read once, no facts object needed."""
    attributes = name_attributes(name)
    if attributes is None:
        return None
    common_name: str | None = None
    texts = []
    for oid, value in attributes:
        keyword = _DER_KEYWORDS.get(oid)
        if keyword is None or _DN_NEEDS_ESCAPE.search(value):
            return None
        if oid == _CN_CONTENT:
            if not 1 <= len(value.encode()) <= 64:
                return None
            if common_name is None:
                common_name = value
        elif oid == _COUNTRY_CONTENT and len(value.encode()) != 2:
            return None
        texts.append(f"{keyword}={value}")
    return common_name or "", ",".join(reversed(texts))


_DER_PREFIX = {oid: f"{keyword}=".encode() for oid, keyword in _DER_KEYWORDS.items()}
_CN_PREFIX, _COUNTRY_PREFIX = _DER_PREFIX[_CN_CONTENT], _DER_PREFIX[_COUNTRY_CONTENT]
# the bytes a value may hold and still be its own RFC 4514 text (a space, but not at either end):
# ASCII printable bar the escaped ones and ``#``; a PrintableString's alphabet bar ``,`` and ``+``
_SAFE_ASCII = bytes(range(0x20, 0x7F)).translate(None, b'\\",+;<>#')
_SAFE_PRINTABLE = bytes(sorted(_PRINTABLE)).translate(None, b",+")


# A value is safe when ``translate`` leaves it unchanged with its table (safe bytes to themselves, others
# elsewhere): one pass, where ``translate(None, unsafe)`` first builds a table of its own (~1k instructions).
_SAFE_TABLES = {tag: bytes(byte if byte in safe else byte ^ 0x80 for byte in range(256))
                for tag, safe in ((_PRINTABLE_STRING, _SAFE_PRINTABLE), (_UTF8_STRING, _SAFE_ASCII), (_IA5_STRING, _SAFE_ASCII))}
# The SET and SEQUENCE headers in front of an attribute, by its value's length (short form: a name of at most
# 129 bytes has no other), None where der_name_text's rules refuse the length: a CN of 1 to 64 bytes, a
# country of 2, any other value not empty.
_RDN_HEADERS = [bytes([0x31, length + 9, 0x30, length + 7]) for length in range(0x77)]
_HEADERS = {oid: tuple(header if shortest <= length <= longest else None for length, header in enumerate(_RDN_HEADERS))
            for oid, (shortest, longest) in ((_CN_CONTENT, (1, 64)), (_COUNTRY_CONTENT, (2, 2)), (b"", (1, 0x76)))}
# a 2.5.4.x OID and a string tag, the header bytes saying what an attribute is → (its text's prefix, the
# value's safe table, the headers by value length)
_PLAIN_HEADS = {b"\x06\x03" + oid + bytes([tag]): (prefix, table, _HEADERS.get(oid, _HEADERS[b""]))
                for oid, prefix in _DER_PREFIX.items() if len(oid) == 3 for tag, table in _SAFE_TABLES.items()}


def plain_name_text(name: bytes) -> tuple[str, str] | None:
    """``der_name_text`` for the usual name, in one pass over bytes, or None (ask ``der_name_text``).

    Every length in short form, one 2.5.4.x keyword attribute per RDN, each value a UTF8String,
    IA5String or PrintableString of plain ASCII needing no RFC 4514 escape: the text is then the
    value bytes behind their keywords, decoded once; the CN and country length rules are
    ``der_name_text``'s.
    """
    size = len(name)
    if size < 2 or name[0] != 0x30 or name[1] >= 0x80 or name[1] + 2 != size:
        return None
    parts = []
    common_name = None
    pos = 2
    try:
        while pos < size:  # SET { SEQUENCE { OBJECT IDENTIFIER (3 bytes), value } }: 11 header bytes
            prefix, safe, headers = _PLAIN_HEADS[name[pos + 4 : pos + 10]]
            length = name[pos + 10]
            end = pos + 11 + length
            if name[pos : pos + 4] != headers[length] or end > size:
                return None
            raw = name[pos + 11 : end]
            if raw.translate(safe) != raw or raw[0] == 0x20 or raw[-1] == 0x20:
                return None
            if common_name is None and prefix is _CN_PREFIX:
                common_name = raw
            parts.append(prefix + raw)
            pos = end
    except (KeyError, IndexError):  # not a plain attribute, or a header beyond the name
        return None
    parts.reverse()
    return "" if common_name is None else common_name.decode("ascii"), b",".join(parts).decode("ascii")


def name_facts(name: x509.Name) -> NameFacts:
    """The first CN, the RFC 4514 text and the equality key of ``name``."""
    common_name: str | None = None
    texts, keys = [], []
    multi_valued = False
    for rdn in name.rdns:
        parts = []
        for attribute in rdn:
            parts.append(_attribute_text(attribute))
            if common_name is None and attribute.oid.dotted_string == _COMMON_NAME:
                value = attribute.value
                common_name = value if isinstance(value, str) else value.decode("utf-8", "replace")
        texts.append("+".join(parts))
        if len(parts) > 1:
            multi_valued = True
            keys.append("+".join(sorted(set(parts))))
        else:
            keys.append(texts[-1])
    text = ",".join(reversed(texts))
    return NameFacts(common_name or "", text, ",".join(reversed(keys)) if multi_valued else text)


_ISSUERS: dict[bytes, tuple[str, str, str, bytes]] = {}


def issuer_facts(name: bytes, cert: x509.Certificate) -> tuple[str, str, str, bytes]:
    """(CN, text, key, DER) of ``cert``'s issuer, whose DER is ``name``, remembered by that DER: issuers are
    few, each shared by many certificates, so each is read once and its strings (interned) and its DER (the
    first copy met) are one object each."""
    known = _ISSUERS.get(name)
    if known is None:
        facts = der_name_facts(name) or name_facts(cert.issuer)
        if len(_ISSUERS) >= 1024:
            _ISSUERS.clear()
        known = _ISSUERS[name] = (sys.intern(facts.common_name), sys.intern(facts.text), sys.intern(facts.key), name)
    return known
