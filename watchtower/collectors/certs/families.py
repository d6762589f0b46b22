"""Metric families of the certs collector, declared once (see ``watchtower.core.families``).

The per-check families (``watchtower_cert_chain_valid``, ...) are declared from the check table in
``settings`` (``CHECK_LABELS``, ``CHECK_HELP``), where the checks themselves are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from watchtower.collectors.certs.model import _NOT_AFTER, _NOT_BEFORE
from watchtower.collectors.certs.settings import CERT_LABELS, CHECK_HELP, CHECK_LABELS
from watchtower.core.families import Family

CERT_NOT_AFTER_TIMESTAMP_SECONDS = Family(_NOT_AFTER, "gauge", "When the certificate expires (its notAfter), Unix seconds.",
                                          CERT_LABELS)
CERT_NOT_BEFORE_TIMESTAMP_SECONDS = Family(_NOT_BEFORE, "gauge",
                                           "When the certificate becomes valid (its notBefore), Unix seconds.", CERT_LABELS)
CERT_CERTIFICATES = Family("watchtower_cert_certificates", "gauge", "Certificates found in the last run, by source.",
                           ("source",))
CERT_READ_ERRORS = Family("watchtower_cert_read_errors", "gauge",
                          "Items that could not be read in the last run, by source and reason.", ("source", "reason"))
CERT_CHECKS: Mapping[str, Family] = MappingProxyType({
    check: Family(f"watchtower_cert_{check}", "gauge", CHECK_HELP[check], labels)
    for check, labels in CHECK_LABELS.items()
})
