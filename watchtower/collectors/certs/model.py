"""The certs collector's data model between scans: series, chain outcomes, reuse, input tallies."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from prometheus_client.samples import Sample

from watchtower.collectors.certsources import CertRecord, CheckRecord
from watchtower.core.results import ItemError
from watchtower.pki import CertInfo, ChainResult


@dataclasses.dataclass(frozen=True)
class _Series:
    """The parts of one certificate series that stay as they are while its certificate does."""

    cert: CertInfo | None  # kept only where the scan cache hands out the same object again (local files)
    row: tuple[Any, ...]  # the report row without the fields that depend on the time: values of _ROW_FIELDS
    # (not_before and not_after as Unix seconds: ``_Details`` spells them in RFC 3339 when read)
    not_after: Sample
    not_before: Sample


_ROW_FIELDS = ("source", "location", "name", "subject", "issuer", "subject_cn", "issuer_cn", "serial", "not_before",
               "not_after", "is_ca")


@dataclasses.dataclass(frozen=True)
class _ChainOutcome:
    """One record's chain verdict and the check records it produced (holding the objects keeps ids unique)."""

    record: CertRecord
    valid: bool
    reason: str
    issuer: CertInfo | None
    issuer_location: str
    checks: tuple[tuple[CheckRecord, tuple[str, ...]], ...]

    def same_verdict(self, result: ChainResult, issuer_location: str) -> bool:
        return (self.valid == result.valid and self.reason == result.reason and self.issuer is result.issuer
                and self.issuer_location == issuer_location)


@dataclasses.dataclass(frozen=True)
class Reuse:
    """Series, chain verdicts and check samples of the last run, for the next one (kept by the collector).

    A series is reused only for the very same ``CertInfo`` object — the scan cache hands the same
    one out while its file is unchanged — and a check sample only with the same value, so a run
    reports exactly what it would from scratch. Whatever a run does not use is not carried on.
    """

    series: Mapping[tuple[str, ...], _Series] = dataclasses.field(default_factory=dict)
    chains: Mapping[int, _ChainOutcome] = dataclasses.field(default_factory=dict)  # by id() of the CertRecord
    check_samples: Mapping[tuple[str, tuple[str, ...]], Sample] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _InputTally:
    """What one named input (a PATH, a glob, an endpoint, a kubeadm root) yielded in this run."""

    input: str
    kind: str
    certificates: int = 0
    errors: list[ItemError] = dataclasses.field(default_factory=list)

    def judged(self) -> dict[str, Any]:
        """ok, or unknown with the reason: nothing readable, or no certificate at all."""
        if self.errors:
            first = self.errors[0]
            more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            reason, detail = first.reason, f"{first.location}: {first.detail}{more}"
        elif not self.certificates:
            reason, detail = "no_certificate", _NO_CERTIFICATE.get(self.kind, "holds no certificate")
        else:
            reason, detail = "", ""
        return {"input": self.input, "kind": self.kind, "status": "unknown" if reason else "ok",
                "certificates": self.certificates, "errors": len(self.errors), "reason": reason, "detail": detail}


_MUST_HOLD = {"path": "file", "glob": "file", "kubeconfig": "kubeconfig"}  # input kind → source label
_NO_CERTIFICATE = {"path": "holds no certificate (a key, a CSR or nothing a certificate can be read from)",
                   "glob": "the files it matches hold no certificate", "kubeconfig": "holds no certificate",
                   "endpoint": "presented no certificate", "kubeadm": "no kubeadm certificate found",
                   "secrets": "no Secret holds a certificate"}
_NOT_AFTER = "watchtower_cert_not_after_timestamp_seconds"
_NOT_BEFORE = "watchtower_cert_not_before_timestamp_seconds"
_UNJUDGED = object()
