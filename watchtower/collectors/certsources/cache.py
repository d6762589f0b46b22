"""Across runs, reuse what unchanged files yielded: the daemon rescans the same files every interval.

A file's records are reused while every file that went into them (the file itself, the key next
to it, files a kubeconfig references, and the absence of the ones that were missing) still has
the same stamp: device, inode, size, mtime and ctime. An unchanged file then costs a ``stat`` and
a dict lookup, and the records are the very ones a cold scan would yield. Records hold
certificates, 1/0 judgements and errors, never key material: a key check is reused only as its
boolean, under the stamps of both the certificate's and the key's files.

Entries not used in a run (the file is gone, or no longer configured) are dropped at its end.
As with ``make``, a rewrite that keeps the inode and size within one tick of the filesystem's
timestamp clock is indistinguishable by stamp; it is seen at the file's next change.
One collect at a time uses a cache (the scheduler never overlaps runs of a collector).
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import os
import stat
import struct
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import cast

from watchtower.collectors.certsources.base import DEFAULT_MAX_FILE_BYTES, ReadFailure, Record, read_capped_stat
from watchtower.pki import CertInfo

# st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns of a regular file packed into 40 bytes (one object,
# not a tuple of five large ints: the daemon keeps one per file), or the errno when stat fails
Stamp = bytes | int
_PACK = struct.Struct("=QQqqq").pack


def stamp_of(info: os.stat_result) -> Stamp | None:
    """The identity of a regular file's current content; None for anything else (never cached)."""
    return regular_stamp(info) if stat.S_ISREG(info.st_mode) else None


