"""The small interface every certificate source implements, and the records it yields.

A source is an iterable of records: ``CertRecord`` (one certificate at one location),
``ItemError`` (something it could not read — the rest goes on) and ``CheckRecord`` (a 1/0
judgement such as "this key matches that certificate"). Sources never hold more than they must:
the Secrets source yields while it pages.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Iterator, Mapping
from typing import Protocol

from watchtower.core.results import ItemError
from watchtower.pki import CertInfo, ParseError, key_matches

DEFAULT_MAX_FILE_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class CertRecord:
    """One certificate found by ``source`` at ``location`` (``name``: kubeadm's name or a short one)."""

    source: str
    location: str
    name: str
    cert: CertInfo


@dataclasses.dataclass(frozen=True)
class CheckRecord:
    """One judgement: metric ``check`` (e.g. ``key_matches``) with its labels, ok or not, and why."""

    check: str
    labels: Mapping[str, str]
    ok: bool
    subject: str
    message: str


Record = CertRecord | CheckRecord | ItemError


class CertSource(Protocol):
    """Anything with a ``kind`` (the ``source`` label) that yields records when read."""

    kind: str

    def read(self) -> Iterator[Record]: ...


class ReadFailure(Exception):
    """A file could not be read; carries the ItemError to report."""

    def __init__(self, error: ItemError) -> None:
        super().__init__(error.detail)
        self.error = error


_ERRNO_REASONS = {
    errno.ENOENT: "not_found",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
    errno.ELOOP: "symlink_loop",
    errno.EISDIR: "is_directory",
}


def os_error(location: str, exc: OSError) -> ItemError:
    """An ItemError for an OSError: the reason from errno, the detail from the OS message."""
    reason = _ERRNO_REASONS.get(exc.errno or 0, "read_error")
    return ItemError(location, reason, exc.strerror or str(exc))


def read_capped_stat(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[bytes, os.stat_result]:
    """A file's bytes and the fstat of what was read, refusing more than ``max_bytes`` before reading.

    One ``open``, one ``fstat`` and reads to end of file; follows symlinks (a loop raises ELOOP).
    Raises ReadFailure.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ReadFailure(os_error(path, exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):  # as open() reports it, whatever the directory's size
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
        if info.st_size > max_bytes:
            raise ReadFailure(ItemError(path, "too_large", f"{info.st_size} bytes, the cap is {max_bytes}"))
        chunks, total, limit = [], 0, max_bytes + 1
        regular = stat.S_ISREG(info.st_mode)
        # Ask for what fstat announced: asking for the cap would allocate it for every small file.
        request = info.st_size if regular and info.st_size else 65536
        while total < limit:
            chunk = os.read(fd, min(request, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if regular and total == info.st_size:
                break  # all that fstat announced: no extra read just to see the end of the file
    except OSError as exc:
        raise ReadFailure(os_error(path, exc)) from None
    finally:
        os.close(fd)
    if total > max_bytes:  # a growing file or a special file without a size
        raise ReadFailure(ItemError(path, "too_large", f"more than {max_bytes} bytes"))
    return chunks[0] if len(chunks) == 1 else b"".join(chunks), info


def read_capped(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """A file's bytes, refusing more than ``max_bytes`` before reading them. Raises ReadFailure."""
    return read_capped_stat(path, max_bytes)[0]


def key_check(source: str, location: str, name: str, cert: CertInfo, key_location: str, key_pem: bytes) -> Record:
    """The ``key_matches`` judgement for one certificate and a PEM holding its private key."""
    labels = {"source": source, "location": location, "name": name, "key_location": key_location}
    try:
        ok = key_matches(cert, key_pem)
    except ParseError as exc:
        return ItemError(key_location, exc.reason, exc.detail)
    message = "private key matches" if ok else f"private key {key_location} does not match the certificate"
    return CheckRecord("key_matches", labels, ok, name or location, message)
