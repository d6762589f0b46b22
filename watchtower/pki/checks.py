"""Judgements over parsed certificates: chain, issuer outliving, key match, SAN coverage, urgency.

Pure functions; the collector decides which certificates to compare and turns the answers
into 1/0 gauges and ``check`` rows.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
from collections.abc import Iterable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from watchtower.pki._lazy import lazy_module
from watchtower.pki.der import certificate_parts
from watchtower.pki.model import CertInfo, DerUnavailable, ParseError
from watchtower.pki.parse import PRIVATE_KEY_TAGS, pem_blocks
from watchtower.pki.signatures import IssuerKey, _fast_signed_by, _signed_by

if TYPE_CHECKING:
    from cryptography import exceptions, x509
    from cryptography.hazmat.primitives import serialization
else:
    x509 = lazy_module("cryptography.x509")
    exceptions = lazy_module("cryptography.exceptions")
    serialization = lazy_module("cryptography.hazmat.primitives.serialization")

MAX_CHAIN_DEPTH = 8


@dataclasses.dataclass(frozen=True, slots=True)
class ChainResult:
    """Whether ``cert`` chains to a trust anchor; ``reason`` is a label token when it does not."""

    valid: bool
    # "", issuer_unknown, bad_signature, unsupported_signature_algorithm, issuer_not_ca, issuer_expired,
    # issuer_not_yet_valid, too_deep
    reason: str = ""
    issuer: CertInfo | None = None  # the direct issuer, when found


UNSUPPORTED_SIGNATURE = "unsupported_signature_algorithm"


# (certificate, issuer) fingerprints → signed (None: the algorithm cannot be checked)
SignatureCache = MutableMapping[tuple[bytes, bytes], "bool | None"]


class IssuerIndex:
    """Certificates by subject name, so finding issuers among thousands stays linear overall.

    Names are compared by ``CertInfo.subject_key``/``issuer_key`` strings, which are equal exactly
    when the ``x509.Name`` objects are, and far cheaper than comparing those in bulk. Signature
    results go to ``signatures`` (keyed by fingerprints), which a caller may keep across runs;
    each issuer's public key is loaded once per index, not once per signature.
    """

    def __init__(self, certs: Iterable[CertInfo] = (), signatures: SignatureCache | None = None) -> None:
        # one certificate per subject name as itself, several as a list: most subjects (leaves) are
        # unique, and a one-item list per leaf is 4 MB at 50k certificates
        self._by_subject: dict[str, CertInfo | list[CertInfo]] = {}
        self._seen: set[bytes] = set()  # fingerprints of the certificates indexed
        # issuer fingerprint → its subject name DER and public key (None, None: only cryptography may judge)
        self._issuers: dict[bytes, IssuerKey] = {}
        self._signatures: SignatureCache = {} if signatures is None else signatures
        self._tails: dict[tuple[int, int], ChainResult] = {}
        self._tails_now: float | None = None
        # issuer name → its one certificate and the verdict of a leaf it signed (``known_leaf_verdict``):
        # made from ``tails``, emptied with them
        self._leaf_verdicts: dict[str, tuple[CertInfo, ChainResult]] = {}
        for cert in certs:
            self.add(cert)

    def add(self, cert: CertInfo) -> bool:
        """Index ``cert``; False when a certificate with its fingerprint was indexed already."""
        fingerprint = cert.fingerprint
        if fingerprint in self._seen:  # no set of ids as well: 6 MB more at 50k certificates
            return False
        self._seen.add(fingerprint)
        known = self._by_subject.get(cert.subject_key)
        if known is None:
            self._by_subject[cert.subject_key] = cert
        elif isinstance(known, list):
            known.append(cert)
        else:
            self._by_subject[cert.subject_key] = [known, cert]
        if self._tails:  # the verdicts remembered may change (``_leaf_verdicts`` holds some only then)
            self._tails.clear()
            self._leaf_verdicts.clear()
        return True

    def tails(self, now: float) -> dict[tuple[int, int], ChainResult]:
        """``verify_chain``'s verdicts from (id of an issuer, depth) up, for this ``now`` and the
        certificates indexed so far (emptied when either changes): the leaves of one CA follow
        its chain once. The issuers met are held by the index, so their ids stay theirs."""
        if now != self._tails_now:
            self._tails.clear()
            self._leaf_verdicts.clear()
            self._tails_now = now
        return self._tails

    def known_leaf_verdict(self, cert: CertInfo, now: float) -> ChainResult | None:
        """``verify_chain(cert, self, now)`` for the usual leaf: one certificate named as its issuer,
        whose signature on it verifies, a CA valid at ``now``, and whose own chain this run judged
        already (``tails``). None: the general walk answers (it finds the same cached signature)."""
        known = self._leaf_verdicts.get(cert.issuer_key) if now == self._tails_now else None
        if known is None:
            known = self._leaf_verdict(cert.issuer_key, now)
            if known is None:
                return None
        if cert.subject_key == cert.issuer_key or self.signature(cert, known[0]) is not True:
            return None
        return known[1]

    def _leaf_verdict(self, issuer_name: str, now: float) -> tuple[CertInfo, ChainResult] | None:
        """The one certificate named ``issuer_name`` and what ``known_leaf_verdict`` answers for a leaf
        it signed, when it is a CA valid at ``now`` whose chain is in ``tails``; remembered (a CA's
        thousands of leaves get one ``ChainResult``: it is immutable)."""
        issuer = self._by_subject.get(issuer_name)
        if issuer is None or isinstance(issuer, list):
            return None
        if not issuer.is_ca or issuer.not_after < now or issuer.not_before > now:
            return None
        above = self.tails(now).get((id(issuer), 1))
        if above is None:
            return None
        verdict = above if above.issuer is issuer else ChainResult(above.valid, above.reason, issuer)
        known = self._leaf_verdicts[issuer_name] = (issuer, verdict)
        return known

    def named(self, cert: CertInfo) -> list[CertInfo]:
        """Candidates whose subject is ``cert``'s issuer name."""
        known = self._by_subject.get(cert.issuer_key)
        return [] if known is None else known if isinstance(known, list) else [known]

    def may_hold_issuer(self, cert: CertInfo) -> bool:
        """Is there a certificate whose subject is ``cert``'s issuer name?"""
        return cert.issuer_key in self._by_subject

    def signed_by(self, cert: CertInfo, issuer: CertInfo) -> bool:
        """Signature check, remembered: the same pair (a root, a repeated file) is verified once."""
        return self.signature(cert, issuer) is True

    def signature(self, cert: CertInfo, issuer: CertInfo) -> bool | None:
        """Like ``signed_by``, but None when the signature algorithm cannot be checked here."""
        key = (cert.fingerprint, issuer.fingerprint)
        signatures = self._signatures
        if key in signatures:
            return signatures[key]
        try:
            known = _fast_signed_by(cert, self._issuers.get(issuer.fingerprint) or self._issuer(issuer))
            if known is None:  # cryptography's own check; None again when it cannot check the algorithm
                known = _signed_by(cert, issuer)
        except DerUnavailable:  # its file changed during this run: cannot tell now (not remembered)
            return None
        signatures[key] = known
        return known

    def _issuer(self, issuer: CertInfo) -> IssuerKey:
        """The issuer's subject name DER and public key, loaded once per index (``_issuers``)."""
        known = self._issuers.get(issuer.fingerprint)
        if known is None:
            try:
                known = (certificate_parts(issuer.der, extensions=False).subject, issuer.x509.public_key())
            except DerUnavailable:
                raise
            except (ValueError, exceptions.UnsupportedAlgorithm):  # DerError included
                known = (None, None)
            self._issuers[issuer.fingerprint] = known
        return known


