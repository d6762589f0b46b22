"""Certificate names as watchtower reports them: RFC 4514 text, first CN, an equality key.

Pure. Plain names are read straight from their DER (several times faster than ``x509.Name``);
anything unusual goes through cryptography's own formatter, so the text is the same.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from watchtower.pki.der import name_attributes

if TYPE_CHECKING:
    from cryptography import x509

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


_ISSUER_FACTS: dict[bytes, NameFacts | None] = {}
_ISSUER_FACTS_MAX = 1024


def issuer_name_facts(name: bytes) -> NameFacts | None:
    """``der_name_facts`` remembered by the name's DER: issuers are few, each shared by many certificates."""
    try:
        return _ISSUER_FACTS[name]
    except KeyError:
        pass
    if len(_ISSUER_FACTS) >= _ISSUER_FACTS_MAX:
        _ISSUER_FACTS.clear()
    facts = _ISSUER_FACTS[name] = der_name_facts(name)
    return facts
