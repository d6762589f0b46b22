"""Is this certificate signed by that one? The signature check with the issuer's key loaded once.

Pure: ``IssuerIndex`` (checks.py) remembers the answers; this module only judges one pair.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from watchtower.pki._lazy import lazy_module
from watchtower.pki.der import DerError
from watchtower.pki.model import CertInfo, DerUnavailable

if TYPE_CHECKING:
    from cryptography import exceptions
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
else:
    exceptions = lazy_module("cryptography.exceptions")
    hashes = lazy_module("cryptography.hazmat.primitives.hashes")
    ec = lazy_module("cryptography.hazmat.primitives.asymmetric.ec")
    padding = lazy_module("cryptography.hazmat.primitives.asymmetric.padding")
    rsa = lazy_module("cryptography.hazmat.primitives.asymmetric.rsa")


def _signed_by(cert: CertInfo, issuer: CertInfo) -> bool | None:
    """True signed, False not; None when the library cannot check the algorithm (SHA-1, MD5).

    cryptography refuses to verify SHA-1 and MD5 signatures (``ValueError: Unsupported signature
    algorithm``) although ``openssl verify`` accepts many such roots: that is "cannot tell",
    never "bad signature".
    """
    try:
        cert.x509.verify_directly_issued_by(issuer.x509)
    except DerUnavailable:
        raise
    except exceptions.UnsupportedAlgorithm:
        return None
    except ValueError as exc:
        if "nsupported" in str(exc) and "algorithm" in str(exc):
            return None
        return False
    except (TypeError, exceptions.InvalidSignature):
        return False
    return True


# AlgorithmIdentifier DER → hash name, for the algorithms cryptography verifies the same way for a
# certificate (verify_directly_issued_by): RSA PKCS#1 v1.5 with SHA-2 (NULL parameters) and ECDSA with SHA-2.
_RSA_ALGORITHMS: Mapping[bytes, str] = {
    bytes.fromhex("300d06092a864886f70d01010b0500"): "SHA256",
    bytes.fromhex("300d06092a864886f70d01010c0500"): "SHA384",
    bytes.fromhex("300d06092a864886f70d01010d0500"): "SHA512",
}
_ECDSA_ALGORITHMS: Mapping[bytes, str] = {
    bytes.fromhex("300a06082a8648ce3d040302"): "SHA256",
    bytes.fromhex("300a06082a8648ce3d040303"): "SHA384",
    bytes.fromhex("300a06082a8648ce3d040304"): "SHA512",
}
_verify_args: dict[tuple[str, str], tuple[Any, ...]] = {}  # ("rsa"|"ecdsa", hash) → verify()'s extra arguments


@functools.cache
def _verifying_ecdsa() -> type:
    """``ec.ECDSA`` for ``verify`` without ``ECDSA.__init__``, which imports cryptography's OpenSSL
    backend (its cffi library copied name by name, ~0.35 MB of RSS) only to check deterministic
    signing, a signing option. ``verify`` checks the type (this is a subclass) and reads ``algorithm``.
    Made on first use: ``ec`` is loaded lazily."""

    class VerifyingECDSA(ec.ECDSA):
        def __init__(self, hash_algorithm: Any) -> None:  # no super().__init__(): its check is for signing
            self._hash_algorithm = hash_algorithm

        @property
        def algorithm(self) -> Any:
            return self._hash_algorithm

        @property
        def deterministic_signing(self) -> bool:
            return False

    return VerifyingECDSA


def _args(kind: str, hash_name: str) -> tuple[Any, ...]:
    """The padding/hash objects for ``verify`` (made on first use: cryptography loads lazily)."""
    args = _verify_args.get((kind, hash_name))
    if args is None:
        algorithm = getattr(hashes, hash_name)()
        args = (padding.PKCS1v15(), algorithm) if kind == "rsa" else (_verifying_ecdsa()(algorithm),)
        _verify_args[(kind, hash_name)] = args
    return args


IssuerKey: TypeAlias = tuple[bytes | None, object]
"""An issuer's subject name DER and public key ((None, None): only cryptography's own check may judge)."""


def _fast_signed_by(cert: CertInfo, issuer: IssuerKey) -> bool | None:
    """The signature check with the issuer's key loaded once, or None when only cryptography's own
    ``verify_directly_issued_by`` may judge it (another algorithm, odd DER, a key of the wrong type).

    Same checks as that method: inner and outer algorithm equal, issuer name bytes equal to the
    issuer's subject bytes, signature over the TBS bytes; it is the key loading per call that goes.
    """
    issuer_subject, issuer_key = issuer
    if issuer_subject is None:
        return None
    try:
        tbs, inner_algorithm, issuer_name, algorithm, signature = cert.signed_parts()
    except DerError:
        return None
    if inner_algorithm != algorithm or issuer_name != issuer_subject:
        return None
    args = _VERIFY_ARGS.get((type(issuer_key), algorithm), _UNSEEN)
    if args is _UNSEEN:
        args = _verify_args_for(issuer_key, algorithm)
    if args is None:
        return None
    try:
        issuer_key.verify(signature, tbs, *args)  # type: ignore[attr-defined]
    except exceptions.InvalidSignature:
        return False
    return True


_VERIFY_ARGS: dict[tuple[type, bytes], tuple[Any, ...] | None] = {}  # (key class, algorithm DER) → verify()'s args
_UNSEEN: tuple[Any, ...] = ("not looked up yet",)  # a kind not in _VERIFY_ARGS yet


def _verify_args_for(issuer_key: object, algorithm: bytes) -> tuple[Any, ...] | None:
    """verify()'s arguments for this kind of key and algorithm, or None (only cryptography's own
    check may judge it); remembered by the key's class (the ABC checks are slow, their answer fixed)."""
    args: tuple[Any, ...] | None = None
    if isinstance(issuer_key, rsa.RSAPublicKey) and algorithm in _RSA_ALGORITHMS:
        args = _args("rsa", _RSA_ALGORITHMS[algorithm])
    elif isinstance(issuer_key, ec.EllipticCurvePublicKey) and algorithm in _ECDSA_ALGORITHMS:
        args = _args("ecdsa", _ECDSA_ALGORITHMS[algorithm])
    if len(_VERIFY_ARGS) < 64:
        _VERIFY_ARGS[(type(issuer_key), algorithm)] = args
    return args