def find_issuer(cert: CertInfo, pool: Sequence[CertInfo] | IssuerIndex) -> CertInfo | None:
    """The certificate in ``pool`` whose key signed ``cert`` (name match and signature check)."""
    index = pool if isinstance(pool, IssuerIndex) else IssuerIndex(pool)
    for candidate in index.named(cert):
        if index.signed_by(cert, candidate):
            return candidate
    return None


def verify_chain(
    cert: CertInfo, pool: Sequence[CertInfo] | IssuerIndex, now: float, anchors: Sequence[CertInfo] | None = None
) -> ChainResult:
    """Follow issuers through ``pool`` up to a trust anchor, like ``openssl verify`` would.

    ``anchors`` are the trusted roots; when None, every self-signed certificate in ``pool`` is
    trusted. The certificate's own validity dates are NOT judged here (the expiry metrics do
    that); every issuer's are. As in ``openssl verify``, a trust anchor's own self-signature is
    not what makes it trusted: one in an algorithm the library cannot check (a SHA-1 root) is
    still an anchor. A link signed that way is ``unsupported_signature_algorithm``, not
    ``bad_signature``.
    """
    index = pool if isinstance(pool, IssuerIndex) else IssuerIndex(pool)
    if anchors is not None:
        trusted = {a.fingerprint_sha256 for a in anchors}
        for anchor in anchors:
            index.add(anchor)
        return _follow(cert, index, now, anchors, trusted, None)
    visited: list[tuple[int, int]] = []
    result = _follow(cert, index, now, None, set(), visited)
    tails = index.tails(now)
    for key in visited:
        tails[key] = result
    return result


