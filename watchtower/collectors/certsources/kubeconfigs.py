"""Certificates in kubeconfig files: every cluster CA and user client certificate.

Embedded ``*-data`` fields are located as ``PATH#cluster:NAME`` / ``PATH#user:NAME``; file
references are resolved relative to the kubeconfig's directory (as kubectl does) and located by
the file they point to. A user's key (embedded or by file) is checked against its certificate.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Iterator

from watchtower.collectors.certsources.base import (
    DEFAULT_MAX_FILE_BYTES,
    CertRecord,
    CheckRecord,
    InputStart,
    ReadFailure,
    Record,
    key_check,
)
from watchtower.collectors.certsources.cache import FileReads, ScanCache, cached_records
from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.pki import (
    CertInfo,
    KubeconfigEntry,
    ParseError,
    kubeconfig_entries,
    load_kubeconfig,
    parse_certificates,
)


def ca_match_check(kubeconfig: str, location: str, name: str, ca: CertInfo, cluster_ca: CertInfo,
                   cluster_ca_location: str) -> CheckRecord:
    """``kubeconfig_ca_matches_cluster_ca``: is this kubeconfig's CA the cluster's ca.crt?"""
    ok = ca.fingerprint_sha256 == cluster_ca.fingerprint_sha256
    labels = {"location": location, "name": name, "cluster_ca": cluster_ca_location}
    message = ("embedded CA is the cluster CA" if ok else
               f"CA in {location} (serial {ca.serial_hex}) differs from {cluster_ca_location} "
               f"(serial {cluster_ca.serial_hex})")
    return CheckRecord("kubeconfig_ca_matches_cluster_ca", labels, ok, name or kubeconfig, message)


@dataclasses.dataclass
class KubeconfigSource:
    """Kubeconfig files by path or glob; with a ``cache``, an unchanged kubeconfig's records are reused."""

    paths: tuple[str, ...]
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    kind: str = "kubeconfig"
    cache: ScanCache | None = dataclasses.field(default=None, repr=False, compare=False)

    def read(self) -> Iterator[Record]:
        for pattern in self.paths:
            pattern = os.path.expanduser(pattern)
            yield InputStart(pattern, "kubeconfig")
            matches = sorted(glob.glob(pattern)) if set("*?[") & set(pattern) else [pattern]
            if not matches:
                yield ItemError(pattern, reasons.NOT_FOUND, "the glob matches nothing")
            for path in matches:
                yield from self.read_path(path)

    def read_path(self, path: str, *, name: str | None = None, cluster_ca: CertInfo | None = None,
                  cluster_ca_location: str = "") -> Iterator[Record]:
        """Read the kubeconfig at ``path`` and yield its records (see ``read_kubeconfig``)."""
        key = ("kubeconfig", self.kind, path, name, self.max_bytes,
               cluster_ca.fingerprint if cluster_ca is not None else None, cluster_ca_location)

        def produce(reads: FileReads) -> Iterator[Record]:
            try:
                data = reads.read(path)
            except ReadFailure as failure:
                yield failure.error
                return
            yield from self.read_kubeconfig(path, data, name=name, cluster_ca=cluster_ca,
                                            cluster_ca_location=cluster_ca_location, reads=reads)

        yield from cached_records(self.cache, key, produce, self.max_bytes)

    def read_kubeconfig(
        self, path: str, data: bytes, *, name: str | None = None,
        cluster_ca: CertInfo | None = None, cluster_ca_location: str = "", reads: FileReads | None = None,
    ) -> Iterator[Record]:
        """Records for one kubeconfig. With ``cluster_ca``, cluster CAs are compared to it instead
        of being reported as certificates (kubeadm's kubeconfigs all embed pki/ca.crt). Files it
        references are read through ``reads``, so a cache sees them too."""
        reads = FileReads(self.max_bytes) if reads is None else reads
        try:
            entries = kubeconfig_entries(load_kubeconfig(data))
        except ParseError as exc:
            yield ItemError(path, exc.reason, exc.detail)
            return
        base = os.path.dirname(os.path.abspath(path))
        for entry in entries:
            label = entry.name if name is None else name
            embedded_location = path + entry.fragment
            certs, location = yield from self._entry_certs(entry, embedded_location, base, reads)
            if not certs:
                continue
            if entry.kind == "cluster" and cluster_ca is not None:
                yield ca_match_check(path, embedded_location, label, certs[0], cluster_ca, cluster_ca_location)
                continue
            for cert in certs:
                yield CertRecord(self.kind, location, label, cert)
            if entry.kind == "user":
                yield from self._key(entry, certs[0], location, label, base, reads)

    def _entry_certs(self, entry: KubeconfigEntry, embedded_location: str, base: str,  # type: ignore[no-untyped-def]
                     reads: FileReads):
        """(certificates, location) for one entry; yields its errors on the way."""
        if entry.error is not None:
            yield ItemError(embedded_location, entry.error.reason, entry.error.detail)
            return (), embedded_location
        if entry.data is not None:
            data, location = entry.data, embedded_location
        else:
            location = os.path.normpath(os.path.join(base, entry.file or ""))
            try:
                data = reads.read(location)
            except ReadFailure as failure:
                yield ItemError(f"{embedded_location} -> {location}", failure.error.reason, failure.error.detail)
                return (), location
        parsed = parse_certificates(data, memo=self.cache.memo if self.cache is not None else None)
        for error in parsed.errors:
            yield ItemError(location, error.reason, error.detail)
        return parsed.certificates, location

    def _key(self, entry: KubeconfigEntry, cert: CertInfo, location: str, name: str, base: str,
             reads: FileReads) -> Iterator[Record]:
        if entry.key_data is not None:
            yield key_check(self.kind, location, name, cert, location + " (client-key-data)", entry.key_data)
        elif entry.key_file is not None:
            key_path = os.path.normpath(os.path.join(base, entry.key_file))
            try:
                key_pem = reads.read(key_path)
            except ReadFailure as failure:
                yield failure.error
                return
            yield key_check(self.kind, location, name, cert, key_path, key_pem)
