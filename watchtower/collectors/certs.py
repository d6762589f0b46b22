"""Certificate expiry everywhere kubeadm hides one, and the checks no exporter does.

Sources (``certsources``): files/globs, kubeadm discovery, kubeconfigs, TLS endpoints and
Kubernetes TLS Secrets. Every certificate becomes a not-before/not-after pair of gauges; every
check (chain, issuer outliving, key match, SAN coverage, kubeconfig CA, served vs disk) a 1/0
gauge and, when it fails, a finding. Urgency is judged relative to lifetime: warning below
min(30d, 20 %), critical below min(7d, 5 %) by default. ``watchtower check certs PATH...``
runs the same collector on ad-hoc inputs without a config file.

The daemon rescans the same files every interval, so a collector keeps what does not change
between its runs: the records of unchanged files (``certsources.cache``, by file stamp),
signature results (by certificate fingerprints), and series, chain verdicts and samples whose
certificate is the same object as last time. Everything that depends on the clock (urgency,
issuer expiry, the report's time left) is judged afresh every run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal, cast

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.certsources import (
    CertRecord,
    CertSource,
    CheckRecord,
    Endpoint,
    EndpointSource,
    FileSource,
    InputStart,
    KubeadmSource,
    KubeconfigSource,
    Note,
    ScanCache,
    SecretSource,
    kubeadm_present,
)
from watchtower.core import progress, reasons
from watchtower.core.formatting import format_table, human_duration, rfc3339
from watchtower.core.results import CollectResult, Finding, ItemError, Severity, Status
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef, SecretUnavailable, cli_duration, format_duration
from watchtower.pki import CertInfo, ChainResult, IssuerIndex, Thresholds, expires_after_issuer, urgency, verify_chain
from watchtower.pki.checks import UNSUPPORTED_SIGNATURE, SignatureCache

CERT_LABELS = ("source", "location", "name", "subject_cn", "issuer_cn", "serial", "is_ca")
CHECK_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "chain_valid": ("source", "location", "name", "subject_cn", "serial", "reason"),
    "expires_after_issuer": ("source", "location", "name", "subject_cn", "serial", "issuer_cn", "issuer_location"),
    "key_matches": ("source", "location", "name", "key_location"),
    "san_covers": ("source", "location", "name"),
    "kubeconfig_ca_matches_cluster_ca": ("location", "name", "cluster_ca"),
    "served_matches_disk": ("endpoint", "disk_location", "served_serial", "disk_serial"),
})
CHECK_HELP: Mapping[str, str] = MappingProxyType({
    "chain_valid": "1 if the certificate chains to a trusted root (endpoints: a TLS client would accept it), else 0.",
    "expires_after_issuer": "1 if the certificate outlives its issuer (it stops verifying when the issuer expires), else 0.",
    "key_matches": "1 if the private key next to the certificate matches it, else 0.",
    "san_covers": "1 if apiserver.crt's SANs cover the VIP or control-plane endpoint `name`, else 0.",
    "kubeconfig_ca_matches_cluster_ca": "1 if the kubeconfig's embedded CA is pki/ca.crt, else 0.",
    "served_matches_disk": "1 if the apiserver serves the certificate in pki/apiserver.crt, else 0.",
})
# A failed check → how bad. expires_after_issuer's metric is 1 when the problem is present.
CHECK_SEVERITY: Mapping[str, Severity] = MappingProxyType({
    "chain_valid": Severity.CRITICAL, "expires_after_issuer": Severity.WARNING, "key_matches": Severity.CRITICAL,
    "san_covers": Severity.CRITICAL, "kubeconfig_ca_matches_cluster_ca": Severity.CRITICAL,
    "served_matches_disk": Severity.WARNING,
})
_PROBLEM_IS_ONE = frozenset({"expires_after_issuer"})
_LOCAL_SOURCES = frozenset({"file", "kubeadm", "kubeconfig"})  # judged for chains among themselves
_URGENCY_SEVERITY = {"ok": Severity.OK, "warning": Severity.WARNING, "critical": Severity.CRITICAL,
                     "expired": Severity.CRITICAL, "not_yet_valid": Severity.CRITICAL}
SOURCE_ORDER = ("kubeadm", "file", "kubeconfig", "endpoint", "secret")


@dataclasses.dataclass(frozen=True)
class EndpointSettings:
    """A TLS endpoint: ``address`` host:port, optional SNI ``server_name`` and ``ca_file`` to verify with."""

    address: str
    server_name: str | None = None
    ca_file: str | None = None


@dataclasses.dataclass(frozen=True)
class SecretsSettings:
    """Kubernetes Secrets to read (off unless enabled: it needs list permission on Secrets)."""

    enabled: bool = False
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    types: tuple[str, ...] = ("kubernetes.io/tls",)
    keys: tuple[str, ...] = ("tls.crt",)


@dataclasses.dataclass(frozen=True)
class CertsSettings(CollectorSettings):
    interval: Seconds = Seconds(300)
    timeout: Seconds = Seconds(120)
    paths: tuple[str, ...] = ()  # files, directories, globs (** recursive)
    kubeconfigs: tuple[str, ...] = ()  # kubeconfig files or globs
    kubeadm: bool | Literal["auto"] = "auto"  # discover kubeadm's PKI when kubeadm_root has one
    kubeadm_root: str = "/etc/kubernetes"
    kubelet_pki_dir: str = "/var/lib/kubelet/pki"
    apiserver_endpoints: tuple[str, ...] = ("127.0.0.1:6443",)  # where the local apiserver serves (served vs disk)
    endpoints: tuple[str | EndpointSettings, ...] = ()
    endpoint_timeout: Seconds = Seconds(5)
    endpoint_concurrency: int = 8
    secrets: SecretsSettings = SecretsSettings()
    max_file_size: int = 1024 * 1024  # bytes; larger files are an error, not read
    pkcs12_passphrase: SecretRef | None = None
    warning_before: Seconds = Seconds(30 * 86400)
    warning_fraction: float = 0.20
    critical_before: Seconds = Seconds(7 * 86400)
    critical_fraction: float = 0.05

    def validate(self, path: str) -> None:
        super().validate(path)
        for i, item in enumerate(self.endpoints):
            address = item if isinstance(item, str) else item.address
            try:
                Endpoint.parse(address)
            except ValueError:
                raise ConfigError(f"{path}.endpoints[{i}]", address, "HOST:PORT") from None
        for i, address in enumerate(self.apiserver_endpoints):
            try:
                Endpoint.parse(address)
            except ValueError:
                raise ConfigError(f"{path}.apiserver_endpoints[{i}]", address, "HOST:PORT") from None
        if not 1 <= self.endpoint_concurrency <= 256:
            raise ConfigError(f"{path}.endpoint_concurrency", self.endpoint_concurrency, "1 to 256")
        if self.max_file_size < 1:
            raise ConfigError(f"{path}.max_file_size", self.max_file_size, "a size in bytes above 0")
        for name in ("warning_fraction", "critical_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{path}.{name}", getattr(self, name), "a fraction from 0 to 1")
        if self.critical_before > self.warning_before:  # else a certificate turns critical before warning
            raise ConfigError(f"{path}.critical_before", self.critical_before,
                              f"at most warning_before ({format_duration(self.warning_before)})")
        if self.critical_fraction > self.warning_fraction:
            raise ConfigError(f"{path}.critical_fraction", self.critical_fraction,
                              f"at most warning_fraction ({self.warning_fraction:g})")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(float(self.warning_before), self.warning_fraction, float(self.critical_before),
                          self.critical_fraction)


def _passphrase_tag(passphrase: bytes | None) -> str | None:
    """A digest telling cached PKCS#12 results apart when the passphrase file changes (kept in memory only)."""
    if passphrase is None:
        return None
    return hashlib.blake2b(passphrase, digest_size=16, person=b"wt-certs-cache").hexdigest()


