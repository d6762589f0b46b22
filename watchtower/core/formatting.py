"""Text formatting and parsing shared by every layer: RFC 3339 times, ``host:port``, durations for
people, and the CLI's tables. One spelling each, so /api/status, ``check`` and the state files agree.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import overload


@overload
def rfc3339(timestamp: float, *, whole_seconds: bool = False) -> str: ...


@overload
def rfc3339(timestamp: None, *, whole_seconds: bool = False) -> None: ...


def rfc3339(timestamp: float | None, *, whole_seconds: bool = False) -> str | None:
    """``2026-11-26T12:00:00Z`` (UTC) for a Unix time; None stays None.

    Fractional seconds are kept (``…:00.250000Z``) unless ``whole_seconds``: state files and
    upgrade evidence record whole seconds, run times in /api/status keep the fraction.
    """
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    if whole_seconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str | None) -> float | None:
    """The Unix time of an RFC 3339 string (``Z`` or an offset); None for None or anything else."""
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def split_host_port(text: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host without brackets, port). Raises ValueError.

    The port must be 1-65535; ``allow_zero`` also accepts 0 (a listen address: any free port).
    The host may be empty (a listen address ``:9847``); callers that need one check it.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"not HOST:PORT: {text!r}")
    port = int(port_text)
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return host.strip("[]"), port


def join_host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolver_host(host: str) -> str | bytes:
    """``host`` for ``getaddrinfo``/``create_connection``/``server_hostname``: its ASCII bytes when
    the ``idna`` codec would return exactly those, else ``host`` itself (the codec then does as before).

    Those calls encode a ``str`` host with the ``idna`` codec, whose first use imports
    ``encodings.idna``, ``stringprep`` and ``unicodedata`` (0.44 MB of RSS) although for an ASCII
    name it only checks label lengths (encodings/idna.py, ``Codec.encode``'s fast path): the same
    check here, and a name that fails it goes to the codec for its own ``UnicodeError``.
    """
    if not host or not host.isascii():
        return host
    labels = host.split(".")
    if len(labels[-1]) >= 64 or not all(0 < len(label) < 64 for label in labels[:-1]):
        return host
    return host.encode("ascii")


def human_duration(seconds: float, *, detailed: bool = False) -> str:
    """A duration for people, the way kubeadm prints residual time: ``364d``, ``23h``, ``59m``.

    ``detailed`` (the certificate table) adds the next unit below a month: ``5d 3h``, ``7h 12m``.
    """
    if not detailed:
        if seconds >= 86400:
            return f"{int(seconds // 86400)}d"
        if seconds >= 3600:
            return f"{int(seconds // 3600)}h"
        return f"{int(seconds // 60)}m"
    days, rest = divmod(int(abs(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    if days >= 30:
        return f"{days}d"
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, like kubectl/kubeadm print them."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return lines