def _follow(cert: CertInfo, index: IssuerIndex, now: float, anchors: Sequence[CertInfo] | None, trusted: set[str],
            visited: list[tuple[int, int]] | None) -> ChainResult:
    """``verify_chain``'s walk. From depth 1 on every answer is (valid, reason, the direct issuer), so
    with ``visited`` the states met there are noted and a state judged before answers at once."""
    tails = index.tails(now) if visited is not None else None
    current = cert
    direct: CertInfo | None = None
    for depth in range(MAX_CHAIN_DEPTH):
        if depth and tails is not None and visited is not None:
            known = tails.get((id(current), depth))
            if known is not None:
                return known if known.issuer is direct else ChainResult(known.valid, known.reason, direct)
            visited.append((id(current), depth))
        if current.self_issued and index.signature(current, current) is not False:
            if anchors is None or current.fingerprint_sha256 in trusted:
                return ChainResult(True, "", direct if depth else current)
            return ChainResult(False, "untrusted_root", direct)
        if anchors is not None and current.fingerprint_sha256 in trusted:
            return ChainResult(True, "", direct)
        candidates = index.named(current)
        if not candidates:
            return ChainResult(False, "issuer_unknown", direct)
        issuer = next((c for c in candidates if index.signed_by(current, c)), None)
        if issuer is None:
            unchecked = next((c for c in candidates if index.signature(current, c) is None), None)
            if unchecked is None:
                return ChainResult(False, "bad_signature", direct)
            return ChainResult(False, UNSUPPORTED_SIGNATURE, unchecked if depth == 0 else direct)
        if depth == 0:
            direct = issuer
        if not issuer.is_ca:
            return ChainResult(False, "issuer_not_ca", direct)
        if issuer.not_after < now:
            return ChainResult(False, "issuer_expired", direct)
        if issuer.not_before > now:
            return ChainResult(False, "issuer_not_yet_valid", direct)
        current = issuer
    return ChainResult(False, "too_deep", direct)


def expires_after_issuer(cert: CertInfo, issuer: CertInfo) -> bool:
    """True when the issuer expires first: the certificate becomes unverifiable before its own end."""
    return cert.not_after > issuer.not_after


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def private_key_block(pem: bytes) -> bytes | None:
    """The first private-key PEM block in ``pem`` (a key file, or a bundle holding cert and key)."""
    for tag, block in pem_blocks(pem):
        if tag in PRIVATE_KEY_TAGS and block is not None:
            return block
    return None


def key_matches(public: CertInfo | bytes, private_key_pem: bytes, password: bytes | None = None) -> bool:
    """Does the private key belong to this certificate (or PEM public key)? Public halves only.

    The private key is loaded, its public half derived and compared; the key object never
    leaves this function and no error message contains key material.
    """
    block = private_key_block(private_key_pem)
    if block is None:
        raise ParseError("invalid_key", "no private key PEM block")
    try:
        # Only the public half is derived and compared, so RSA's costly consistency check is skipped.
        private = serialization.load_pem_private_key(block, password=password, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, exceptions.UnsupportedAlgorithm):
        raise ParseError("invalid_key", "private key could not be loaded") from None
    derived = _public_der(private.public_key())
    del private
    if isinstance(public, CertInfo):
        expected = public.public_key_der
    else:
        try:
            expected = _public_der(serialization.load_pem_public_key(public))
        except (ValueError, exceptions.UnsupportedAlgorithm):
            raise ParseError("invalid_key", "public key could not be loaded") from None
    return hmac.compare_digest(derived, expected)


def _dns_match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:]
    return False


def san_covers(cert: CertInfo, name: str) -> bool:
    """Would a TLS client reaching ``name`` (IP or DNS name) accept this certificate's SANs?"""
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return any(_dns_match(pattern, name) for pattern in cert.dns_names)
    return address in cert.ip_addresses


def load_x509_der(data: bytes) -> CertInfo:
    """One DER certificate (as a TLS handshake hands it over)."""
    try:
        return CertInfo.from_x509(x509.load_der_x509_certificate(data))
    except ValueError as exc:
        raise ParseError("invalid_der", str(exc)[:160]) from None