def _kubeadm_sans(context: CollectorContext) -> tuple[str, ...]:
    plane = context.config.control_plane
    names = list(plane.vips)
    if plane.endpoint:
        try:
            names.append(Endpoint.parse(plane.endpoint).host)  # "host:port" or "[v6]:port"
        except ValueError:
            names.append(plane.endpoint.strip("[]"))  # a bare host name or address
    return tuple(names)


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False
_gc_scans = 0
GC_FULL_EVERY = 16  # scans between full collections of what earlier scans froze


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic garbage collection off while a scan allocates, and its survivors frozen after it.

    A cold scan of 10k certificates makes millions of short-lived objects and no reference cycles;
    with the collector on, its passes over everything alive cost a quarter of the scan at 50k, and
    the first pass after the scan walks every object the scan keeps. ``gc.freeze()`` at the end
    moves the survivors out of the collector's sight (refcounting still frees them). Every
    ``GC_FULL_EVERY``-th scan starts by unfreezing and collecting everything once, so a reference
    cycle that died while frozen is freed after at most that many scans. Nested and concurrent
    pauses are counted; the last one out restores the state the first one in found.
    """
    global _gc_pauses, _gc_was_enabled, _gc_scans
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
            _gc_scans += 1
            if _gc_scans % GC_FULL_EVERY == 0 and gc.get_freeze_count():
                gc.unfreeze()
                gc.collect()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.freeze()
                gc.enable()


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


class _Accumulator:
    """Collects records from all sources: deduplicated series, checks, errors, then judges chains."""

    def __init__(self, now: float, thresholds: Thresholds, signatures: SignatureCache | None = None,
                 previous: Reuse | None = None) -> None:
        self.now = now
        self.thresholds = thresholds
        self.previous = Reuse() if previous is None else previous
        self.series: dict[tuple[str, ...], _Series] = {}
        # (series row, seconds left, lifetime fraction left, status): the report's dicts are made when read
        self.rows: list[tuple[tuple[Any, ...], float, float, str]] = []
        self.local: list[CertRecord] = []
        self.index = IssuerIndex(signatures=signatures)
        self.checks: dict[tuple[str, tuple[str, ...]], CheckRecord] = {}
        self.check_samples: dict[tuple[str, tuple[str, ...]], Sample] = {}
        self.chains: dict[int, _ChainOutcome] = {}
        self.errors: list[tuple[str, ItemError]] = []
        self.findings: list[Finding] = []
        self.inputs: list[_InputTally] = []
        self.error_inputs: list[str | None] = []  # per error: the named input it belongs to
        self.notes: list[Note] = []
        self._input: _InputTally | None = None

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
        if key in self.series:
            return  # the same certificate twice at one location (e.g. repeated in a bundle)
        local = record.source in _LOCAL_SOURCES
        series = self.previous.series.get(key) if local else None
        if series is None or series.cert is not cert:
            series = _new_series(key, record, keep_cert=local)
        self.series[key] = series
        status = urgency(cert, self.now, self.thresholds)
        self.rows.append((series.row, round(cert.not_after - self.now, 3),
                          round(cert.lifetime_fraction_left(self.now), 6), status))
        severity = _URGENCY_SEVERITY[status]
        if severity is not Severity.OK:
            self.findings.append(Finding("certs", _subject(record), severity, _urgency_message(cert, status, self.now)))
        if local:
            self.local.append(record)
            self.index.add(cert)

    def _check(self, record: CheckRecord, values: tuple[str, ...] | None = None) -> None:
        """Keep the first judgement per check and label set; ``values``: the labels, when the caller has them."""
        if values is None:
            labels = record.labels
            values = tuple([str(labels.get(n, "")) for n in CHECK_LABELS[record.check]])
        key = (record.check, values)
        if key in self.checks:
            return
        self.checks[key] = record
        if not record.ok:
            severity = record.severity or CHECK_SEVERITY[record.check]
            self.findings.append(Finding("certs", record.subject, severity, record.message))

    def _chain(self, cert: CertInfo) -> ChainResult | None:
        """The chain judgement for ``cert``, or None when there is nothing to judge (issuer not found)."""
        if (cert.self_issued and not cert.is_ca) or not self.index.may_hold_issuer(cert):
            return None
        result = verify_chain(cert, self.index, self.now)
        if result.reason == "issuer_unknown" and result.issuer is None:
            return None
        return result

    def judge_chains(self) -> None:
        """chain_valid and expires_after_issuer for local certificates whose issuer was also found.

        A certificate found at many locations is one object (the parse memo), judged once; a record
        judged the same way as in the last run keeps its check records.
        """
        location_of: dict[int, str] = {}
        for record in self.local:
            location_of.setdefault(id(record.cert), record.location)  # first location wins
        judged: dict[int, Any] = {}
        previous = self.previous.chains
        for record in self.local:
            cert = record.cert
            result = judged.get(id(cert), _UNJUDGED)
            if result is _UNJUDGED:
                result = judged[id(cert)] = self._chain(cert)
            if result is None:
                continue
            where = location_of.get(id(result.issuer), "") if result.issuer is not None else ""
            last = previous.get(id(record))
            if last is not None and last.record is record and last.same_verdict(result, where):
                outcome = last
            else:
                outcome = _ChainOutcome(record, result.valid, result.reason, result.issuer, where,
                                        _chain_checks(record, result, where))
            self.chains[id(record)] = outcome
            for check, values in outcome.checks:
                self._check(check, values)

    def metrics(self) -> tuple[GaugeMetricFamily, ...]:
        """All families in one pass over series and checks, reusing the last run's unchanged samples."""
        not_after = GaugeMetricFamily(_NOT_AFTER, "When the certificate expires (its notAfter), Unix seconds.",
                                      labels=CERT_LABELS)
        not_before = GaugeMetricFamily(_NOT_BEFORE, "When the certificate becomes valid (its notBefore), Unix seconds.",
                                       labels=CERT_LABELS)
        counts: dict[str, int] = dict.fromkeys(SOURCE_ORDER, 0)
        for key, series in self.series.items():
            not_after.samples.append(series.not_after)
            not_before.samples.append(series.not_before)
            counts[key[0]] = counts.get(key[0], 0) + 1  # key[0]: the source
        found = GaugeMetricFamily("watchtower_cert_certificates", "Certificates found in the last run, by source.",
                                  labels=("source",))
        for source, count in counts.items():
            found.add_metric((source,), count)
        errors = GaugeMetricFamily("watchtower_cert_read_errors",
                                   "Items that could not be read in the last run, by source and reason.",
                                   labels=("source", "reason"))
        by_reason: dict[tuple[str, str], int] = {}
        for source, error in self.errors:
            by_reason[(source, error.reason)] = by_reason.get((source, error.reason), 0) + 1
        for labels, count in sorted(by_reason.items()):
            errors.add_metric(labels, count)
        checks = {check: GaugeMetricFamily(f"watchtower_cert_{check}", CHECK_HELP[check], labels=names)
                  for check, names in CHECK_LABELS.items()}
        previous = self.previous.check_samples
        for check_key, record in self.checks.items():
            check, values = check_key
            value = float(record.ok != (check in _PROBLEM_IS_ONE))
            sample = previous.get(check_key)
            if sample is None or sample.value != value:
                names = CHECK_LABELS[check]
                sample_labels = record.labels
                if (len(sample_labels) != len(names) or tuple(sample_labels) != names
                        or tuple(sample_labels.values()) != values):
                    sample_labels = dict(zip(names, values))  # the record's own labels are shared when they are these
                # Sample only reads its labels: sharing the record's read-only mapping is safe
                sample = Sample(checks[check].name, cast(dict[str, str], sample_labels), value)
            self.check_samples[check_key] = sample
            checks[check].samples.append(sample)
        return (not_after, not_before, found, errors, *checks.values())

    def reuse(self) -> Reuse:
        """What the next run may take over (call after ``metrics``)."""
        series = {key: s for key, s in self.series.items() if s.cert is not None}
        return Reuse(series, self.chains, self.check_samples)

    def details(self) -> Mapping[str, Any]:
        return _Details(self.rows, tuple(self.checks.values()), tuple(self.inputs), tuple(self.notes),
                        tuple(self.errors), tuple(self.error_inputs), self.thresholds, self.now)


