"""The certs collector's data model between scans: series, chain outcomes, reuse, input tallies."""

from __future__ import annotations

import dataclasses
from collections.abc import ItemsView, Iterator, Mapping
from typing import Any, NamedTuple, TypeAlias

from prometheus_client.samples import Sample

from watchtower.collectors.certsources import CertRecord, CheckRecord
from watchtower.core.results import ItemError
from watchtower.pki import CertInfo, ChainResult


class LabelValues(Mapping[str, str]):
    """One sample's labels as the metric's shared name tuple and a tuple of values.

    A dict of seven labels is about 350 bytes; this is the values tuple the collector has anyway
    plus 48 bytes. prometheus_client only reads labels (truthiness and ``items()``), the report
    spreads them into its dicts in name order, the order a dict built from them would have.
    """

    __slots__ = ("_names", "_values")

    def __init__(self, names: tuple[str, ...], values: tuple[str, ...]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: str) -> str:
        try:
            return self._values[self._names.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(zip(self._names, self._values)))

    def items(self) -> _Items:
        """Pairs straight from the two tuples (exposition reads every sample's labels this way)."""
        return _Items(self)

    def values_tuple(self) -> tuple[str, ...]:
        return self._values


class _Items(ItemsView[str, str]):
    _mapping: LabelValues

    def __iter__(self) -> Iterator[tuple[str, str]]:
        labels = self._mapping
        return zip(labels._names, labels._values)


Series: TypeAlias = CertRecord | tuple[Any, ...]
"""One certificate series: a local certificate's record (the scan cache keeps it anyway; the row and
the samples are derived from it when read), or another source's row values (values of
``_ROW_FIELDS``: Secrets' and endpoints' certificates are let go after the run)."""


def series_row(series: Series) -> tuple[Any, ...]:
    """The report row without the fields that depend on the time: values of _ROW_FIELDS
    (not_before and not_after as Unix seconds: ``_Details`` spells them in RFC 3339 when read)."""
    return row_values(series) if isinstance(series, CertRecord) else series


def row_values(record: CertRecord) -> tuple[Any, ...]:
    cert = record.cert
    return (record.source, record.location, record.name, cert.subject, cert.issuer, cert.subject_cn, cert.issuer_cn,
            cert.serial_hex, cert.not_before, cert.not_after, cert.is_ca)


_ROW_FIELDS = ("source", "location", "name", "subject", "issuer", "subject_cn", "issuer_cn", "serial", "not_before",
               "not_after", "is_ca")


class _ChainOutcome(NamedTuple):
    """One record's chain verdict (holding the objects keeps ids unique).

    Its check records and their samples are made when read (``details.chain_records``,
    ``accumulate.MadeFamily``): most chains verify, and a scan of 10k certificates would
    otherwise build 80k objects that /metrics and the report read once, if ever. When one of its
    checks fails the records are made at once (the findings need them) and kept in ``records``.
    A named tuple: made for every judged certificate, and a tuple is made in a third of the time
    a frozen dataclass's six attribute writes take.
    """

    record: CertRecord
    valid: bool
    reason: str
    issuer: CertInfo | None
    issuer_location: str
    records: tuple[CheckRecord, ...] | None  # all its check records when one fails; None: every check passes

    def same_verdict(self, result: ChainResult, issuer_location: str) -> bool:
        return (self.valid == result.valid and self.reason == result.reason and self.issuer is result.issuer
                and self.issuer_location == issuer_location)


@dataclasses.dataclass(frozen=True)
class Reuse:
    """Chain verdicts and check samples of the last run, for the next one (kept by the collector).

    A chain verdict is reused only for the very same ``CertRecord`` object — the scan cache hands
    the same one out while its file is unchanged — and a check sample only with the same value, so
    a run reports exactly what it would from scratch. Whatever a run does not use is not carried on.
    """

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
