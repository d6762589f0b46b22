"""Certificates a TLS endpoint presents: the whole chain, verified, reported even when it fails.

Each endpoint is dialled once with verification on (against ``ca_file`` or the system store,
checking the host name; one cached context per CA file); if OpenSSL rejects it, the reason is
kept and the chain it was shown is still read from that connection, so an expired or misnamed
certificate still gets its metrics.
Endpoints are probed concurrently (bounded) with a timeout each.
"""

from __future__ import annotations

import _ssl  # get_unverified_chain() is private before Python 3.13
import contextlib
import dataclasses
import functools
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor

from watchtower.collectors.certsources.base import CertRecord, CheckRecord, InputStart, Record
from watchtower.core import progress, reasons, threads
from watchtower.core.formatting import join_host_port, resolver_host, split_host_port
from watchtower.core.results import ItemError
from watchtower.io import netprobe
from watchtower.io.tlscontext import check_files, client_context
from watchtower.pki import CertInfo, ParseError, load_x509_der

# OpenSSL X509_V_ERR_* codes → label-friendly reasons
_VERIFY_REASONS = {
    9: "not_yet_valid", 10: "expired", 18: "self_signed", 19: "untrusted_root", 20: "issuer_unknown",
    21: "issuer_unknown", 2: "issuer_unknown", 7: "bad_signature", 24: "issuer_not_ca", 62: "hostname_mismatch",
    64: "hostname_mismatch",
}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """``host:port`` to dial, the SNI/host name to verify (default: host) and the CA file to trust."""

    host: str
    port: int
    server_name: str | None = None
    ca_file: str | None = None

    @property
    def address(self) -> str:
        return join_host_port(self.host, self.port)

    @classmethod
    def parse(cls, text: str, server_name: str | None = None, ca_file: str | None = None) -> Endpoint:
        """``host:port`` or ``[v6]:port``; raises ValueError."""
        host, port = split_host_port(text)
        if not host:
            raise ValueError(f"not HOST:PORT: {text!r}")
        return cls(host, port, server_name, ca_file)


@dataclasses.dataclass(frozen=True)
class Presented:
    """What an endpoint presented: DER chain (leaf first) and whether a client would accept it."""

    chain: tuple[bytes, ...]
    verified: bool
    reason: str  # "" when verified
    detail: str