class _Details(Mapping[str, Any]):
    """The report's facts (``check --output json``, /api/status), built each time they are read.

    A row or check dict per certificate is most of a KiB, and the daemon keeps the last result
    between runs while nothing reads it; the tuples it is built from are kept instead.
    """

    _KEYS = ("certificates", "inputs", "notes", "errors", "checks", "thresholds", "now")

    def __init__(self, rows: list[tuple[tuple[Any, ...], float, float, str]], checks: tuple[CheckRecord, ...],
                 inputs: tuple[_InputTally, ...], notes: tuple[Note, ...], errors: tuple[tuple[str, ItemError], ...],
                 error_inputs: tuple[str | None, ...], thresholds: Thresholds, now: float) -> None:
        self._rows, self._checks, self._inputs, self._notes = rows, checks, inputs, notes
        self._errors, self._error_inputs, self._thresholds, self._now = errors, error_inputs, thresholds, now

    def __len__(self) -> int:
        return len(self._KEYS)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __getitem__(self, key: str) -> Any:
        if key == "certificates":
            return self.judged_rows()
        if key == "inputs":
            return [tally.judged() for tally in self._inputs]
        if key == "notes":
            return [{"location": n.location, "kind": n.kind, "message": n.message} for n in self._notes]
        if key == "errors":
            return [{"source": s, "location": e.location, "reason": e.reason, "detail": e.detail, "input": i}
                    for (s, e), i in zip(self._errors, self._error_inputs)]
        if key == "checks":
            return [{"check": r.check, "ok": r.ok, "subject": r.subject, "message": r.message, **r.labels}
                    for r in self._checks]
        if key == "thresholds":
            return dataclasses.asdict(self._thresholds)
        if key == "now":
            return rfc3339(self._now)
        raise KeyError(key)

    def rows(self) -> list[dict[str, Any]]:
        """The report rows as the scan judged them (times in RFC 3339)."""
        rows = []
        for values, left, fraction, status in self._rows:
            row = dict(zip(_ROW_FIELDS, values))
            row["not_before"], row["not_after"] = rfc3339(row["not_before"]), rfc3339(row["not_after"])
            row["seconds_left"], row["lifetime_fraction_left"], row["status"] = left, fraction, status
            rows.append(row)
        return rows

    def judged_rows(self) -> list[dict[str, Any]]:
        """The report rows with ``severity`` (worst of urgency and the failed checks about that
        certificate) and ``problems`` (those checks), so a row never says OK about a certificate
        that a failed check makes the run warn or fail about."""
        problems: dict[tuple[str, str], list[tuple[Severity, str, str]]] = {}  # (location, serial or "")
        for record in self._checks:
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


