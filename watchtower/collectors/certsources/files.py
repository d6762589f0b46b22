"""Certificates in files and directories, by path or glob: PEM, DER, PKCS#7, PKCS#12.

Explicit files and glob matches must hold certificates (anything else is an error with a
reason, except a recognised key, CSR or public key, skipped quietly). Directory walks follow
symlinks with loop detection and look at certificate-like names (``CERT_SUFFIXES``), so a
README or a key next to the certificates is not an error, and at kubeconfig-like names
(``KUBECONFIG_SUFFIXES``, files named ``config``) by content: kubeadm's ``admin.conf`` or
``kubelet.conf`` carry one-year client certificates under names no certificate suffix matches.
A ``NAME.key`` next to ``NAME.crt`` (or a key inside the same PEM) is checked against the
certificate. A kubeconfig given as a path is read as one.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import stat
from collections.abc import Hashable, Iterator

from watchtower.collectors.certsources.base import (
    DEFAULT_MAX_FILE_BYTES,
    CertRecord,
    CheckRecord,
    InputStart,
    Note,
    ReadFailure,
    Record,
    key_check,
    os_error,
    read_capped,
)
from watchtower.collectors.certsources.cache import FileReads, ScanCache, cached_records, key_path_of
from watchtower.collectors.certsources.coldfile import cold_record
from watchtower.collectors.certsources.kubeconfigs import KubeconfigSource
from watchtower.core import reasons
from watchtower.core.regularfile import open_regular
from watchtower.core.results import ItemError
from watchtower.pki import CertInfo, model, parse_certificates
from watchtower.pki.parse import PKCS12_SUFFIXES

CERT_SUFFIXES = (".crt", ".pem", ".cer", ".cert", ".der", ".p7b", ".p7c", ".p12", ".pfx")
KUBECONFIG_SUFFIXES = (".conf", ".kubeconfig", ".yaml", ".yml")
_SNIFF_BYTES = 4096
# A kubeconfig's top-level keys, at the start of a line (kubectl and kubeadm write them so).
_KUBECONFIG_KEYS = re.compile(rb"^(?:clusters|users|contexts|current-context):|^kind: *Config\b", re.MULTILINE)
KUBEADM_HINT = "looks like a kubeadm root: `--kubeadm {root}` also finds the kubelet certificates"


def kubeconfig_name(name: str) -> bool:
    """Might a file of this name be a kubeconfig (and so worth a sniff in a directory walk)?"""
    lower = name.lower()
    return lower == "config" or lower.endswith(KUBECONFIG_SUFFIXES)


def looks_like_kubeconfig(head: bytes) -> bool:
    """A cheap sniff of a file's first bytes: top-level kubeconfig keys, no certificate block first."""
    return _KUBECONFIG_KEYS.search(head[:_SNIFF_BYTES]) is not None


def kubeadm_root_hint(directory: str) -> str | None:
    """The hint for a scanned directory that holds kubeadm's layout (``pki/ca.crt`` and ``admin.conf``)."""
    if os.path.isfile(os.path.join(directory, "pki", "ca.crt")) and os.path.isfile(os.path.join(directory, "admin.conf")):
        return KUBEADM_HINT.format(root=directory)
    return None
READ_BACK_MAX_BYTES = 64 * 1024 * 1024


def read_back_der(path: str, fingerprint: bytes) -> bytes | None:
    """The DER of the certificate in ``path`` whose SHA-256 is ``fingerprint`` (None: not there now).

    A certificate kept between runs may have let its DER go (``CertInfo.shed``); a check that
    needs it again reads it back from the file it came from.
    """
    try:
        data = read_capped(path, READ_BACK_MAX_BYTES)
    except ReadFailure:
        return None
    for cert in parse_certificates(data, name_hint=path).certificates:
        if cert.fingerprint == fingerprint:
            return cert.der
    return None


model.DER_LOADER = read_back_der
_GLOB_CHARS = frozenset("*?[")
MAX_WALK_DEPTH = 64  # directories below a configured one; deeper is an error, never a RecursionError


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


# A file of a directory opened relative to its fd skips the kernel's lookup of the directory's path
# (~0.4 µs); the directory's own open and close cost ~4 µs, so only a listing this long gets an fd.
_DIRECTORY_FD_ENTRIES = 16
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _directory_fd(cache: ScanCache | None, path: str, listing: list[os.DirEntry[str]]) -> int | None:
    """An fd of the directory at ``path`` for the fused read (``cold_record``) to open its files
    relative to, when there is a cache (a fused read) and a listing long enough to pay for it; None
    otherwise, or when it will not open (the files are then opened by their paths, as before).

    Opened just after the listing: a directory renamed or replaced during the walk is read as
    listed. Each entry's stamp is the fstat of the file read, so the next run's stat by path sees
    any change."""
    if cache is None or len(listing) < _DIRECTORY_FD_ENTRIES:
        return None
    try:
        return os.open(path, _DIRECTORY_FLAGS)
    except OSError:
        return None