def regular_stamp(info: os.stat_result) -> bytes:
    """``stamp_of`` for what the caller knows is a regular file."""
    return _PACK(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


Known = Mapping[str, "os.stat_result | None"]  # stat results the caller has; None: a listing shows it absent


def current_stamp(path: str, known: Known | None = None) -> Stamp | None:
    """``path``'s stamp now (``known`` holds what the caller already knows about some paths)."""
    if known and path in known:
        info = known[path]
        if info is None:
            return errno.ENOENT
    else:
        try:
            info = os.stat(path)
        except OSError as exc:
            return exc.errno or 0
    return stamp_of(info)


class FileReads:
    """Reads files for one cacheable step and remembers the stamp of each file it read or probed."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_FILE_BYTES, known: Known | None = None) -> None:
        self.max_bytes = max_bytes
        self.known = known
        self.stamps: dict[str, Stamp] = {}
        self.cacheable = True  # False once a special file (FIFO, device, directory) is involved

    def _note(self, path: str, stamp: Stamp | None) -> None:
        if stamp is None:
            self.cacheable = False
        else:
            self.stamps.setdefault(path, stamp)

    def read(self, path: str) -> bytes:
        """The file's bytes under the size cap (raises ReadFailure); its stamp is the fstat of what was read."""
        try:
            data, info = read_capped_stat(path, self.max_bytes)
        except ReadFailure:
            self._note(path, current_stamp(path))
            raise
        self._note(path, stamp_of(info))
        return data

    def is_file(self, path: str) -> bool:
        """``os.path.isfile``, remembered: a key file appearing later must invalidate the records."""
        stamp = current_stamp(path, self.known)
        self._note(path, stamp)
        return isinstance(stamp, bytes)


def key_path_of(path: str) -> str:
    """Where the private key of the certificate in ``path`` would be: ``NAME.key`` beside it.

    A file's key path is asked for three times in a row while it is read (listing, key check,
    cache entry): the last answer is kept (one tuple, replaced whole: safe across threads).
    """
    global _last_key_path
    last = _last_key_path
    if last[0] == path:
        return last[1]
    key_path = os.path.splitext(path)[0] + ".key"
    _last_key_path = (path, key_path)
    return key_path


_last_key_path = ("", os.path.splitext("")[0] + ".key")


# In an entry's stamps, stands for ``key_path_of`` its first path: nearly every certificate file
# has its (mostly absent) key probed, and that path string would be kept once per file.
_KEY_BESIDE = object()


@dataclasses.dataclass(slots=True)
class _Entry:
    stamps: tuple[object, ...]  # path, stamp, path, stamp, ...: no pair tuple per file
    records: tuple[Record, ...]
    run: int

    @classmethod
    def of(cls, stamps: Mapping[str, Stamp], records: tuple[Record, ...], run: int) -> _Entry:
        if len(stamps) == 2:  # the usual entry: a certificate file and its (mostly absent) key beside it
            (path, stamp), (other, other_stamp) = stamps.items()
            return cls((path, stamp, _KEY_BESIDE if other == key_path_of(path) else other, other_stamp), records, run)
        pairs = iter(stamps.items())
        first = next(pairs, None)
        if first is None:
            return cls((), records, run)
        beside = key_path_of(first[0])
        flat = first + tuple(itertools.chain.from_iterable(
            (_KEY_BESIDE if path == beside else path, stamp) for path, stamp in pairs))
        return cls(flat, records, run)

    def unchanged(self, known: Known | None) -> bool:
        stamps = self.stamps
        for i in range(0, len(stamps), 2):
            path = stamps[i]
            if path is _KEY_BESIDE:
                path = key_path_of(cast(str, stamps[0]))
            if current_stamp(cast(str, path), known) != stamps[i + 1]:
                return False
        return True


class ScanCache:
    """Records per cacheable step (one file, one kubeconfig) and signature results, across runs.

    ``memo`` maps PEM certificate blocks (by their DER's SHA-256) to their ``CertInfo`` within one run, so a certificate
    repeated in many files is parsed once; it is emptied at the end of every run.
    """

    def __init__(self, max_entries: int = 200_000, max_signatures: int = 200_000) -> None:
        self.max_entries = max_entries
        self.max_signatures = max_signatures
        self.signatures: dict[tuple[bytes, bytes], bool | None] = {}  # None: algorithm not checkable
        self.memo: dict[bytes, CertInfo] = {}
        self._entries: dict[Hashable, _Entry] = {}
        self._run = 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin_run(self) -> None:
        self._run += 1
        self.memo = {}

    def end_run(self) -> None:
        """Forget entries this run did not use, the memo, and the oldest signatures beyond the cap."""
        run = self._run
        self._entries = {key: entry for key, entry in self._entries.items() if entry.run == run}
        self.memo = {}
        if len(self.signatures) > self.max_signatures:
            keep = list(self.signatures.items())[-self.max_signatures // 2:]
            self.signatures = dict(keep)

    def has(self, key: Hashable) -> bool:
        return key in self._entries

    def put_lone_file(self, key: tuple[str, Hashable], stamp: bytes, records: tuple[Record, ...]) -> None:
        """The entry ``records`` would make for ``key``'s file read with stamp ``stamp`` and its
        ``NAME.key`` absent (as ``FileReads`` notes them: the file, then the key path), not cached yet."""
        if len(self._entries) < self.max_entries:
            self._entries[key] = _Entry((key[0], stamp, _KEY_BESIDE, errno.ENOENT), records, self._run)

    def records(self, key: Hashable, produce: Callable[[FileReads], Iterator[Record]], max_bytes: int,
                known: Known | None = None) -> tuple[Record, ...]:
        """The records of ``produce`` for ``key``: reused while its files are unchanged, else produced now."""
        entry = self._entries.get(key)
        if entry is not None and entry.unchanged(known):
            entry.run = self._run
            return entry.records
        reads = FileReads(max_bytes, known)
        records = tuple(produce(reads))
        if reads.cacheable and (key in self._entries or len(self._entries) < self.max_entries):
            self._entries[key] = _Entry.of(reads.stamps, records, self._run)
        else:
            self._entries.pop(key, None)
        return records


def cached_records(cache: ScanCache | None, key: Hashable, produce: Callable[[FileReads], Iterator[Record]],
                   max_bytes: int, known: Known | None = None) -> Iterator[Record]:
    """``produce``'s records through ``cache`` when there is one, else read fresh."""
    if cache is None:
        yield from produce(FileReads(max_bytes, known))
    else:
        yield from cache.records(key, produce, max_bytes, known)

