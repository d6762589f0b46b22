"""The certificate as watchtower sees it: a frozen summary of one X.509 certificate.

Eager fields are the ones every metric and report row needs; the rest (SANs, fingerprints) are
computed on first use and kept, so a certificate shared by many files costs its work once.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.utils import CryptographyDeprecationWarning  # light: no Rust extension

from watchtower.core.slots import slot_setters
from watchtower.pki._lazy import _once, lazy_module
from watchtower.pki.der import CertParts, DerError, basic_constraints_ca, certificate_parts, loaded_parts, surely_not_ca
from watchtower.pki.names import der_name_text, issuer_facts, name_facts, plain_name_text

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
else:
    x509 = lazy_module("cryptography.x509")
    serialization = lazy_module("cryptography.hazmat.primitives.serialization")

# Real trust stores hold certificates cryptography frowns upon (serial 0 in old roots): its
# deprecation warnings, with site-packages paths, must not reach the terminal of `check certs`.
# What matters about such a certificate is reported as data, never as a Python warning.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)


def _slot() -> Any:
    """A slot ``__init__`` leaves unset: the one behind an ``_once`` value (read as None until made, which
    spares a dozen attribute writes per certificate), or one ``from_x509`` fills (read on every hot path:
    a plain slot is read several times faster than an ``_once`` value)."""
    return dataclasses.field(init=False, repr=False, compare=False)


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


def _is_ca(cert: x509.Certificate, parts: CertParts | None = None, der: bytes | None = None) -> bool:
    """basicConstraints' cA flag; absent or malformed (any extension cryptography rejects): False.

    ``surely_not_ca`` or the DER walk answer "not a CA" without building every extension; a "yes"
    (CAs are few) and anything the walk does not understand are confirmed by cryptography, so the
    answer is the same. ``parts`` without extensions: they are walked here when needed.
    """
    if der is not None:
        if surely_not_ca(der):
            return False
        try:
            parts = certificate_parts(der)
        except DerError:
            parts = None
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

    The DER itself (most of a certificate's kept bytes) may be let go between runs (``shed``) when
    the certificate came from a file (``origin``): should a later check need it (a new issuer, a
    field not read yet), ``der`` reads it back from that file through ``DER_LOADER`` and checks
    it is the same certificate by its fingerprint.
    """

    subject_cn: str
    issuer_cn: str
    serial: int
    not_before: float  # Unix seconds
    not_after: float  # Unix seconds
    is_ca: bool
    _der: bytes | None = dataclasses.field(repr=False, compare=False, hash=False)
    subject: str = dataclasses.field(compare=False)  # RFC 4514
    issuer: str = dataclasses.field(compare=False)
    subject_key: str = dataclasses.field(repr=False, compare=False)  # equal exactly when the x509.Names are
    issuer_key: str = dataclasses.field(repr=False, compare=False)
    serial_hex: str = _slot()  # as ``openssl x509 -serial`` spells it: every metric's label
    _dns_names: tuple[str, ...] | None = _slot()
    _ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] | None = _slot()
    fingerprint: bytes = _slot()  # SHA-256 of the DER: identifies the certificate in caches (signatures, key checks)
    _fingerprint_sha256: str | None = _slot()
    _public_key_der: bytes | None = _slot()
    _origin: str | None = _slot()  # the file the DER can be read back from
    _signed: tuple[int, bytes, bytes, bytes] | None = _slot()  # this run's signature layout: see signed_parts

    @classmethod
    def from_x509(cls, cert: x509.Certificate, der: bytes | None = None, origin: str | None = None,
                  fingerprint: bytes | None = None) -> CertInfo:
        """``der``: the certificate's DER when the caller has it (it must be what ``cert`` was loaded from);
        ``origin``: the plain file it was read from, when the caller knows (``note_origin``);
        ``fingerprint``: the DER's SHA-256, when the caller has it (a parse memo's key).

        The usual certificate's parts come from one inline pass (``loaded_parts``), its serial from
        the DER (the bytes cryptography's ``serial_number`` converts); any other's from the general
        walk, or from cryptography when that fails too. The serial's hex spelling (every metric's
        label) and the fingerprint (every index and cache key) are made at once.
        """
        if der is None:
            der = cert.public_bytes(serialization.Encoding.DER)
        layout = loaded_parts(der) or _general_layout(der)
        signed = None
        if layout is None:
            subject, issuer = name_facts(cert.subject), name_facts(cert.issuer)
            subject_cn, subject_text, subject_key = subject.common_name, subject.text, subject.key
            # issuer names are shared by many certificates: one string each, not one per certificate
            issuer_cn, issuer_text, issuer_key = sys.intern(issuer.common_name), sys.intern(issuer.text), sys.intern(issuer.key)
            number, validity = cert.serial_number, None
            is_ca = _is_ca(cert)
            hex_serial = serial_hex(number)
        else:
            (tbs_start, tbs_end, signature_start, inner_algorithm, issuer_der, subject_der, outer_algorithm, serial,
             validity, after_key) = layout
            plain = plain_name_text(subject_der) or der_name_text(subject_der)
            if plain is not None:  # the key of a plain name is its text
                subject_cn, subject_text, subject_key = plain[0], plain[1], plain[1]
            else:
                subject = name_facts(cert.subject)
                subject_cn, subject_text, subject_key = subject.common_name, subject.text, subject.key
            issuer_cn, issuer_text, issuer_key, issuer_shared = issuer_facts(issuer_der, cert)
            number = cert.serial_number if serial is None else int.from_bytes(serial, "big", signed=True)
            is_ca = not (after_key is not None and surely_not_ca(der, after_key, tbs_end)) and _is_ca(cert, None, der)
            hex_serial = _serial_hex_of(serial) if serial is not None else serial_hex(number)
            if signature_start < 1 << 24:  # this run's signature layout, see signed_parts
                inner = _shared(inner_algorithm)  # the outer one is the same (RFC 5280) but for a forgery
                signed = (tbs_start | tbs_end << 24 | signature_start << 48, inner, issuer_shared,
                          inner if outer_algorithm == inner else _shared(outer_algorithm))
        dates = _VALIDITIES.get(validity) if validity is not None else None
        if dates is None:
            dates = (cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp())
            if validity is not None:
                if len(_VALIDITIES) >= 1024:
                    _VALIDITIES.clear()
                _VALIDITIES[validity] = dates
        # every slot __init__ writes, and those it leaves, written by its own setter (see _set_subject_cn)
        info = object.__new__(cls)
        _set_subject_cn(info, subject_cn)
        _set_issuer_cn(info, issuer_cn)
        _set_serial(info, number)
        _set_not_before(info, dates[0])
        _set_not_after(info, dates[1])
        _set_is_ca(info, is_ca)
        _set_der(info, der)
        _set_subject(info, subject_text)
        _set_issuer(info, issuer_text)
        _set_subject_key(info, subject_key)
        _set_issuer_key(info, issuer_key)
        _set_serial_hex(info, hex_serial)
        # what x509.Certificate.fingerprint(SHA256()) hashes
        _set_fingerprint(info, hashlib.sha256(der).digest() if fingerprint is None else fingerprint)
        if origin is not None:
            _set_origin(info, origin)
        if signed is not None:
            _set_signed(info, signed)
        return info

    def signed_parts(self) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """(TBS, its signature algorithm, issuer name, outer signature algorithm, signature bits) as
        ``certificate_parts`` finds them (DerError when not plain DER); from the layout noted at
        parse time while this run has it, so a scan walks each certificate once."""
        der = self._der or self.der  # the property only when shed
        layout = getattr(self, "_signed", None)
        if layout is None:
            parts = certificate_parts(der, extensions=False)
            return parts.tbs, parts.inner_algorithm, parts.issuer, parts.outer_algorithm, parts.signature
        positions, inner, issuer, outer = layout
        tbs_start, tbs_end, signature_start = positions & 0xFFFFFF, positions >> 24 & 0xFFFFFF, positions >> 48
        return der[tbs_start:tbs_end], inner, issuer, outer, der[signature_start:]

    @property
    def der(self) -> bytes:
        """The certificate's DER; read back from its file when it was shed (``DerUnavailable`` if gone)."""
        der = self._der
        if der is None:
            der = _read_back(self)
            object.__setattr__(self, "_der", der)  # until the collector sheds it again
        return der

    def note_origin(self, path: str) -> None:
        """``path`` holds this certificate as plain PEM or DER (the first file it was found in counts)."""
        if getattr(self, "_origin", None) is None:
            object.__setattr__(self, "_origin", path)

    def shed(self) -> bool:
        """Let the DER go when it can be read back (from ``origin``); its fingerprint (made with it) is kept.
        The signature layout goes in any case: it serves the run that parsed the certificate."""
        _set_signed(self, None)
        if self._der is None or getattr(self, "_origin", None) is None or DER_LOADER is None:
            return False
        _set_der(self, None)
        return True

    @property
    def x509(self) -> x509.Certificate:
        """A freshly parsed certificate (not cached: see the class docstring)."""
        return x509.load_der_x509_certificate(self.der)

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