def _close_directory(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _key_names(listing: list[os.DirEntry[str]]) -> frozenset[str]:
    """The ``*.key`` names of a directory listing: the only ones a certificate's ``siblings`` test asks for."""
    return frozenset([entry.name for entry in listing if entry.name.endswith(".key")])


@dataclasses.dataclass
class FileSource:
    """Files, directories and globs (``paths``) with a size cap and an optional PKCS#12 passphrase.

    With a ``cache``, an unchanged file's records come from the previous run.
    """

    paths: tuple[str, ...]
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    passphrase: bytes | None = dataclasses.field(default=None, repr=False)
    kind: str = "file"
    cache: ScanCache | None = dataclasses.field(default=None, repr=False, compare=False)
    passphrase_tag: Hashable = None  # tells cached PKCS#12 results apart when the passphrase changes
    _scopes: dict[str | None, tuple[Hashable, ...]] = dataclasses.field(default_factory=dict, init=False, repr=False,
                                                                       compare=False)

    def read(self) -> Iterator[Record]:
        for pattern in self.paths:
            # Each input is read whole, even where inputs overlap (`a.pem a.pem`, `DIR DIR/a.pem`), so
            # each is judged by what it holds; the collector reports a certificate once per location.
            seen: set[str] = set()
            pattern = os.path.expanduser(pattern)
            if _GLOB_CHARS & set(pattern):
                yield InputStart(pattern, "glob")
                try:
                    matches = sorted(glob.glob(pattern, recursive=True))
                except RecursionError:  # glob's ``**`` recurses per directory level
                    yield ItemError(pattern, reasons.TOO_DEEP, "directories nested too deep to match: not walked")
                    continue
                if not matches:
                    yield ItemError(pattern, reasons.NOT_FOUND, "the glob matches nothing")
            else:
                yield InputStart(pattern, "path")
                matches = [pattern]
            for path in matches:
                yield from self._read_path(path, seen, explicit=True)

    def _read_path(self, path: str, seen: set[str], explicit: bool) -> Iterator[Record]:
        try:
            info = os.stat(path)
        except OSError as exc:
            yield os_error(path, exc)
            return
        if stat.S_ISDIR(info.st_mode):
            hint = kubeadm_root_hint(path) if explicit else None
            if hint is not None:
                yield Note(path, "kubeadm_root", hint)
            yield from self._walk(path, seen, {(info.st_dev, info.st_ino)})
        elif path not in seen:
            seen.add(path)
            yield from self.read_file(path, explicit, info=info)

    def _walk(self, directory: str, seen: set[str], ancestors: set[tuple[int, int]]) -> Iterator[Record]:
        """Depth first, in name order, with an explicit stack: a tree nested thousands deep costs
        no recursion, and directories more than ``MAX_WALK_DEPTH`` below ``directory`` are an error."""
        try:
            top = sorted(os.scandir(directory), key=_entry_name)
        except OSError as exc:
            yield os_error(directory, exc)
            return
        # per directory: its entries, the directories above it, the ``*.key`` names in it (all that
        # ``siblings`` is asked about: a certificate's key name always ends so), and its fd or None
        # (``_directory_fd``), closed when the directory is done or the walk ends in any way
        stack: list[tuple[Iterator[os.DirEntry[str]], frozenset[tuple[int, int]], frozenset[str], int | None]] = []
        scope = self._scope(None)
        cache, kind, max_bytes = self.cache, self.kind, self.max_bytes
        try:
            stack.append((iter(top), frozenset(ancestors), _key_names(top), _directory_fd(cache, directory, top)))
            while stack:
                entries, above, names, dir_fd = stack[-1]
                for entry in entries:  # until a directory to go down into (``break``) or the last entry
                    try:  # a plain regular file (no symlink) by the listing's own type: its stat waits until the cache wants one
                        plain = entry.is_file(follow_symlinks=False)
                    except OSError:
                        plain = False
                    lower_name = entry.name.lower()
                    if plain and lower_name.endswith(CERT_SUFFIXES):
                        path = entry.path
                        if path not in seen:
                            seen.add(path)
                            record = None if cache is None else cold_record(
                                cache, (path, scope), entry.name, lower_name, kind, max_bytes, names, dir_fd)
                            if record is not None:
                                yield record
                            else:
                                yield from self.read_file(path, explicit=False, siblings=names)
                        continue
                    try:
                        info = entry.stat()  # follows symlinks
                    except OSError as exc:
                        if lower_name.endswith(CERT_SUFFIXES) or kubeconfig_name(entry.name) or entry.is_symlink():
                            yield os_error(entry.path, exc)
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        key = (info.st_dev, info.st_ino)
                        if key in above:
                            yield ItemError(entry.path, "symlink_loop", "leads back to a directory above it")
                            continue
                        if len(stack) >= MAX_WALK_DEPTH:
                            yield ItemError(entry.path, reasons.TOO_DEEP,
                                            f"more than {MAX_WALK_DEPTH} directories below {directory}: not walked")
                            continue
                        try:
                            below = sorted(os.scandir(entry.path), key=_entry_name)
                        except OSError as exc:
                            yield os_error(entry.path, exc)
                            continue
                        stack.append((iter(below), above | {key}, _key_names(below),
                                      _directory_fd(cache, entry.path, below)))
                        break
                    if not stat.S_ISREG(info.st_mode) or entry.path in seen:
                        continue
                    if lower_name.endswith(CERT_SUFFIXES):
                        seen.add(entry.path)
                        yield from self.read_file(entry.path, explicit=False, info=info, siblings=names)
                    elif kubeconfig_name(entry.name):
                        seen.add(entry.path)
                        yield from self._kubeconfig_candidate(entry.path, info)
                else:
                    _close_directory(stack.pop()[3])
        finally:  # the walk ended early: an error, or its consumer stopped (a closed generator)
            for frame in stack:
                _close_directory(frame[3])

    def _kubeconfig_candidate(self, path: str, info: os.stat_result) -> Iterator[Record]:
        """A ``*.conf``/``*.yaml``/``config`` file met in a walk: read as a kubeconfig if it sniffs like one.

        Anything else (a manifest, an nginx.conf) is skipped quietly; one that cannot be opened is
        reported, since it may be the kubeconfig whose certificate expires next.
        """
        try:
            fd, _info = open_regular(path)  # the walk checked, but it may have been swapped since
            try:
                head = os.read(fd, _SNIFF_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:
            yield os_error(path, exc)
            return
        if not looks_like_kubeconfig(head):
            return
        source = KubeconfigSource((), max_bytes=self.max_bytes, kind=self.kind, cache=self.cache)
        yield from source.read_path(path)

    def _scope(self, name: str | None) -> tuple[Hashable, ...]:
        """What besides the path tells cache entries apart: one tuple per name and source, not per file."""
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes[name] = ("file", self.kind, name, self.max_bytes, self.passphrase_tag)
        return scope

    def read_file(self, path: str, explicit: bool = True, name: str | None = None,
                  info: os.stat_result | None = None, siblings: frozenset[str] | None = None) -> Iterator[Record]:
        """Records of one file. ``info``: its stat, when the caller has it; ``siblings``: the names in
        its directory (its ``*.key`` names at least), when the caller listed it (a ``NAME.key`` not
        among them needs no stat)."""
        key = (path, self._scope(name))
        known: dict[str, os.stat_result | None] = {} if info is None else {path: info}
        if siblings is not None:
            key_path = key_path_of(path)
            if key_path != path and os.path.basename(key_path) not in siblings:
                known[key_path] = None  # absent, as a stat would have said
        yield from cached_records(self.cache, key, lambda reads: self._read_file(path, name, reads), self.max_bytes,
                                  known or None)

    def _read_file(self, path: str, name: str | None, reads: FileReads) -> Iterator[Record]:
        try:
            data = reads.read(path)
        except ReadFailure as failure:
            yield failure.error
            return
        memo = self.cache.memo if self.cache is not None else None
        parsed = parse_certificates(data, passphrase=self.passphrase, name_hint=path, memo=memo)
        if not parsed.certificates and looks_like_kubeconfig(data):
            source = KubeconfigSource((), max_bytes=self.max_bytes, kind=self.kind, cache=self.cache)
            yield from source.read_kubeconfig(path, data, reads=reads)
            return
        short = os.path.basename(path) if name is None else name
        for error in parsed.errors:
            yield ItemError(path, error.reason, error.detail)
        readable_again = not path.lower().endswith(PKCS12_SUFFIXES)  # no passphrase needed to read it back
        for cert in parsed.certificates:
            if readable_again:
                cert.note_origin(path)
            yield CertRecord(self.kind, path, short, cert)
        if parsed.bundled_key_matches is not None:
            ok = parsed.bundled_key_matches
            labels = {"source": self.kind, "location": path, "name": short, "key_location": path}
            yield CheckRecord("key_matches", labels, ok, short, "PKCS#12 key matches" if ok else
                              "the private key in the PKCS#12 file does not match its certificate")
        elif parsed.certificates:
            yield from self._key_check(path, short, parsed.certificates[0], data if parsed.has_private_key else None,
                                       reads)

    def _key_check(self, path: str, name: str, leaf: CertInfo, inline_key: bytes | None,
                   reads: FileReads) -> Iterator[Record]:
        if inline_key is not None:
            yield key_check(self.kind, path, name, leaf, path, inline_key)
            return
        key_path = key_path_of(path)
        if key_path != path and reads.is_file(key_path):
            try:
                key_pem = reads.read(key_path)
            except ReadFailure as failure:
                yield failure.error
                return
            yield key_check(self.kind, path, name, leaf, key_path, key_pem)