def _chain_checks(record: CertRecord, result: ChainResult,
                  where: str) -> tuple[tuple[CheckRecord, tuple[str, ...]], ...]:
    """The chain_valid and expires_after_issuer records (with their label values) for one verdict."""
    cert = record.cert
    serial = cert.serial_hex
    base = {"source": record.source, "location": record.location, "name": record.name,
            "subject_cn": cert.subject_cn, "serial": serial}
    base_values = (record.source, record.location, record.name, cert.subject_cn, serial)
    subject = _subject(record)
    checks: list[tuple[CheckRecord, tuple[str, ...]]] = []
    if not (cert.self_issued and result.valid):  # a root is judged by its own dates alone
        severity = None
        if result.valid:
            message = "chain verifies"
        elif result.reason == UNSUPPORTED_SIGNATURE:
            severity = Severity.WARNING  # cannot tell is not invalid: openssl may well accept it
            message = (f"chain not verified: signed with {_signature_algorithm(cert)}, which this library cannot "
                       f"verify ({UNSUPPORTED_SIGNATURE})")
        else:
            message = f"chain does not verify: {result.reason}"
        checks.append((CheckRecord("chain_valid", {**base, "reason": result.reason}, result.valid, subject, message,
                                   severity), (*base_values, result.reason)))
    issuer = result.issuer
    if issuer is not None and issuer is not cert:
        outlives = expires_after_issuer(cert, issuer)
        message = (f"expires {cert.not_after_dt:%Y-%m-%d} but its issuer {issuer.subject_cn} expires "
                   f"{issuer.not_after_dt:%Y-%m-%d}" if outlives else "issuer outlives it")
        labels = {**base, "issuer_cn": issuer.subject_cn, "issuer_location": where}
        checks.append((CheckRecord("expires_after_issuer", labels, not outlives, subject, message),
                       (*base_values, issuer.subject_cn, where)))
    return tuple(checks)


