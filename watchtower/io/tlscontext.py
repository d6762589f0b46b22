"""Client SSL contexts, one per (CA file, client certificate, key, verify), made again when a file changes.

Building a context costs far more than a handshake (loading the system trust store takes tens
of milliseconds, a CA bundle or a key a few), and an ``SSLContext`` may be shared by threads, so
probes that run every few seconds share one. A context is keyed by its file paths and stamped
with each file's identity and times: a renewed CA, certificate or key (kubeadm renews them in
place) is loaded on the next probe after the change, never served from a stale context.
Loading errors propagate to the caller (nothing is cached for them).
"""

from __future__ import annotations

import os
import ssl
import threading

from watchtower.core.regularfile import open_regular

MAX_CONTEXTS = 64  # distinct (CA, cert, key) sets a process probes with; the oldest goes beyond it

_Stamp = tuple[tuple[str, object], ...]
_Key = tuple[str | None, str | None, str | None, bool]
_contexts: dict[_Key, tuple[_Stamp, ssl.SSLContext]] = {}
_lock = threading.Lock()


def _stamp(ca_file: str | None, cert_file: str | None, key_file: str | None, verify: bool) -> _Stamp:
    """What a context was loaded from, as it is now: file identity and times (or the errno)."""
    paths = [p for p in (cert_file, key_file) if p]
    if verify:
        if ca_file is not None:
            paths.append(ca_file)
        else:
            defaults = ssl.get_default_verify_paths()
            paths.extend(p for p in (defaults.cafile, defaults.capath) if p)
    stamp: list[tuple[str, object]] = []
    for path in paths:
        try:
            info = os.stat(path)
            stamp.append((path, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)))
        except OSError as exc:
            stamp.append((path, exc.errno))
    return tuple(stamp)


def _check_regular(path: str) -> None:
    """A FIFO given as a CA or key file would block the load for ever: OSError instead."""
    fd, _info = open_regular(path)
    os.close(fd)


def check_files(ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                verify: bool = True) -> None:
    """Raise the OSError that ``client_context`` raises for a file it cannot open (missing, unreadable,
    a FIFO), without building a context: a caller that makes the context only once a peer answers
    still reports such a file first."""
    for path in (ca_file if verify else None, cert_file, key_file):
        if path:
            _check_regular(path)


def _build(ca_file: str | None, cert_file: str | None, key_file: str | None, verify: bool) -> ssl.SSLContext:
    check_files(ca_file, cert_file, key_file, verify)
    if verify:
        context = ssl.create_default_context(cafile=ca_file)  # None: the system trust store
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def client_context(ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                   verify: bool = True) -> ssl.SSLContext:
    """The shared client context for these files; ``ca_file`` None verifies against the system store,
    ``verify`` False checks nothing (the server's chain can still be read). Raises OSError/ssl.SSLError."""
    key: _Key = (ca_file if verify else None, cert_file, key_file, verify)
    stamp = _stamp(*key)
    with _lock:
        known = _contexts.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    context = _build(*key)
    with _lock:
        _contexts.pop(key, None)
        while len(_contexts) >= MAX_CONTEXTS:
            _contexts.pop(next(iter(_contexts)))
        _contexts[key] = (stamp, context)
    return context
