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
from typing import Protocol, Union

from watchtower.collectors.base import ItemError
from watchtower.pki import CertInfo

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


Record = Union[CertRecord, CheckRecord, ItemError]


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


def read_capped(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """A file's bytes, refusing more than ``max_bytes`` before reading them. Raises ReadFailure."""
    try:
        with open(path, "rb") as handle:  # follows symlinks; a loop raises ELOOP
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise ReadFailure(ItemError(path, "too_large", f"{size} bytes, the cap is {max_bytes}"))
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ReadFailure(os_error(path, exc)) from None
    if len(data) > max_bytes:  # a growing file or a special file without a size
        raise ReadFailure(ItemError(path, "too_large", f"more than {max_bytes} bytes"))
    return data
