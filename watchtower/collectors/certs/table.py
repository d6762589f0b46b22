"""The ``kubeadm certs check-expiration``-style table for ``check`` (pure)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from watchtower.collectors.certs.settings import SOURCE_ORDER
from watchtower.core.formatting import format_table, human_duration

_COLORS = {"ok": "\033[32m", "warning": "\033[33m", "critical": "\033[31m", "expired": "\033[31m",
           "not_yet_valid": "\033[31m", "unknown": "\033[35m"}


def _sort_key(row: Mapping[str, Any]) -> tuple[int, str, str, str]:
    source = row["source"]
    rank = SOURCE_ORDER.index(source) if source in SOURCE_ORDER else len(SOURCE_ORDER)
    return rank, row["name"] if source == "kubeadm" else row["location"], row["location"], row["serial"]


class _JudgedRows(Protocol):
    def judged_rows(self) -> list[dict[str, Any]]: ...


def render_table(details: _JudgedRows, color: bool = False) -> list[str] | None:
    """Rows like ``kubeadm certs check-expiration``: name, expires, residual time, signing CA, source."""
    rows_in: Iterable[Mapping[str, Any]] = details.judged_rows()
    rows = []
    for row in sorted(rows_in, key=_sort_key):
        end = datetime.datetime.fromisoformat(row["not_after"])
        left = row["seconds_left"]
        residual = "<expired>" if left <= 0 else human_duration(left, detailed=True)
        status = row["status"]
        if status == "ok":  # the certificate's dates are fine: a failed check about it may not be
            status = row.get("severity", "ok")
        shown = status.upper().replace("_", " ")
        if row.get("problems"):
            shown += " (" + ", ".join(row["problems"]) + ")"
        if color:
            shown = f"{_COLORS[status]}{shown}\033[0m"
        certificate = row["name"] if row["source"] == "kubeadm" else row["location"]
        if row["source"] == "kubeadm" and row["is_ca"] and row["name"] not in {"ca", "front-proxy-ca", "etcd/ca"}:
            certificate += " (CA)"
        rows.append((certificate, f"{end:%b %d, %Y %H:%M} UTC", residual, row["issuer_cn"] or "-",
                     row["source"], shown))
    if not rows:
        return None
    return format_table(("CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "SOURCE", "STATUS"), rows)
