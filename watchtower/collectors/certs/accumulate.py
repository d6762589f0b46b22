"""What one scan adds up: records → series, chain verdicts, findings, metric families (pure)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from watchtower.collectors.certs import families as fam
from watchtower.collectors.certs.details import (
    CertsDetails,
    MadeWhenRead,
    UrgencyFinding,
    _chain_checks,
    _subject,
    _urgency_message,
    chain_passes,
    chain_records,
    chain_rows,
    check_list,
)
from watchtower.collectors.certs.model import (
    _MUST_HOLD,
    _NO_CERTIFICATE,
    _NOT_AFTER,
    _NOT_BEFORE,
    _ROW_FIELDS,
    _UNJUDGED,
    LabelValues,
    Reuse,
    Series,
    _ChainOutcome,
    _InputTally,
    row_values,
)
from watchtower.collectors.certs.settings import (
    _LOCAL_SOURCES,
    _PROBLEM_IS_ONE,
    _URGENCY_SEVERITY,
    CERT_LABELS,
    CHECK_LABELS,
    CHECK_SEVERITY,
    SOURCE_ORDER,
)
from watchtower.collectors.certsources import CertRecord, CheckRecord, InputStart, Note
from watchtower.core import threads
from watchtower.core.families import Family
from watchtower.core.results import Finding, ItemError
from watchtower.pki import CertInfo, ChainResult, IssuerIndex, Thresholds, urgency, verify_chain
from watchtower.pki.checks import SignatureCache

_CHAIN_CHECKS = ("chain_valid", "expires_after_issuer")  # ``judge_chains``'s, made when read
_ROW_NOT_BEFORE, _ROW_NOT_AFTER = _ROW_FIELDS.index("not_before"), _ROW_FIELDS.index("not_after")
TRIM_EVERY = 4096  # leaves shed between malloc trims (a trim: a few ms at 50k certificates)


def _label_values(record: CheckRecord) -> tuple[str, ...]:
    """A check's label values in its family's label order (what tells two judgements apart)."""
    labels = record.labels
    return tuple([str(labels.get(n, "")) for n in CHECK_LABELS[record.check]])


def _value(ok: bool, check: str) -> float:
    """The gauge value of a check; the two float objects are shared by every sample."""
    return 1.0 if ok != (check in _PROBLEM_IS_ONE) else 0.0


class _Accumulator:
    """Collects records from all sources: deduplicated series, checks, errors, then judges chains."""

    def __init__(self, now: float, thresholds: Thresholds, signatures: SignatureCache | None = None,
                 previous: Reuse | None = None) -> None:
        self.now = now
        self.thresholds = thresholds
        self.previous = Reuse() if previous is None else previous
        self.series: dict[tuple[str, ...], Series] = {}  # by label values; samples and rows made when read
        self.local: list[CertRecord] = []
        self.index = IssuerIndex(signatures=signatures)
        # the first judgement per check and label values, in the order found (the sources' own; the
        # chain outcomes' follow them, made when read); the values seen are kept per check
        self.checks: list[CheckRecord] = []
        self._check_values: dict[str, set[tuple[str, ...]]] = {}
        self.check_samples: dict[tuple[str, tuple[str, ...]], Sample] = {}  # of ``checks``
        # id(CertRecord) → the chain records dedup kept, for the outcomes some of whose checks it dropped
        self._partial: dict[int, tuple[CheckRecord, ...]] = {}
        self.chains: dict[int, _ChainOutcome] = {}
        self.errors: list[tuple[str, ItemError]] = []
        self.findings: list[Finding] = []
        self.inputs: list[_InputTally] = []
        self.error_inputs: list[str | None] = []  # per error: the named input it belongs to
        self.notes: list[Note] = []
        self._input: _InputTally | None = None
        self._repeated: set[int] = set()  # ids of local certificates indexed before (under another record)

    def begin_input(self, record: InputStart | None) -> None:
        """Attribute what follows to this named input (None: to no input); closes the previous one."""
        self._close_input()
        self._input = None if record is None else _InputTally(record.input, record.kind)
        if self._input is not None:
            self.inputs.append(self._input)

    def _close_input(self) -> None:
        """A configured path, glob or kubeconfig that was read yet held no certificate is an error:
        the person who named it expects certificates there, and "nothing" must not look like "fine"."""
        tally = self._input
        if tally is not None and tally.kind in _MUST_HOLD and not tally.certificates and not tally.errors:
            self.add(_MUST_HOLD[tally.kind], ItemError(tally.input, "no_certificate", _NO_CERTIFICATE[tally.kind]))

    def add(self, source: str, record: object) -> None:
        if isinstance(record, CertRecord):
            self._cert(record)
            if self._input is not None:
                self._input.certificates += 1
        elif isinstance(record, CheckRecord):
            self._check(record)
        elif isinstance(record, ItemError):
            self.errors.append((source, record))
            self.error_inputs.append(self._input.input if self._input is not None else None)
            if self._input is not None:
                self._input.errors.append(record)
        elif isinstance(record, InputStart):
            self.begin_input(record)
        elif isinstance(record, Note):
            self.notes.append(record)

    def _cert(self, record: CertRecord) -> None:
        cert = record.cert
        key = (record.source, record.location, record.name, cert.subject_cn, cert.issuer_cn, cert.serial_hex,
               "true" if cert.is_ca else "false")
        series = self.series
        if key in series:
            return  # the same certificate twice at one location (e.g. repeated in a bundle)
        local = record.source in _LOCAL_SOURCES
        series[key] = record if local else row_values(record)
        status = urgency(cert, self.now, self.thresholds)
        if status != "ok":
            if local:  # the scan cache keeps the certificate anyway: the texts wait until they are read
                self.findings.append(UrgencyFinding(record, status, self.now))
            else:  # Secrets, endpoints: the certificate goes after the run, a finding must not keep it
                self.findings.append(Finding("certs", _subject(record), _URGENCY_SEVERITY[status],
                                             _urgency_message(cert, status, self.now)))
        if local:
            self.local.append(record)
            if not self.index.add(cert):
                self._repeated.add(id(cert))

    def _check(self, record: CheckRecord) -> None:
        """Keep the first judgement per check and label set (a failed one is a finding)."""
        if self._first(record.check, _label_values(record)):
            self.checks.append(record)
            self._found(record)

    def _first(self, check: str, values: tuple[str, ...]) -> bool:
        """Are these the first label values of ``check`` this run? (noted)"""
        seen = self._check_values.get(check)
        if seen is None:
            seen = self._check_values[check] = set()
        if values in seen:
            return False
        seen.add(values)
        return True

    def _found(self, record: CheckRecord) -> None:
        """A kept judgement that failed is a finding."""
        if not record.ok:
            severity = record.severity or CHECK_SEVERITY[record.check]
            self.findings.append(Finding("certs", record.subject, severity, record.message))

    def _chain(self, cert: CertInfo) -> ChainResult | None:
        """The chain judgement for ``cert``, or None when there is nothing to judge (issuer not found)."""
        known = self.index.known_leaf_verdict(cert, self.now)
        return known if known is not None else self._walk(cert)

    def _walk(self, cert: CertInfo) -> ChainResult | None:
        """``_chain`` when the usual leaf's shortcut (``known_leaf_verdict``) does not answer."""
        if (cert.self_issued and not cert.is_ca) or not self.index.may_hold_issuer(cert):
            return None
        result = verify_chain(cert, self.index, self.now)
        if result.reason == "issuer_unknown" and result.issuer is None:
            return None
        return result

    def judge_chains(self) -> None:
        """chain_valid and expires_after_issuer for local certificates whose issuer was also found.

        A certificate found at many locations is one object (the parse memo), judged once; a record
        judged the same way as in the last run keeps its check records. Each judged leaf lets its
        DER go at once (``CertInfo.shed``: read back if ever needed), so a cold scan does not hold
        every certificate's DER and all the new checks at the same time; issuers keep theirs. Every
        ``TRIM_EVERY`` of them the freed pages go back to the kernel (``threads.trim_malloc``): the DER
        was malloc'd among the scan's short-lived buffers, the new objects come from fresh Python
        arenas, and without a trim both stay resident (certs_daemon_peak_rss_50k: 288 → 252 MB).
        """
        # an issuer's first location: only certificates some local one names as its issuer can be
        # one (``verify_chain``'s issuer is the certificate itself or one ``IssuerIndex.named`` it)
        issuer_keys = {record.cert.issuer_key for record in self.local}
        location_of: dict[int, str] = {}
        for record in self.local:
            if record.cert.subject_key in issuer_keys:
                location_of.setdefault(id(record.cert), record.location)  # first location wins
        del issuer_keys
        # chain checks of records at different locations never have the same label values (the
        # location is one), and the sources yielded none of theirs (endpoints do): then nothing to dedup
        locations = {record.location for record in self.local}
        shared: set[str] = set()
        if len(locations) != len(self.local):
            seen: set[str] = set()
            for record in self.local:
                (shared if record.location in seen else seen).add(record.location)
        del locations
        dedup_all = "chain_valid" in self._check_values or "expires_after_issuer" in self._check_values
        judged: dict[int, Any] = {}  # only for repeated certificates: a dict by every id() is 4 MB at 50k
        repeated = self._repeated
        previous, chains = self.previous.chains, self.chains
        known_leaf_verdict, now = self.index.known_leaf_verdict, self.now
        shed = 0
        for record in self.local:
            cert = record.cert
            if id(cert) in repeated:
                result = judged.get(id(cert), _UNJUDGED)
                if result is _UNJUDGED:
                    result = judged[id(cert)] = self._chain(cert)
            else:
                result = known_leaf_verdict(cert, now)
                if result is None:
                    result = self._walk(cert)
            if result is not None:
                where = location_of.get(id(result.issuer), "") if result.issuer is not None else ""
                last = previous.get(id(record))
                if last is not None and last.record is record and last.same_verdict(result, where):
                    outcome = last
                else:
                    outcome = _ChainOutcome(record, result.valid, result.reason, result.issuer, where, None)
                    if not chain_passes(record, result):  # its findings need the records: made now, and kept
                        outcome = outcome._replace(records=_chain_checks(outcome))
                chains[id(record)] = outcome
                if dedup_all or record.location in shared:
                    self._dedup_chain(outcome)
                elif outcome.records is not None:
                    for check in outcome.records:
                        self._found(check)
            if not cert.is_ca and cert.shed():
                shed += 1
                if shed % TRIM_EVERY == 0:
                    threads.trim_malloc()

    def _dedup_chain(self, outcome: _ChainOutcome) -> None:
        """Keep an outcome's checks whose label values were not seen yet (``_check``, by their rows:
        the records are made only when some are dropped, then kept in ``_partial``)."""
        kept = [self._first(check, values) for check, values, _ok in chain_rows(outcome)]
        records = outcome.records
        if not all(kept):
            records = chain_records(outcome)
            records = self._partial[id(outcome.record)] = tuple([r for r, k in zip(records, kept) if k])
        for check in records or ():
            self._found(check)

    def metrics(self) -> tuple[Metric, ...]:
        """All families in one pass over series and checks, reusing the last run's unchanged samples."""
        not_after = MadeFamily(fam.CERT_NOT_AFTER_TIMESTAMP_SECONDS, functools.partial(_date_samples, _NOT_AFTER, self.series))
        not_before = MadeFamily(fam.CERT_NOT_BEFORE_TIMESTAMP_SECONDS,
                                functools.partial(_date_samples, _NOT_BEFORE, self.series))
        counts: dict[str, int] = dict.fromkeys(SOURCE_ORDER, 0)
        for key in self.series:
            counts[key[0]] = counts.get(key[0], 0) + 1  # key[0]: the source
        found = fam.CERT_CERTIFICATES.gauge()
        for source, count in counts.items():
            found.add_metric((source,), count)
        errors = fam.CERT_READ_ERRORS.gauge()
        by_reason: dict[tuple[str, str], int] = {}
        for source, error in self.errors:
            by_reason[(source, error.reason)] = by_reason.get((source, error.reason), 0) + 1
        for labels, count in sorted(by_reason.items()):
            errors.add_metric(labels, count)
        checks: dict[str, Metric] = {check: family.gauge() for check, family in fam.CERT_CHECKS.items()}
        previous = self.previous.check_samples
        for record in self.checks:
            check = record.check
            values = _label_values(record)
            check_key = (check, values)
            value = _value(record.ok, check)
            sample = previous.get(check_key)
            if sample is None or sample.value != value:
                names = CHECK_LABELS[check]
                sample_labels = record.labels
                if isinstance(sample_labels, LabelValues):
                    if sample_labels.values_tuple() != values or tuple(sample_labels) != names:
                        sample_labels = LabelValues(names, values)
                elif (len(sample_labels) != len(names) or tuple(sample_labels) != names
                        or tuple(sample_labels.values()) != values):
                    sample_labels = dict(zip(names, values))  # the record's own labels are shared when they are these
                # Sample only reads its labels: sharing the record's read-only mapping is safe
                sample = Sample(checks[check].name, cast(dict[str, str], sample_labels), value)
            self.check_samples[check_key] = sample
            checks[check].samples.append(sample)
        for check in _CHAIN_CHECKS:
            checks[check] = MadeFamily(fam.CERT_CHECKS[check], functools.partial(
                _chain_samples, check, checks[check].samples, self.chains, self._partial))
        return (not_after, not_before, found, errors, *checks.values())

    def reuse(self) -> Reuse:
        """What the next run may take over (call after ``metrics``)."""
        return Reuse(self.chains, self.check_samples)

    def details(self) -> CertsDetails:
        return CertsDetails(self.series.values(), check_list(tuple(self.checks), self.chains, self._partial), tuple(self.inputs), tuple(self.notes),
                        tuple(self.errors), tuple(self.error_inputs), self.thresholds, self.now)