def _signature_algorithm(cert: CertInfo) -> str:
    """``sha1WithRSAEncryption``-style name of the signature algorithm, for messages."""
    try:
        oid = cert.x509.signature_algorithm_oid
    except Exception:  # noqa: BLE001 - an algorithm the library does not know at all
        return "an unknown algorithm"
    return getattr(oid, "_name", None) or oid.dotted_string


def _new_series(key: tuple[str, ...], record: CertRecord, keep_cert: bool) -> _Series:
    """``keep_cert`` False (Secrets, endpoints: new objects every run) lets the certificate go after the run."""
    cert = record.cert
    labels = dict(zip(CERT_LABELS, key))
    row = (record.source, record.location, record.name, cert.subject, cert.issuer, cert.subject_cn, cert.issuer_cn,
           cert.serial_hex, cert.not_before, cert.not_after, cert.is_ca)  # times: RFC 3339 text when read
    return _Series(cert if keep_cert else None, row, Sample(_NOT_AFTER, labels, cert.not_after),
                   Sample(_NOT_BEFORE, labels, cert.not_before))


def _subject(record: CertRecord) -> str:
    if record.source == "kubeadm":
        return record.name if not record.cert.is_ca or record.name in {"ca", "front-proxy-ca", "etcd/ca"} \
            else f"{record.name} (CA {record.cert.subject_cn})"
    return f"{record.location} ({record.cert.subject_cn})" if record.cert.subject_cn else record.location


def _urgency_message(cert: CertInfo, status: str, now: float) -> str:
    when = f"{cert.not_after_dt:%Y-%m-%d %H:%M} UTC"
    lifetime = format_duration(round(cert.lifetime_seconds / 3600) * 3600) if cert.lifetime_seconds >= 3600 else "short"
    if status == "expired":
        return f"expired {human_duration(now - cert.not_after, detailed=True)} ago ({when}), serial {cert.serial_hex}"
    if status == "not_yet_valid":
        return f"not valid until {cert.not_before_dt:%Y-%m-%d %H:%M} UTC (clock skew or a pre-dated certificate)"
    share = max(cert.lifetime_fraction_left(now), 0) * 100
    return f"expires in {human_duration(cert.not_after - now, detailed=True)} ({when}), {share:.1f}% of its {lifetime} lifetime left"