# from_x509 makes thousands per scan: each slot written by its own setter, not through __init__
(_set_subject_cn, _set_issuer_cn, _set_serial, _set_not_before, _set_not_after, _set_is_ca, _set_der, _set_subject,
 _set_issuer, _set_subject_key, _set_issuer_key, _set_serial_hex, _set_fingerprint, _set_origin, _set_signed) = slot_setters(
    CertInfo, "subject_cn", "issuer_cn", "serial", "not_before", "not_after", "is_ca", "_der", "subject", "issuer",
    "subject_key", "issuer_key", "serial_hex", "fingerprint", "_origin", "_signed")


def _serial_hex_of(content: bytes) -> str:
    """``serial_hex`` of a positive serial from its INTEGER content: the bytes themselves, one leading
    zero octet (DER's sign octet) dropped; anything else through the number."""
    if 0 < content[0] < 0x80:  # no sign octet: the usual serial
        return content.hex().upper()
    if content[0] == 0 and (len(content) == 1 or content[1] >= 0x80):
        return content[1:].hex().upper() if len(content) > 1 else "00"
    return serial_hex(int.from_bytes(content, "big", signed=True))


# a Validity's DER → (not before, not after) as cryptography reads them: certificates issued together
# (kubeadm's, a CA's batch) share one, and reading the two dates costs as much as half a name
_VALIDITIES: dict[bytes, tuple[float, float]] = {}