class MadeFamily(Metric):
    """A metric family whose samples are made as exposition reads them (``make``), not kept
    (``CompactFamily``'s idea): a certificate's two date samples and its chain checks' were most of
    the objects a cold scan made, and /metrics reads them once per run (it keeps the text)."""

    def __init__(self, family: Family, make: Callable[[], Iterator[Sample]]) -> None:
        super().__init__(family.name, family.help, family.type)
        self._make = make

    @property  # type: ignore[override]
    def samples(self) -> MadeWhenRead[Sample]:
        return MadeWhenRead(self._make)

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:  # Metric.__init__ assigns []; anything else would be silently lost
            raise TypeError("a MadeFamily makes its samples when read")


def _date_samples(name: str, series: Mapping[tuple[str, ...], Series]) -> Iterator[Sample]:
    """not_after or not_before per series; the labels are the series' key (``LabelValues``: its own tuple)."""
    index, attribute = (_ROW_NOT_AFTER, "not_after") if name == _NOT_AFTER else (_ROW_NOT_BEFORE, "not_before")
    for key, value in series.items():
        labels: Any = LabelValues(CERT_LABELS, key)  # Sample's type says dict; it only reads them
        yield Sample(name, labels, getattr(value.cert, attribute) if isinstance(value, CertRecord) else value[index])


def _chain_samples(check: str, from_sources: list[Sample], chains: Mapping[int, _ChainOutcome],
                   partial: Mapping[int, tuple[CheckRecord, ...]]) -> Iterator[Sample]:
    """The chain_valid or expires_after_issuer samples: the sources' own checks', then one per chain
    outcome's check of this kind (the outcomes of one run, kept with its result: the next run makes
    its own dict; ``chain_rows`` reads only what a certificate keeps after its DER is shed)."""
    yield from from_sources
    name, names = fam.CERT_CHECKS[check].name, CHECK_LABELS[check]
    for key, outcome in chains.items():
        kept = partial.get(key)
        if kept is None:
            for row_check, values, ok in chain_rows(outcome):
                if row_check == check:
                    yield Sample(name, cast(dict[str, str], LabelValues(names, values)), _value(ok, check))
        else:
            for record in kept:
                if record.check == check:
                    yield Sample(name, cast(dict[str, str], record.labels), _value(record.ok, check))