class _Recorder:
    """What a scan on another thread reports, kept under a lock and replayed into the accumulator
    once (so a scan still hung after its deadline can add nothing more)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, tuple[Any, ...]]] = []
        self._open = True

    def add(self, kind: str, record: object) -> None:
        with self._lock:
            if self._open:
                self._events.append(("add", (kind, record)))

    def begin_input(self, start: InputStart | None) -> None:
        with self._lock:
            if self._open:
                self._events.append(("begin_input", (start,)))

    def replay(self, acc: _Accumulator) -> None:
        with self._lock:
            self._open = False
            events = self._events
        for method, args in events:
            getattr(acc, method)(*args)


class CertsCollector(Collector[CertsSettings]):
    name: ClassVar[str] = "certs"
    title: ClassVar[str] = "Certificates"
    roles: ClassVar[frozenset[Role]] = frozenset({"cluster", "node"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_cert_",)
    Settings: ClassVar[type[CollectorSettings]] = CertsSettings

    def __init__(self, settings: CertsSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.cache = ScanCache()  # the daemon rescans the same files: unchanged ones cost a stat
        self._reuse = Reuse()

    @classmethod
    def unavailable_reason(cls, settings: CertsSettings, context: CollectorContext) -> str | None:
        if settings.paths or settings.kubeconfigs or settings.endpoints or settings.secrets.enabled:
            return None
        if settings.kubeadm is True:
            return None
        if settings.kubeadm == "auto" and kubeadm_present(settings.kubeadm_root, settings.kubelet_pki_dir):
            return None
        return (f"no certificate source: no kubeadm PKI in {settings.kubeadm_root} or {settings.kubelet_pki_dir}, "
                "and no paths, kubeconfigs, endpoints or secrets configured")

    @property
    def certs_settings(self) -> CertsSettings:
        return self.settings

    def sources(self) -> Iterator[CertSource | ItemError]:
        s = self.certs_settings
        use_kubeadm = s.kubeadm is True or (s.kubeadm == "auto" and kubeadm_present(s.kubeadm_root, s.kubelet_pki_dir))
        if use_kubeadm:
            yield KubeadmSource(s.kubeadm_root, s.kubelet_pki_dir, san_names=_kubeadm_sans(self.context),
                                served_endpoints=s.apiserver_endpoints, timeout=float(s.endpoint_timeout),
                                max_bytes=s.max_file_size, cache=self.cache)
        if s.paths:
            passphrase = None
            if s.pkcs12_passphrase is not None:
                try:
                    passphrase = s.pkcs12_passphrase.read().encode()
                except SecretUnavailable as exc:
                    yield ItemError(s.pkcs12_passphrase.describe(), "passphrase_unavailable", str(exc))
            yield FileSource(s.paths, max_bytes=s.max_file_size, passphrase=passphrase, cache=self.cache,
                             passphrase_tag=_passphrase_tag(passphrase))
        if s.kubeconfigs:
            yield KubeconfigSource(s.kubeconfigs, max_bytes=s.max_file_size, cache=self.cache)
        if s.endpoints:
            endpoints = [Endpoint.parse(e) if isinstance(e, str) else Endpoint.parse(e.address, e.server_name, e.ca_file)
                         for e in s.endpoints]
            yield EndpointSource(endpoints, timeout=float(s.endpoint_timeout), concurrency=s.endpoint_concurrency)
        if s.secrets.enabled:
            kube = self.context.config.kubernetes
            yield SecretSource(self.context.kube.api_client, s.secrets.namespaces, s.secrets.types, s.secrets.keys,
                               page_size=kube.page_size, request_timeout=kube.request_timeout)

    def collect(self, budget: float | None = None) -> CollectResult:
        """One scan. With a ``budget`` (seconds), what was read by then is judged and reported,
        and the item the scan was still waiting on is a ``timeout`` error (``check certs --deadline``)."""
        with gc_paused():
            return self._collect(budget)

    def _collect(self, budget: float | None) -> CollectResult:
        acc = _Accumulator(self.context.clock(), self.certs_settings.thresholds, self.cache.signatures, self._reuse)
        self.cache.begin_run()
        try:
            if budget is None:
                self._scan(acc)
            else:
                self._scan_within(acc, budget)
        finally:
            self.cache.end_run()
        acc.begin_input(None)  # closes the last named input
        acc.judge_chains()
        metrics = acc.metrics()
        self._reuse = acc.reuse()
        return CollectResult(
            metrics=metrics,
            errors=tuple(e for _, e in acc.errors),
            findings=tuple(acc.findings),
            details=MappingProxyType(acc.details()),
        )

    def _scan(self, acc: _Accumulator | _Recorder) -> None:
        for source in self.sources():
            acc.begin_input(None)
            if isinstance(source, ItemError):
                acc.add("file", source)
                continue
            if isinstance(source, KubeadmSource):
                acc.begin_input(InputStart(source.root, "kubeadm"))
            elif isinstance(source, SecretSource):
                acc.begin_input(InputStart("kubernetes secrets", "secrets"))
            try:
                for record in source.read():
                    acc.add(source.kind, record)
            except Exception as exc:  # noqa: BLE001 - one broken source must not lose the others
                acc.add(source.kind, ItemError(source.kind, "source_failed", f"{type(exc).__name__}: {exc}"))

    def _scan_within(self, acc: _Accumulator, budget: float) -> None:
        """``_scan`` on a worker thread for at most ``budget`` seconds; a hung read is left behind."""
        recorder = _Recorder()

        def work() -> None:
            try:
                self._scan(recorder)
            finally:
                progress.clear()

        worker = threading.Thread(target=work, name="certs-scan", daemon=True)
        worker.start()
        worker.join(budget)
        recorder.replay(acc)
        if worker.is_alive():
            item = progress.current(worker) or "certificate scan"
            acc.add("file", ItemError(item, reasons.TIMEOUT, f"no answer within the {budget:g}s deadline; "
                                                       "what was read before it is reported"))

    # ---------------------------------------------------------------- CLI

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        return render_table(details, color)

    @classmethod
    def add_check_command(cls, subparsers: Any, common_parent: argparse.ArgumentParser,
                          context_for: Callable[[str | None], CollectorContext]) -> None:
        """``context_for(config_path)``: the application's context builder (collectors do not load configs)."""
        parser = subparsers.add_parser(
            "certs", parents=[common_parent], help="certificate expiry of files, kubeconfigs and TLS endpoints",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description="Report every certificate in PATHs (files, directories, globs; PEM, DER, PKCS#7, "
                        "PKCS#12; kubeconfigs,\nalso found by content in directories) and at TLS endpoints, like "
                        "`kubeadm certs check-expiration`. Needs no config file.\n\n" + EXIT_STATUS_HELP)
        parser.add_argument("paths", nargs="*", metavar="PATH")
        parser.add_argument("--endpoint", action="append", default=[], metavar="HOST:PORT",
                            help="TLS endpoint to fetch the presented chain from (repeatable)")
        parser.add_argument("--server-name", metavar="NAME", help="SNI / host name to verify for --endpoint")
        parser.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify --endpoint with (default: system)")
        parser.add_argument("--kubeadm", nargs="?", const="/etc/kubernetes", metavar="ROOT",
                            help="also discover kubeadm's certificates under ROOT (default /etc/kubernetes)")
        parser.add_argument("--kubelet-pki-dir", default="/var/lib/kubelet/pki", metavar="DIR",
                            help="the kubelet's certificates, with --kubeadm (default /var/lib/kubelet/pki)")
        parser.add_argument("--passphrase-file", metavar="FILE", help="PKCS#12 passphrase file")
        parser.add_argument("--timeout", type=cli_duration, default=Seconds(5), metavar="DURATION",
                            help="per endpoint, e.g. 5s or 1m (default 5s)")
        parser.add_argument("--deadline", type=cli_duration, default=Seconds(120), metavar="DURATION",
                            help="for the whole check (default 2m): then print what was read and name what "
                                 "hung (status UNKNOWN at best)")
        parser.add_argument("--output", "-o", choices=["table", "json"], default="table")
        parser.add_argument("--pretty", action="store_true",
                            help="with --output json: indented for people (default: compact, one line)")
        parser.set_defaults(func=cmd_check_certs, context_for=context_for)


