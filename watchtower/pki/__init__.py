"""Pure certificate logic, no I/O: parse bytes, read kubeconfigs, judge chains, keys, SANs, urgency.

Everything here takes bytes or parsed data and returns frozen values, so it is tested directly
and reused by the certs collector, the upgrade checks and ``watchtower check certs``.
"""

from watchtower.pki.checks import (
    ChainResult,
    IssuerIndex,
    expires_after_issuer,
    find_issuer,
    key_matches,
    load_x509_der,
    san_covers,
    verify_chain,
)
from watchtower.pki.kubeconfig import KubeconfigEntry, kubeconfig_entries, load_kubeconfig
from watchtower.pki.model import CertInfo, ParseError, serial_hex
from watchtower.pki.parse import ParsedFile, parse_certificates
from watchtower.pki.urgency import Thresholds, urgency

__all__ = [
    "CertInfo",
    "ChainResult",
    "IssuerIndex",
    "KubeconfigEntry",
    "ParseError",
    "ParsedFile",
    "Thresholds",
    "expires_after_issuer",
    "find_issuer",
    "key_matches",
    "kubeconfig_entries",
    "load_kubeconfig",
    "load_x509_der",
    "parse_certificates",
    "san_covers",
    "serial_hex",
    "urgency",
    "verify_chain",
]
