"""Reading files that must be regular files: never block on a FIFO, never read a device.

Every file watchtower reads by a configured path (config, secrets, TLS files, certificates,
state) goes through ``open_regular``: a non-blocking ``open`` (a FIFO opens at once instead of
waiting for a writer) and an ``fstat`` that refuses anything but a regular file before a byte
is read.
"""

from __future__ import annotations

import errno
import os
import stat

_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"))


class NotRegularFile(OSError):
    """The path is a FIFO, socket or device: not opened for reading (reason ``not_regular_file``)."""

    def __init__(self, path: str, mode: int) -> None:
        kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")
        super().__init__(errno.EINVAL, f"{kind}, not a regular file", path)
        self.kind = kind


class FileTooLarge(OSError):
    """More bytes than the caller's cap; nothing (or only the cap) was read."""

    def __init__(self, path: str, size: int | None, cap: int) -> None:
        what = f"{size} bytes" if size is not None else f"more than {cap} bytes"
        super().__init__(errno.EFBIG, f"{what}, the cap is {cap}", path)
        self.size = size
        self.cap = cap


# read-only, and never blocking on a FIFO or a device, nor making one the controlling terminal
OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """A read-only fd of the regular file at ``path`` and its fstat; the caller closes the fd.

    Raises OSError: ``IsADirectoryError`` for a directory, ``NotRegularFile`` for a FIFO, socket
    or device, the open's own error otherwise (ENOENT, EACCES, ELOOP, ...).
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path, info.st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_fd(fd: int, info: os.stat_result, path: str, max_bytes: int) -> bytes:
    """The rest of an ``open_regular`` fd, at most ``max_bytes`` (``FileTooLarge`` beyond)."""
    if info.st_size > max_bytes:
        raise FileTooLarge(path, info.st_size, max_bytes)
    chunks, total, limit = [], 0, max_bytes + 1
    request = info.st_size or 65536  # ask for what fstat announced, not for the cap
    while total < limit:
        chunk = os.read(fd, min(request, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total == info.st_size:
            break  # all that fstat announced: no extra read just to see the end of the file
    if total > max_bytes:  # a file growing while read
        raise FileTooLarge(path, None, max_bytes)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_regular(path: str, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes``. Raises OSError (see above)."""
    fd, info = open_regular(path)
    try:
        return read_fd(fd, info, path, max_bytes)
    finally:
        os.close(fd)


def read_regular_text(path: str, max_bytes: int) -> str:
    """``read_regular`` decoded as UTF-8. Raises OSError or UnicodeDecodeError."""
    return read_regular(path, max_bytes).decode("utf-8")
