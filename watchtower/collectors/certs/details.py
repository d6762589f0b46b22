"""The report's facts for ``check --output json`` and /api/status, and the per-check records (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

from watchtower.collectors.certs.model import _ROW_FIELDS, LabelValues, Series, _ChainOutcome, _InputTally, series_row
from watchtower.collectors.certs.settings import _URGENCY_SEVERITY, CHECK_LABELS, CHECK_SEVERITY
from watchtower.collectors.certs.table import render_table
from watchtower.collectors.certsources import CertRecord, CheckRecord, Note
from watchtower.core.details import Details
from watchtower.core.formatting import human_duration, rfc3339
from watchtower.core.results import Finding, ItemError, Severity
from watchtower.core.settings import format_duration
from watchtower.core.slots import slot_setters
from watchtower.pki import CertInfo, ChainResult, Thresholds, expires_after_issuer
from watchtower.pki.checks import UNSUPPORTED_SIGNATURE
from watchtower.pki.model import lifetime_fraction_left
from watchtower.pki.urgency import urgency_of

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True, slots=True)
class CertsDetails(Details):
    """The report's facts (``check --output json``, /api/status, the table), built each time they are read.

    A row or check dict per certificate is most of a KiB, and the daemon keeps the last result
    between runs while nothing reads it; the series they are built from are kept instead, and
    the time-dependent fields (time left, urgency) are judged from the scan's ``now`` when read.
    """

    series: Collection[Series]  # in the order found
    checks: Sequence[CheckRecord]  # ``check_list``: chain checks made when read
    inputs: tuple[_InputTally, ...]
    notes: tuple[Note, ...]
    errors: tuple[tuple[str, ItemError], ...]  # (source, error)
    error_inputs: tuple[str | None, ...]  # the input each error belongs to
    thresholds: Thresholds
    now: float

    def to_json(self) -> dict[str, Any]:
        if not isinstance(self.checks, tuple):  # made once for both readers below
            return dataclasses.replace(self, checks=tuple(iter(self.checks))).to_json()
        return {"certificates": self.judged_rows(), "inputs": self.input_rows(), "notes": self.note_rows(),
                "errors": self.error_rows(), "checks": self.check_rows(),
                "thresholds": dataclasses.asdict(self.thresholds), "now": rfc3339(self.now)}

    def check_table(self, color: bool = False) -> list[str] | None:
        return render_table(self, color)

    def input_rows(self) -> list[dict[str, Any]]:
        return [tally.judged() for tally in self.inputs]

    def note_rows(self) -> list[dict[str, Any]]:
        return [{"location": n.location, "kind": n.kind, "message": n.message} for n in self.notes]

    def error_rows(self) -> list[dict[str, Any]]:
        return [{"source": s, "location": e.location, "reason": e.reason, "detail": e.detail, "input": i}
                for (s, e), i in zip(self.errors, self.error_inputs)]

    def check_rows(self) -> list[dict[str, Any]]:
        return [{"check": r.check, "ok": r.ok, "subject": r.subject, "message": r.message, **r.labels}
                for r in self.checks]

    def rows(self) -> list[dict[str, Any]]:
        """The report rows as the scan judged them (times in RFC 3339)."""
        rows = []
        now, thresholds = self.now, self.thresholds
        for series in self.series:
            row = dict(zip(_ROW_FIELDS, series_row(series)))
            not_before, not_after = row["not_before"], row["not_after"]
            row["not_before"], row["not_after"] = rfc3339(not_before), rfc3339(not_after)
            row["seconds_left"] = round(not_after - now, 3)
            row["lifetime_fraction_left"] = round(lifetime_fraction_left(not_before, not_after, now), 6)
            row["status"] = urgency_of(not_before, not_after, now, thresholds)
            rows.append(row)
        return rows

    def judged_rows(self) -> list[dict[str, Any]]:
        """The report rows with ``severity`` (worst of urgency and the failed checks about that
        certificate) and ``problems`` (those checks), so a row never says OK about a certificate
        that a failed check makes the run warn or fail about."""
        problems: dict[tuple[str, str], list[tuple[Severity, str, str]]] = {}  # (location, serial or "")
        for record in self.checks:
            if record.ok:
                continue
            labels = record.labels
            severity = record.severity or CHECK_SEVERITY[record.check]
            reason = labels.get("reason") or ""
            what = f"{record.check}: {reason}" if reason else record.check
            where = labels.get("location") or labels.get("disk_location") or ""
            problems.setdefault((where, labels.get("serial", "")), []).append((severity, what, record.message))
        first_at: dict[str, int] = {}
        rows = []
        for index, row in enumerate(self.rows()):
            first_at.setdefault(row["location"], index)
            found = problems.get((row["location"], row["serial"]), [])
            if first_at[row["location"]] == index:  # checks without a serial are about the leaf: the first one
                found = found + problems.get((row["location"], ""), [])
            severity = max([_URGENCY_SEVERITY[row["status"]], *(p[0] for p in found)])
            rows.append({**row, "severity": severity.label, "problems": [p[1] for p in found]})
        return rows


def chain_rows(outcome: _ChainOutcome) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    """(check, label values, ok) of an outcome's chain_valid and expires_after_issuer judgements, in
    that order: what tells two judgements apart and what their samples say (no message made)."""
    record = outcome.record
    cert = record.cert
    base_values = (record.source, record.location, record.name, cert.subject_cn, cert.serial_hex)
    valid, issuer = outcome.valid, outcome.issuer
    rows: tuple[tuple[str, tuple[str, ...], bool], ...] = () if cert.self_issued and valid else (
        ("chain_valid", (*base_values, outcome.reason), valid),)  # a root is judged by its own dates alone
    if issuer is None or issuer is cert:
        return rows
    return (*rows, ("expires_after_issuer", (*base_values, issuer.subject_cn, outcome.issuer_location),
                    not expires_after_issuer(cert, issuer)))


def chain_passes(record: CertRecord, result: ChainResult) -> bool:
    """Does every check ``chain_rows`` makes of this verdict pass (so none needs its record now)?"""
    issuer = result.issuer
    return result.valid and (issuer is None or issuer is record.cert or not expires_after_issuer(record.cert, issuer))


def chain_records(outcome: _ChainOutcome, subject: str | None = None) -> tuple[CheckRecord, ...]:
    """The chain_valid and expires_after_issuer records of one outcome (labels: ``LabelValues``): the
    ones it keeps, else made now (the same each time: every check passed, the messages are fixed
    texts). ``subject``: ``_subject(record)`` when the caller made it already."""
    if outcome.records is not None:
        return outcome.records
    return _chain_checks(outcome, subject)


def _chain_checks(outcome: _ChainOutcome, subject: str | None = None) -> tuple[CheckRecord, ...]:
    record = outcome.record
    cert = record.cert
    if subject is None:
        subject = _subject(record)
    checks: list[CheckRecord] = []
    for check, values, ok in chain_rows(outcome):
        if check == "chain_valid":
            severity = None
            if ok:
                message = "chain verifies"
            elif outcome.reason == UNSUPPORTED_SIGNATURE:
                severity = Severity.WARNING  # cannot tell is not invalid: openssl may well accept it
                message = (f"chain not verified: signed with {_signature_algorithm(cert)}, which this library "
                           f"cannot verify ({UNSUPPORTED_SIGNATURE})")
            else:
                message = f"chain does not verify: {outcome.reason}"
            checks.append(CheckRecord(check, LabelValues(_CHAIN_VALID, values), ok, subject, message, severity))
        else:
            issuer = outcome.issuer
            assert issuer is not None
            message = (f"expires {cert.not_after_dt:%Y-%m-%d} but its issuer {issuer.subject_cn} expires "
                       f"{issuer.not_after_dt:%Y-%m-%d}" if not ok else "issuer outlives it")
            checks.append(CheckRecord(check, LabelValues(_EXPIRES_AFTER_ISSUER, values), ok, subject, message))
    return tuple(checks)


class MadeWhenRead(Sequence[_T]):
    """A sequence whose items are made anew each time it is iterated (by ``make``): for what a run's
    result is read for rarely (the report, one /metrics rendering per run) and need not keep.

    ``len`` makes them all: ``tuple(made)`` and ``list(made)`` would make them twice (they ask the
    length first), ``tuple(iter(made))`` once."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[], Iterator[_T]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[_T]:
        return self._make()

    def __len__(self) -> int:
        return sum(1 for _ in self._make())

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_T]: ...

    def __getitem__(self, index: int | slice) -> _T | Sequence[_T]:
        return tuple(self._make())[index]

    def __eq__(self, other: object) -> bool:
        return tuple(self._make()) == tuple(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return repr(list(self._make()))


def check_list(scan: tuple[CheckRecord, ...], chains: Mapping[int, _ChainOutcome],
               partial: Mapping[int, tuple[CheckRecord, ...]]) -> MadeWhenRead[CheckRecord]:
    """The run's check records in the order found: the sources' own, then each chain outcome's
    (all of them, unless dedup dropped some: ``partial`` holds the ones kept), made as read."""

    def records() -> Iterator[CheckRecord]:
        yield from scan
        for key, outcome in chains.items():
            kept = partial.get(key)
            yield from chain_records(outcome) if kept is None else kept

    return MadeWhenRead(records)


def _signature_algorithm(cert: CertInfo) -> str:
    """``sha1WithRSAEncryption``-style name of the signature algorithm, for messages."""
    try:
        oid = cert.x509.signature_algorithm_oid
    except Exception:  # noqa: BLE001 - an algorithm the library does not know at all
        return "an unknown algorithm"
    return getattr(oid, "_name", None) or oid.dotted_string


_CHAIN_VALID, _EXPIRES_AFTER_ISSUER = CHECK_LABELS["chain_valid"], CHECK_LABELS["expires_after_issuer"]


def _subject(record: CertRecord) -> str:
    if record.source == "kubeadm":
        return record.name if not record.cert.is_ca or record.name in {"ca", "front-proxy-ca", "etcd/ca"} \
            else f"{record.name} (CA {record.cert.subject_cn})"
    return f"{record.location} ({record.cert.subject_cn})" if record.cert.subject_cn else record.location


class UrgencyFinding(Finding):
    """A local certificate's urgency finding whose subject and message are spelled when read.

    Thousands of certificates near or past their end each get one every scan, and the daemon reads
    findings only when someone asks (the status page, ``check``); the texts are the ones
    ``_subject`` and ``_urgency_message`` give for the record and the scan's ``now``, so reading
    them later changes nothing. Only for certificates the scan cache keeps anyway (local files): a
    Secret's or an endpoint's certificate goes after the run, and its finding is spelled at once
    rather than keep it.
    """

    __slots__ = ("_message", "_now", "_record", "_status")  # _message: unset until the message is read
    _record: CertRecord
    _status: str
    _now: float

    def __init__(self, record: CertRecord, status: str, now: float) -> None:
        # frozen: each slot through its own setter (``core.slots``)
        _set_record(self, record)
        _set_status(self, status)
        _set_now(self, now)

    def __repr__(self) -> str:
        return repr(Finding(self.section, self.subject, self.severity, self.message))

    @property  # type: ignore[override]
    def section(self) -> str:
        return "certs"

    @property  # type: ignore[override]
    def subject(self) -> str:
        return _subject(self._record)

    @property  # type: ignore[override]
    def severity(self) -> Severity:
        return _URGENCY_SEVERITY[self._status]

    @property  # type: ignore[override]
    def message(self) -> str:
        text: str | None = getattr(self, "_message", None)
        if text is None:
            text = _urgency_message(self._record.cert, self._status, self._now)
            object.__setattr__(self, "_message", text)
        return text


_set_record, _set_status, _set_now = slot_setters(UrgencyFinding, "_record", "_status", "_now")


def _urgency_message(cert: CertInfo, status: str, now: float) -> str:
    if status == "not_yet_valid":
        return f"not valid until {cert.not_before_dt:%Y-%m-%d %H:%M} UTC (clock skew or a pre-dated certificate)"
    when = f"{cert.not_after_dt:%Y-%m-%d %H:%M} UTC"
    if status == "expired":
        return f"expired {human_duration(now - cert.not_after, detailed=True)} ago ({when}), serial {cert.serial_hex}"
    lifetime = format_duration(round(cert.lifetime_seconds / 3600) * 3600) if cert.lifetime_seconds >= 3600 else "short"
    share = max(cert.lifetime_fraction_left(now), 0) * 100
    return f"expires in {human_duration(cert.not_after - now, detailed=True)} ({when}), {share:.1f}% of its {lifetime} lifetime left"
