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
from collections.abc import Iterator, Mapping
from typing import Protocol

from watchtower.core import progress, reasons
from watchtower.core.regularfile import FileTooLarge, NotRegularFile, open_regular, read_fd
from watchtower.core.results import ItemError, Severity
from watchtower.core.slots import slot_setters
from watchtower.pki import CertInfo, ParseError, key_matches

DEFAULT_MAX_FILE_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class CertRecord:
    """One certificate found by ``source`` at ``location`` (``name``: kubeadm's name or a short one)."""

    source: str
    location: str
    name: str
    cert: CertInfo

    def __init__(self, source: str, location: str, name: str, cert: CertInfo) -> None:
        """Each field written by its slot's own setter (``core.slots``): one record per certificate a scan finds."""
        _set_source(self, source)
        _set_location(self, location)
        _set_name(self, name)
        _set_cert(self, cert)


_set_source, _set_location, _set_name, _set_cert = slot_setters(CertRecord, "source", "location", "name", "cert")


@dataclasses.dataclass(frozen=True, slots=True)
class CheckRecord:
    """One judgement: metric ``check`` (e.g. ``key_matches``) with its labels, ok or not, and why."""

    check: str
    labels: Mapping[str, str]
    ok: bool
    subject: str
    message: str
    severity: Severity | None = None  # of a failure, when not the check's usual one (see CHECK_SEVERITY)


@dataclasses.dataclass(frozen=True)
class InputStart:
    """The records that follow, up to the next ``InputStart``, come from this named input.

    ``watchtower check certs`` judges every input a person named (a path, a glob, an endpoint,
    a kubeadm root) by what it yielded: nothing readable, or no certificate at all, is UNKNOWN.
    """

    input: str
    kind: str  # path | glob | kubeconfig | endpoint | kubeadm | secrets


@dataclasses.dataclass(frozen=True)
class Note:
    """Advice for the person at the terminal (e.g. "looks like a kubeadm root"); not a problem."""

    location: str
    kind: str
    message: str


Record = CertRecord | CheckRecord | ItemError | InputStart | Note


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
    errno.ENOENT: reasons.NOT_FOUND,
    errno.EACCES: reasons.PERMISSION_DENIED,
    errno.EPERM: reasons.PERMISSION_DENIED,
    errno.ELOOP: "symlink_loop",
    errno.EISDIR: reasons.IS_DIRECTORY,
}


def os_error(location: str, exc: OSError) -> ItemError:
    """An ItemError for an OSError: the reason from errno, the detail from the OS message."""
    reason = _ERRNO_REASONS.get(exc.errno or 0, reasons.READ_ERROR)
    return ItemError(location, reason, exc.strerror or str(exc))


def read_capped_stat(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes and the fstat of what was read, refusing more than ``max_bytes`` before reading.

    ``open_regular``: one non-blocking ``open`` and one ``fstat`` that refuses FIFOs, sockets and
    devices (``not_regular_file``) before a byte is read; follows symlinks (a loop raises ELOOP).
    Raises ReadFailure.
    """
    progress.note(path)
    try:
        fd, info = open_regular(path)
    except NotRegularFile as exc:
        raise ReadFailure(ItemError(path, reasons.NOT_REGULAR_FILE, f"{exc.kind}, not a regular file: not read")) from None
    except OSError as exc:
        raise ReadFailure(os_error(path, exc)) from None
    try:
        return read_fd(fd, info, path, max_bytes), info
    except FileTooLarge as exc:
        detail = f"{exc.size} bytes, the cap is {max_bytes}" if exc.size is not None else f"more than {max_bytes} bytes"
        raise ReadFailure(ItemError(path, reasons.TOO_LARGE, detail)) from None
    except OSError as exc:
        raise ReadFailure(os_error(path, exc)) from None
    finally:
        os.close(fd)


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