def _general_layout(der: bytes) -> tuple[int, int, int, bytes, bytes, bytes, bytes, None, None, None] | None:
    """``loaded_parts``'s parts through ``certificate_parts`` (the serial left to cryptography), or None."""
    try:
        parts = certificate_parts(der, extensions=False)
    except DerError:
        return None
    return (parts.tbs_start, parts.tbs_end, parts.signature_start, parts.inner_algorithm, parts.issuer, parts.subject,
            parts.outer_algorithm, None, None, None)


_SHARED: dict[bytes, bytes] = {}


def _shared(value: bytes) -> bytes:
    """One object for equal small byte strings met again and again (algorithm ids, issuer names)."""
    known = _SHARED.get(value)
    if known is None:
        if len(_SHARED) >= 4096:
            _SHARED.clear()
        known = _SHARED[value] = value
    return known


class DerUnavailable(ValueError):
    """A shed certificate's file no longer holds it (changed since the run that read it)."""


# (path, SHA-256 of the DER) → the DER found there, or None; set by the layer that reads files
DER_LOADER: Callable[[str, bytes], bytes | None] | None = None


def _read_back(cert: CertInfo) -> bytes:
    loader, origin, fingerprint = DER_LOADER, getattr(cert, "_origin", None), cert.fingerprint
    der = loader(origin, fingerprint) if loader is not None and origin is not None and fingerprint is not None else None
    if der is None:
        raise DerUnavailable(f"{origin}: no longer holds the certificate")
    return der


def lifetime_fraction_left(not_before: float, not_after: float, now: float) -> float:
    """``CertInfo.lifetime_fraction_left`` from the dates alone (Unix seconds)."""
    lifetime = not_after - not_before
    if lifetime <= 0:
        return 0.0
    return (not_after - now) / lifetime
