"""Certificates inside a kubeconfig: cluster CAs and user client certificates, embedded or by path.

Works on already-parsed YAML (``load_kubeconfig`` parses bytes) so it can be tested directly.
A file reference is returned unresolved (relative to the kubeconfig's directory, as kubectl
resolves it); reading it is the caller's I/O.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from watchtower.pki.model import ParseError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclasses.dataclass(frozen=True)
class KubeconfigEntry:
    """One certificate slot: ``kind`` cluster (its CA) or user (its client certificate)."""

    kind: Literal["cluster", "user"]
    name: str
    data: bytes | None = None  # decoded *-data field
    file: str | None = None  # path as written in the kubeconfig
    error: ParseError | None = None
    key_data: bytes | None = dataclasses.field(default=None, repr=False)  # user only; for the key check
    key_file: str | None = None

    @property
    def fragment(self) -> str:
        """``#user:NAME`` / ``#cluster:NAME``, appended to the kubeconfig path to form a location."""
        return f"#{self.kind}:{self.name}"


def load_kubeconfig(text: bytes | str) -> Any:
    """Parse kubeconfig YAML; raises ParseError("invalid_yaml") with the position."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "unknown position"
        raise ParseError("invalid_yaml", f"YAML error at {where}") from None


def _decode(value: object, field: str) -> tuple[bytes | None, ParseError | None]:
    if not isinstance(value, str):
        return None, ParseError("invalid_kubeconfig", f"{field} is not a string")
    try:
        return base64.b64decode("".join(value.split()), validate=True), None
    except (binascii.Error, ValueError):
        return None, ParseError("invalid_base64", f"{field} is not valid base64")


def _entries(doc: Mapping[str, Any], section: str, inner: str) -> list[tuple[str, Mapping[str, Any]]]:
    items = doc.get(section) or []
    out: list[tuple[str, Mapping[str, Any]]] = []
    if not isinstance(items, list):
        return out
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            body = item.get(inner)
            out.append((str(item.get("name", f"[{i}]")), body if isinstance(body, Mapping) else {}))
    return out


def kubeconfig_entries(doc: object) -> tuple[KubeconfigEntry, ...]:
    """Every cluster CA and user certificate slot that holds something (data or a file)."""
    if not isinstance(doc, Mapping):
        raise ParseError("invalid_kubeconfig", "top level is not a mapping")
    out: list[KubeconfigEntry] = []
    for name, cluster in _entries(doc, "clusters", "cluster"):
        if "certificate-authority-data" in cluster:
            data, error = _decode(cluster["certificate-authority-data"], "certificate-authority-data")
            out.append(KubeconfigEntry("cluster", name, data=data, error=error))
        elif isinstance(cluster.get("certificate-authority"), str):
            out.append(KubeconfigEntry("cluster", name, file=cluster["certificate-authority"]))
    for name, user in _entries(doc, "users", "user"):
        key_data = key_file = None
        if "client-key-data" in user:
            key_data, _ = _decode(user["client-key-data"], "client-key-data")
        elif isinstance(user.get("client-key"), str):
            key_file = user["client-key"]
        if "client-certificate-data" in user:
            data, error = _decode(user["client-certificate-data"], "client-certificate-data")
            out.append(KubeconfigEntry("user", name, data=data, error=error, key_data=key_data, key_file=key_file))
        elif isinstance(user.get("client-certificate"), str):
            out.append(KubeconfigEntry("user", name, file=user["client-certificate"], key_data=key_data,
                                       key_file=key_file))
    return tuple(out)
