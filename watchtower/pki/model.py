"""The certificate as watchtower sees it: a frozen summary of one X.509 certificate.

Eager fields are the ones every metric and report row needs; the rest (SANs, fingerprints) are
computed on first use and kept, so a certificate shared by many files costs its work once.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import re
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from cryptography.utils import CryptographyDeprecationWarning  # light: no Rust extension

from watchtower.pki._lazy import lazy_module
from watchtower.pki.der import CertParts, DerError, basic_constraints_ca, certificate_parts, name_attributes

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
else:
    x509 = lazy_module("cryptography.x509")
    serialization = lazy_module("cryptography.hazmat.primitives.serialization")

_T = TypeVar("_T")


class _once(Generic[_T]):  # lower case: used like functools.cached_property
    """A value computed on first read and kept in the slot ``_NAME`` (None until then).

    Like ``functools.cached_property`` but for a slotted class, and without its lock (Python 3.11
    takes it on every first read, a measurable share of a 10k-certificate scan); a racing second
    computation is harmless.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.slot = "_" + func.__name__
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _once[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object, owner: type | None = None) -> _T | _once[_T]:
        if instance is None:
            return self
        value: _T | None = getattr(instance, self.slot)
        if value is None:
            value = self.func(instance)
            object.__setattr__(instance, self.slot, value)
        return value


# Real trust stores hold certificates cryptography frowns upon (serial 0 in old roots): its
# deprecation warnings, with site-packages paths, must not reach the terminal of `check certs`.
# What matters about such a certificate is reported as data, never as a Python warning.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)


def _lazy() -> Any:
    """The slot behind an ``_once`` value."""
    return dataclasses.field(default=None, init=False, repr=False, compare=False)


class ParseError(ValueError):
    """Bytes that should hold certificates do not; ``reason`` is a short metric-label token."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail




def serial_hex(serial: int) -> str:
    """A serial number spelled the way ``openssl x509 -serial`` prints it: upper-case, even length."""
    sign, magnitude = ("-", -serial) if serial < 0 else ("", serial)
    text = f"{magnitude:X}"
    if len(text) % 2:
        text = "0" + text
    return sign + text


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
    text = ",".join(reversed(texts))
    return NameFacts(common_name or "", text, text)


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


def _is_ca(cert: x509.Certificate, parts: CertParts | None = None) -> bool:
    """basicConstraints' cA flag; absent or malformed (any extension cryptography rejects): False.

    The DER walk answers "not a CA" without building every extension; a "yes" (CAs are few) and
    anything the walk does not understand are confirmed by cryptography, so the answer is the same.
    """
    if parts is not None:
        try:
            if not basic_constraints_ca(parts):
                return False
        except DerError:
            pass
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):  # absent or malformed: no usable CA
        return False


@dataclasses.dataclass(frozen=True, slots=True)
class CertInfo:
    """One certificate: who, by whom, when; its DER stays private for the checks.

    Names are read once (CN, RFC 4514 text and equality key in one walk) because every metric,
    report row and issuer lookup needs them; the rest is computed on first use and kept. The
    parsed ``x509.Certificate`` is not kept (it caches every extension it builds, several KiB per
    certificate, and a daemon keeps thousands between runs): ``x509`` loads it again from the DER.
    Slotted, lazy values included: a per-instance ``__dict__`` would cost more than the facts.
    """

    subject_cn: str
    issuer_cn: str
    serial: int
    not_before: float  # Unix seconds
    not_after: float  # Unix seconds
    is_ca: bool
    der: bytes = dataclasses.field(repr=False, compare=False, hash=False)
    subject: str = dataclasses.field(compare=False)  # RFC 4514
    issuer: str = dataclasses.field(compare=False)
    subject_key: str = dataclasses.field(repr=False, compare=False)  # equal exactly when the x509.Names are
    issuer_key: str = dataclasses.field(repr=False, compare=False)
    _serial_hex: str | None = _lazy()
    _dns_names: tuple[str, ...] | None = _lazy()
    _ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] | None = _lazy()
    _fingerprint: bytes | None = _lazy()
    _fingerprint_sha256: str | None = _lazy()
    _public_key_der: bytes | None = _lazy()

    @classmethod
    def from_x509(cls, cert: x509.Certificate, der: bytes | None = None) -> CertInfo:
        """``der``: the certificate's DER when the caller has it (it must be what ``cert`` was loaded from)."""
        if der is None:
            der = cert.public_bytes(serialization.Encoding.DER)
        try:
            parts: CertParts | None = certificate_parts(der)
        except DerError:
            parts = None
        subject = (der_name_facts(parts.subject) if parts is not None else None) or name_facts(cert.subject)
        issuer = (der_name_facts(parts.issuer) if parts is not None else None) or name_facts(cert.issuer)
        return cls(  # issuer names are shared by many certificates: one string each, not one per certificate
            subject_cn=subject.common_name,
            issuer_cn=sys.intern(issuer.common_name),
            serial=cert.serial_number,
            not_before=cert.not_valid_before_utc.timestamp(),
            not_after=cert.not_valid_after_utc.timestamp(),
            is_ca=_is_ca(cert, parts),
            der=der,
            subject=subject.text,
            issuer=sys.intern(issuer.text),
            subject_key=subject.key,
            issuer_key=sys.intern(issuer.key),
        )

    @property
    def x509(self) -> x509.Certificate:
        """A freshly parsed certificate (not cached: see the class docstring)."""
        return x509.load_der_x509_certificate(self.der)

    @_once
    def serial_hex(self) -> str:
        return serial_hex(self.serial)

    @property
    def not_before_dt(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.not_before, datetime.UTC)

    @property
    def not_after_dt(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.not_after, datetime.UTC)

    @property
    def lifetime_seconds(self) -> float:
        return self.not_after - self.not_before

    @property
    def self_issued(self) -> bool:
        return self.subject_key == self.issuer_key

    @_once
    def dns_names(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self._san_values(x509.DNSName))

    @_once
    def ip_addresses(self) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        return tuple(self._san_values(x509.IPAddress))

    def _san_values(self, kind: type) -> list[Any]:
        try:
            san = self.x509.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
            return []
        return list(san.get_values_for_type(kind))

    @_once
    def fingerprint(self) -> bytes:
        """SHA-256 of the DER: identifies the certificate in caches (signatures, key checks)."""
        return hashlib.sha256(self.der).digest()  # what x509.Certificate.fingerprint(SHA256()) hashes

    @_once
    def fingerprint_sha256(self) -> str:
        return self.fingerprint.hex()

    @_once
    def public_key_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo: what a private key is matched against."""
        return self.x509.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def lifetime_fraction_left(self, now: float) -> float:
        """Share of the validity period still ahead (1.0 fresh, 0.0 at expiry, negative after)."""
        return lifetime_fraction_left(self.not_before, self.not_after, now)


def lifetime_fraction_left(not_before: float, not_after: float, now: float) -> float:
    """``CertInfo.lifetime_fraction_left`` from the dates alone (Unix seconds)."""
    lifetime = not_after - not_before
    if lifetime <= 0:
        return 0.0
    return (not_after - now) / lifetime