class EndpointFailure(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    """The TCP connection, or EndpointFailure (as a failure inside the handshake is named)."""
    try:
        return netprobe.connect(endpoint.host, endpoint.port, timeout)
    except TimeoutError:
        raise EndpointFailure(reasons.TIMEOUT, f"no TLS handshake within {timeout:g}s") from None
    except OSError as exc:
        raise EndpointFailure("connect_error", exc.strerror or str(exc)) from None


def _handshake(endpoint: Endpoint, context: ssl.SSLContext | Callable[[], ssl.SSLContext],
               timeout: float) -> tuple[tuple[bytes, ...], ssl.SSLCertVerificationError | None]:
    """One dial: the presented chain (DER, leaf first) and the verification failure, if any.

    OpenSSL keeps the peer's chain when it rejects it, so a failed verification still yields
    the chain from the same connection. ``context`` may be a function that makes it: it is then
    called once the TCP connection stands (an endpoint that does not answer - kubeadm's served
    check on a node whose apiserver is down - costs no context; the first one is ~0.85 MB of
    OpenSSL's heap). Its errors (a CA file that cannot be loaded) propagate unchanged.
    """
    with _connect(endpoint, timeout) as raw:
        tls_context = context if isinstance(context, ssl.SSLContext) else context()
        try:
            raw.settimeout(timeout)
            with tls_context.wrap_socket(raw, server_hostname=resolver_host(endpoint.server_name or endpoint.host),
                                         do_handshake_on_connect=False) as tls:
                failure = None
                try:
                    tls.do_handshake()
                except ssl.SSLCertVerificationError as exc:
                    failure = exc
                chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[union-attr,attr-defined]
                return tuple(c.public_bytes(_ssl.ENCODING_DER) for c in chain), failure
        except TimeoutError:
            raise EndpointFailure(reasons.TIMEOUT, f"no TLS handshake within {timeout:g}s") from None
        except ssl.SSLError as exc:
            raise EndpointFailure(reasons.TLS_ERROR, exc.reason or str(exc)) from None
        except OSError as exc:
            raise EndpointFailure("connect_error", exc.strerror or str(exc)) from None


def verifying_context(ca_file: str | None) -> ssl.SSLContext:
    """The shared verifying context of ``ca_file`` (None: the system store), made again when it changes
    (``io.tlscontext``: loading the system store costs far more than a handshake)."""
    return client_context(ca_file)


def _lenient_context() -> ssl.SSLContext:
    return client_context(verify=False)


def fetch_presented(endpoint: Endpoint, timeout: float) -> Presented:
    """Dial once verifying; the chain comes from that dial even when verification fails (a second,
    non-verifying dial only if OpenSSL kept no chain). Raises EndpointFailure."""
    check_files(endpoint.ca_file)  # a CA file that cannot be opened is reported before any dial, as always
    chain, failure = _handshake(endpoint, functools.partial(verifying_context, endpoint.ca_file), timeout)
    if failure is None:
        return Presented(chain, True, "", "")
    reason = _VERIFY_REASONS.get(failure.verify_code, "verify_failed")
    detail = failure.verify_message or str(failure)
    if not chain:
        chain, _ = _handshake(endpoint, _lenient_context(), timeout)
    return Presented(chain, False, reason, detail)


def presented_certs(presented: Presented) -> tuple[list[CertInfo], list[ParseError]]:
    certs, errors = [], []
    for der in presented.chain:
        try:
            certs.append(load_x509_der(der))
        except ParseError as exc:
            errors.append(exc)
    return certs, errors


@dataclasses.dataclass
class EndpointSource:
    """TLS endpoints, probed with at most ``concurrency`` at a time."""

    endpoints: Sequence[Endpoint]
    timeout: float = 5.0
    concurrency: int = 8
    kind: str = "endpoint"
    pool: Executor | None = None  # the daemon's collector keeps one (no threads per run); else one per read

    def workers(self) -> int:
        return max(1, min(self.concurrency, len(self.endpoints)))

    def read(self) -> Iterator[Record]:
        if not self.endpoints:
            return
        with contextlib.ExitStack() as stack:
            pool = self.pool or stack.enter_context(threads.named_pool(self.workers(), "certs-endpoint", start=False))
            outcomes = pool.map(self._probe, self.endpoints)
            for endpoint in self.endpoints:
                progress.note(endpoint.address)  # what a hung run is waiting for
                outcome = next(outcomes)
                yield InputStart(endpoint.address, "endpoint")
                yield from self._records(endpoint, outcome)

    def _probe(self, endpoint: Endpoint) -> Presented | EndpointFailure:
        try:
            return fetch_presented(endpoint, self.timeout)
        except EndpointFailure as failure:
            return failure

    def _records(self, endpoint: Endpoint, outcome: Presented | EndpointFailure) -> Iterator[Record]:
        location = endpoint.address
        if isinstance(outcome, EndpointFailure):
            yield ItemError(location, outcome.reason, outcome.detail)
            return
        certs, errors = presented_certs(outcome)
        for error in errors:
            yield ItemError(location, error.reason, error.detail)
        if not certs:
            yield ItemError(location, "no_certificate", "the endpoint presented no certificate")
            return
        shown = endpoint.server_name or endpoint.host
        for position, cert in enumerate(certs):
            yield CertRecord(self.kind, location, shown if position == 0 else f"{shown} chain[{position}]", cert)
        leaf = certs[0]
        labels = {"source": self.kind, "location": location, "name": shown, "subject_cn": leaf.subject_cn,
                  "serial": leaf.serial_hex, "reason": outcome.reason}
        message = "chain verifies" if outcome.verified else f"TLS verification fails: {outcome.detail}"
        yield CheckRecord("chain_valid", labels, outcome.verified, location, message)
