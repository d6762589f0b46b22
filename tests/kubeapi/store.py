"""In-memory object storage with etcd-like ordering, resource versions and continue tokens.

Objects are kept per resource under their etcd key (``namespace/name`` or ``name``) together with
their JSON already serialised, and the sorted key list is rebuilt only after an insert or delete,
so a page of a 20,000-object list is a bisect plus a join of ready bytes: the server must never
be what makes a pagination test slow. Continue tokens have the real format (base64 JSON with
``v``, ``rv`` and ``start``) and are checked against a compaction revision so tests can make
every outstanding token expire.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from tests.kubeapi.errors import bad_request, expired, not_found
from tests.kubeapi.objects import timestamp
from tests.kubeapi.selectors import FieldSelector, LabelSelector

TOKEN_VERSION = "meta.k8s.io/v1"


class Revisions:
    """The cluster-wide resourceVersion counter (one etcd revision shared by all resources)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 1
        self.compacted = 0

    def next(self) -> int:
        with self._lock:
            self.current += 1
            return self.current

    def compact(self) -> None:
        """Forget every revision so far: continue tokens issued until now become 410 Expired."""
        with self._lock:
            self.compacted = self.current
            self.current += 1


def encode_continue(revision: int, last_key: str) -> str:
    """A token like kube-apiserver's: resume just after ``last_key`` at ``revision``."""
    payload = json.dumps({"v": TOKEN_VERSION, "rv": revision, "start": last_key + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(revision, start key) of a token; malformed ones are 400 as on the real server."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        if payload.get("v") != TOKEN_VERSION:
            raise ValueError(f"server does not recognize this encoded key version {payload.get('v')!r}")
        return int(payload["rv"]), str(payload["start"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from None


@dataclass(frozen=True)
class Page:
    """One chunk of a list: serialised items plus the list metadata the client reads."""

    items: list[bytes]
    resource_version: int
    continue_token: str | None = None
    remaining_item_count: int | None = None

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if self.continue_token:
            meta["continue"] = self.continue_token
        if self.remaining_item_count is not None:
            meta["remainingItemCount"] = self.remaining_item_count
        return meta


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks for, already parsed and validated."""

    namespace: str | None = None
    limit: int = 0
    continue_token: str | None = None
    fields: FieldSelector = FieldSelector()
    labels: LabelSelector = LabelSelector()

    @property
    def filtered(self) -> bool:
        return bool(self.fields) or bool(self.labels)

    def matches(self, obj: dict[str, Any]) -> bool:
        return self.fields.matches(obj) and self.labels.matches(obj)


@dataclass(frozen=True)
class _Entry:
    obj: dict[str, Any]
    raw: bytes


def _stamped_metadata(given: dict[str, Any], old: dict[str, Any] | None, revision: int) -> dict[str, Any]:
    """Server-owned metadata in the order the apiserver writes it; uid and age survive updates."""
    meta: dict[str, Any] = {"name": given["name"]}
    if "namespace" in given:
        meta["namespace"] = given["namespace"]
    meta["uid"] = old["uid"] if old else str(uuid.uuid4())
    meta["resourceVersion"] = str(revision)
    meta["creationTimestamp"] = old["creationTimestamp"] if old else timestamp()
    meta.update({k: v for k, v in given.items() if k not in meta})
    return meta


class ResourceStore:
    """All objects of one resource (e.g. ``secrets``), ordered by etcd key."""

    def __init__(self, resource: str, kind: str, namespaced: bool, revisions: Revisions) -> None:
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
        self._revisions = revisions
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._keys: list[str] | None = []

    def _key(self, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if self.namespaced else name

    def _sorted_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(self._entries)
        return self._keys

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object; returns it as a GET would."""
        given = body["metadata"]
        key = self._key(given.get("namespace"), given["name"])
        with self._lock:
            old = self._entries.get(key)
            meta = _stamped_metadata(given, old.obj["metadata"] if old else None, self._revisions.next())
            obj = {"metadata": meta, **{k: v for k, v in body.items() if k != "metadata"}}
            self._entries[key] = _Entry(obj, json.dumps(obj, separators=(",", ":")).encode())
            if old is None:
                self._keys = None
        return self.get(given.get("namespace"), given["name"])

    def delete(self, namespace: str | None, name: str) -> None:
        with self._lock:
            if self._entries.pop(self._key(namespace, name), None) is None:
                raise not_found(self.resource, name)
            self._keys = None
            self._revisions.next()

    def raw(self, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored dict itself (no copy), for rebuilding an object from its current state."""
        entry = self._entries.get(self._key(namespace, name))
        if entry is None:
            raise not_found(self.resource, name)
        return entry.obj

    def get(self, namespace: str | None, name: str) -> dict[str, Any]:
        """A private copy of one object with ``kind``/``apiVersion``, as GET returns it."""
        return {"kind": self.kind, "apiVersion": "v1", **json.loads(self.get_bytes(namespace, name))}

    def get_bytes(self, namespace: str | None, name: str, api_version: str = "v1") -> bytes:
        """The single-object GET body, as the object reads in ``api_version``."""
        entry = self._entries.get(self._key(namespace, name))
        if entry is None:
            raise not_found(self.resource, name)
        return b'{"kind":"%s","apiVersion":"%s",%s' % (self.kind.encode(), api_version.encode(), entry.raw[1:])

    def __len__(self) -> int:
        return len(self._entries)

    def _bounds(self, keys: list[str], namespace: str | None) -> tuple[int, int]:
        """Index range of the keys in ``namespace`` ('/' sorts just before '0')."""
        if namespace is None or not self.namespaced:
            return 0, len(keys)
        return bisect.bisect_left(keys, namespace + "/"), bisect.bisect_left(keys, namespace + "0")

    def _resume(self, keys: list[str], bounds: tuple[int, int], query: ListQuery) -> tuple[int, int]:
        """(revision, first index) for a continue token, or 410/400 if it cannot be honoured."""
        revision, start = decode_continue(query.continue_token or "")
        if revision <= self._revisions.compacted:
            raise expired()
        if self.namespaced and query.namespace and not start.startswith(query.namespace + "/"):
            raise bad_request("continue key is not valid: key is outside the requested namespace")
        return revision, bisect.bisect_left(keys, start, *bounds)

    def list(self, query: ListQuery) -> Page:
        """One page: up to ``limit`` matching objects after the token's position (all if limit is 0)."""
        with self._lock:
            keys = self._sorted_keys()
            lo, hi = self._bounds(keys, query.namespace)
            revision, index = self._revisions.current, lo
            if query.continue_token:
                revision, index = self._resume(keys, (lo, hi), query)
            items: list[bytes] = []
            while index < hi and not (query.limit and len(items) >= query.limit):
                entry = self._entries[keys[index]]
                if not query.filtered or query.matches(entry.obj):
                    items.append(entry.raw)
                index += 1
        if index >= hi:
            return Page(items, revision)
        remaining = None if query.filtered else hi - index
        return Page(items, revision, encode_continue(revision, keys[index - 1]), remaining)
