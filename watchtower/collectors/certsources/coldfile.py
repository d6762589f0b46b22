"""The cold read of a plain certificate file met in a directory walk, without the layering.

A cold scan of 10k files spent about as long passing each one through the cache, the per-file
read helpers, the parse dispatch and their generators as on reading and parsing it. The usual
file — one PEM CERTIFICATE block in plain base64, no ``NAME.key`` beside it, not cached yet — is
read here in one function and its cache entry made directly. It answers only where
``FileSource.read_file`` must give the same record, entry and memo (same parse function and memo,
same stamps); anything else (an error, another format, a key beside it) steps aside (None), and
the caller takes the general path, which reads the file again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Hashable

from watchtower.collectors.certsources.base import CertRecord
from watchtower.collectors.certsources.cache import ScanCache, key_path_of, regular_stamp
from watchtower.core import progress
from watchtower.core.regularfile import OPEN_FLAGS
from watchtower.pki.parse import PKCS12_SUFFIXES, load_plain_pem_certificate, single_plain_der


def cold_record(cache: ScanCache, key: tuple[str, Hashable], name: str, lower_name: str, kind: str, max_bytes: int,
                siblings: frozenset[str], dir_fd: int | None = None) -> CertRecord | None:
    """The record ``FileSource.read_file(path, explicit=False, siblings=siblings)`` would yield for
    ``key = (path, scope)`` of a plain listed file (``name``: its name in the listing, ``lower_name``
    lower-cased; ``dir_fd``: an fd of the listed directory to open ``name`` relative to, else the
    path is opened), with its cache entry stored; None: not this case."""
    if cache.has(key) or lower_name.endswith(_NOT_HERE):  # cached: the warm path's, asked first
        return None
    path = key[0]
    # a key to check beside it: the general path (``siblings`` holds only ``*.key`` names, so this
    # is asked only in a directory with keys)
    if siblings and os.path.basename(key_path_of(path)) in siblings:
        return None
    progress.note(path)
    read = _read_whole(path, name, dir_fd, max_bytes)
    if read is None:
        return None
    data, stamp = read
    der = single_plain_der(data)
    if der is None:
        return None
    fingerprint = hashlib.sha256(der).digest()  # the memo's key
    cert = cache.memo.get(fingerprint)  # met earlier in this run: the same object, as ``parse_certificates(memo=)`` gives
    if cert is None:
        cert = load_plain_pem_certificate(der, path, fingerprint)
        if cert is None:
            return None
        cache.memo[fingerprint] = cert
    else:
        cert.note_origin(path)
    record = CertRecord(kind, path, name, cert)
    cache.put_lone_file(key, stamp, (record,))
    return record


_NOT_HERE = (*PKCS12_SUFFIXES, ".key")


def _read_whole(path: str, name: str, dir_fd: int | None, max_bytes: int) -> tuple[bytes, bytes] | None:
    """The bytes of a regular file read in one ``read`` of its fstat size, and the stamp of that
    fstat (None: anything else; the general path then reads it and reports what went wrong)."""
    try:  # flags as ``open_regular``'s
        fd = os.open(path, OPEN_FLAGS) if dir_fd is None else os.open(name, OPEN_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        size = info.st_size
        if not stat.S_ISREG(info.st_mode) or not 0 < size <= max_bytes:
            return None
        data = os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (data, regular_stamp(info)) if len(data) == size else None