def _check_settings(args: argparse.Namespace) -> CertsSettings:
    endpoints = tuple(EndpointSettings(e, args.server_name, args.ca_file) for e in args.endpoint)
    settings = CertsSettings(
        enabled=True, paths=tuple(args.paths), endpoints=endpoints, kubeadm=bool(args.kubeadm),
        kubeadm_root=args.kubeadm or "/etc/kubernetes", kubelet_pki_dir=args.kubelet_pki_dir, endpoint_timeout=Seconds(args.timeout),
        pkcs12_passphrase=SecretRef(file=args.passphrase_file) if args.passphrase_file else None,
        apiserver_endpoints=(),
    )
    settings.validate("check certs")
    return settings


EXIT_STATUS_HELP = """exit status (the monitoring-plugins convention):
  0  OK        every input was read and every certificate is fine
  1  WARNING   a certificate needs attention soon, or a check warns (e.g. a SHA-1 signature)
  2  CRITICAL  a certificate is expired, not yet valid or about to expire, or a check failed
  3  UNKNOWN   no critical finding, but an input could not be read, matched nothing, held no
               certificate or could not be reached: what it holds is not known
A duplicate certificate is not an error. The last lines name what caused a non-zero status."""

MAX_REASONS = 10  # lines naming what caused the status; the JSON has them all


def check_status(result: CollectResult) -> tuple[Status, list[str]]:
    """The overall status of one ``check certs`` run and the lines that say why (empty for OK)."""
    details = result.details
    worst = max((f.severity for f in result.findings), default=Severity.OK)
    unknown = [i for i in details.get("inputs", ()) if i["status"] == "unknown"]
    stray = [e for e in details.get("errors", ()) if e.get("input") is None]
    status = Status.judge(worst, bool(unknown or stray))
    why: list[str] = []
    if status in (Status.CRITICAL, Status.WARNING):
        why = [f"{f.severity.label}: {f.subject}: {f.message}" for f in sorted(
            result.findings, key=lambda f: -f.severity) if f.severity is Severity(status.value)]
    elif status is Status.UNKNOWN:
        why = [f"unknown: {i['input']}: {i['reason']}: {i['detail']}" for i in unknown]
        why += [f"unknown: {e['location']}: {e['reason']}: {e['detail']}" for e in stray]
    if len(why) > MAX_REASONS:
        why = why[:MAX_REASONS] + [f"... and {len(why) - MAX_REASONS} more (--output json has them all)"]
    return status, why


def cmd_check_certs(args: argparse.Namespace) -> int:
    """``watchtower check certs``: the collector once over the given inputs; no config needed."""
    if not (args.paths or args.endpoint or args.kubeadm):
        raise ConfigError("check certs", None, "at least one PATH, --endpoint or --kubeadm")
    if not 0 < args.deadline <= 86400:
        raise ConfigError("--deadline", args.deadline, "a duration above 0s, at most 1d")
    collector = CertsCollector(_check_settings(args), args.context_for(args.config))
    result = collector.collect(budget=float(args.deadline))
    hung = any(e.reason == reasons.TIMEOUT and "deadline" in e.detail for e in result.errors)
    status, why = check_status(result)  # a hung item is an unread input: UNKNOWN at best
    notes = [n for n in result.details.get("notes", ()) if not (args.kubeadm and n["kind"] == "kubeadm_root")]
    if args.output == "json":
        doc = dict(result.details)
        doc["errors"] = [{"location": e["location"], "reason": e["reason"], "detail": e["detail"], "input": e["input"]}
                         for e in doc["errors"]]
        doc["notes"] = notes
        doc["findings"] = [{"subject": f.subject, "severity": f.severity.label, "message": f.message}
                           for f in sorted(result.findings, key=lambda f: (-f.severity, f.subject))]
        doc["status"] = status.label
        # Compact by default: json's C encoder is only used without indent (3.4x faster at 10k certificates).
        text = json.dumps(doc, indent=2) if args.pretty else json.dumps(doc, separators=(",", ":"))
        sys.stdout.write(text + "\n")
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        lines = render_table(result.details, color) or ["no certificates found"]
        for e in result.details["errors"]:
            lines.append(f"error: {e['location']}: {e['reason']}: {e['detail']}")
        for check in result.details["checks"]:
            if not check["ok"]:
                lines.append(f"check failed: {check['check']}: {check['subject']}: {check['message']}")
        for note in notes:
            lines.append(f"note: {note['location']} {note['message']}")
        shown = status.label.upper()
        if color:
            shown = f"{_COLORS.get(status.label, '')}{shown}\033[0m"
        lines += ["", f"status: {shown} (exit {status.value})", *(f"  {line}" for line in why)]
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    if hung:  # a read still blocks on a worker thread: do not wait for it at interpreter exit
        sys.stderr.flush()
        os._exit(status.value)
    return status.value


_COLORS = {"ok": "\033[32m", "warning": "\033[33m", "critical": "\033[31m", "expired": "\033[31m",
           "not_yet_valid": "\033[31m", "unknown": "\033[35m"}


def _sort_key(row: Mapping[str, Any]) -> tuple[int, str, str, str]:
    source = row["source"]
    rank = SOURCE_ORDER.index(source) if source in SOURCE_ORDER else len(SOURCE_ORDER)
    return rank, row["name"] if source == "kubeadm" else row["location"], row["location"], row["serial"]


def render_table(details: Mapping[str, Any], color: bool = False) -> list[str] | None:
    """Rows like ``kubeadm certs check-expiration``: name, expires, residual time, signing CA, source."""
    rows_in: Iterable[Mapping[str, Any]] = details.get("certificates") or ()
    rows = []
    for row in sorted(rows_in, key=_sort_key):
        end = datetime.datetime.fromisoformat(row["not_after"])
        left = row["seconds_left"]
        residual = "<expired>" if left <= 0 else human_duration(left, detailed=True)
        status = row["status"]
        if status == "ok":  # the certificate's dates are fine: a failed check about it may not be
            status = row.get("severity", "ok")
        shown = status.upper().replace("_", " ")
        if row.get("problems"):
            shown += " (" + ", ".join(row["problems"]) + ")"
        if color:
            shown = f"{_COLORS[status]}{shown}\033[0m"
        certificate = row["name"] if row["source"] == "kubeadm" else row["location"]
        if row["source"] == "kubeadm" and row["is_ca"] and row["name"] not in {"ca", "front-proxy-ca", "etcd/ca"}:
            certificate += " (CA)"
        rows.append((certificate, f"{end:%b %d, %Y %H:%M} UTC", residual, row["issuer_cn"] or "-",
                     row["source"], shown))
    if not rows:
        return None
    return format_table(("CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "SOURCE", "STATUS"), rows)
