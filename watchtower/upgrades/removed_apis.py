"""Which Kubernetes API versions the next upgrades stop serving, and what in the cluster still uses them.

Pure logic, no I/O: the removal data (shipped in ``data/removed-apis.yaml``, from Kubernetes'
Deprecated API Migration Guide, overridable in config), matching of observed usage against it,
and the hop of a one-minor-at-a-time upgrade path that breaks each use. The collector
(``watchtower.collectors.removed_apis``) reads the cluster and hands the facts in here.

A use is one of: a live object whose ``kubectl.kubernetes.io/last-applied-configuration`` says
it was applied with a removed apiVersion (kubent's method), an object in the manifest of a
deployed Helm v3 release (``watchtower.upgrades.helm_release``), or a request the apiserver
itself counted in ``apiserver_requested_deprecated_apis``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# the removal data and its parsing live in removal_data; re-exported for callers of this module
from watchtower.upgrades.removal_data import (
    LAST_APPLIED,
    SOURCE_HELM,
    SOURCE_LIVE,
    SOURCES,
    Minor,
    RemovalData,
    RemovedAPI,
    format_minor,
    load_shipped,
    next_minor,
    parse_entry,
    parse_minor,
    parse_removal_data,
    split_api_version,
    with_overrides,
)

# ------------------------------------------------------------------------------ observed usage


@dataclasses.dataclass(frozen=True)
class ObjectUse:
    """An object declared with some apiVersion: a live object's last apply, or a Helm manifest entry."""

    source: str  # SOURCE_LIVE or SOURCE_HELM
    api_version: str
    kind: str
    namespace: str
    name: str
    detail: str = ""  # e.g. the Helm release "monitoring/wt revision 3"


@dataclasses.dataclass(frozen=True)
class RequestUse:
    """One ``apiserver_requested_deprecated_apis`` series with value 1, as one apiserver reported it."""

    apiserver: str
    group: str
    version: str
    resource: str
    subresource: str
    removed_release: str  # as the apiserver labels it, e.g. "1.22"


_APPLIED_HEAD = re.compile(r'\{"apiVersion":"([^"\\]+)","kind":"([^"\\]+)",')


def applied_api_version(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(apiVersion, kind) an object was last applied with, from kubectl's annotation; None without one.

    ValueError when the annotation is there but is not a JSON object with string apiVersion and kind.
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED)
    if not text:
        return None
    head = _APPLIED_HEAD.match(text) if isinstance(text, str) else None
    if head:  # kubectl writes the keys sorted: apiVersion and kind come first, no need to parse the rest
        return head.group(1), head.group(2)
    try:
        applied = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(f"{LAST_APPLIED} is not JSON") from None
    if not isinstance(applied, dict) or not isinstance(applied.get("apiVersion"), str) or not isinstance(applied.get("kind"), str):
        raise ValueError(f"{LAST_APPLIED} has no string apiVersion and kind")
    return applied["apiVersion"], applied["kind"]


# ------------------------------------------------------------------------------ blockers


@dataclasses.dataclass(frozen=True)
class Blocker:
    """A use of a removed API, with the hop of the upgrade path that breaks it.

    ``breaks_at`` is the minor whose upgrade stops serving the API (``removed_in``) when that is
    ahead of the running version; None when the running version already does not serve it (a
    manifest that cannot be applied again, a Helm release whose next upgrade fails) or when the
    running version is unknown.
    """

    use: ObjectUse
    api: RemovedAPI
    breaks_at: Minor | None
    already_removed: bool

    @property
    def hop_text(self) -> str:
        if self.already_removed:
            return f"already removed in {format_minor(self.api.removed_in)}"
        if self.breaks_at is None:
            return f"removed in {format_minor(self.api.removed_in)} (running version unknown)"
        return f"{format_minor((self.breaks_at[0], self.breaks_at[1] - 1))} → {format_minor(self.breaks_at)}"


def breaking_hop(removed_in: Minor, running: Minor | None) -> tuple[Minor | None, bool]:
    """(the hop's target minor, already removed?) for an API removed in ``removed_in``."""
    if running is None:
        return None, False
    if removed_in <= running:
        return None, True
    return removed_in, False


def match_objects(uses: Iterable[ObjectUse], data: RemovalData, running: Minor | None) -> list[Blocker]:
    """The uses whose apiVersion/kind the data says is removed, each with its breaking hop."""
    out = []
    for use in uses:
        api = data.lookup(use.api_version, use.kind)
        if api is None:
            continue
        hop, already = breaking_hop(api.removed_in, running)
        out.append(Blocker(use, api, hop, already))
    out.sort(key=lambda b: (b.api.removed_in, b.api.group, b.api.version, b.api.kind, b.use.source, b.use.namespace, b.use.name))
    return out


@dataclasses.dataclass(frozen=True)
class RequestedAPI:
    """A removed API some client still calls, merged over the apiservers that saw it."""

    group: str
    version: str
    resource: str
    removed_in: Minor | None
    kind: str  # from the data when it knows the resource, else ""
    replacement: str
    apiservers: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def merge_requests(uses: Iterable[RequestUse], data: RemovalData) -> list[RequestedAPI]:
    """One entry per group/version/resource (subresources folded in), with every apiserver that saw it.

    The apiserver's own ``removed_release`` label wins over the data (it also covers CRD
    versions the data does not know); the data adds the kind and the replacement.
    """
    merged: dict[tuple[str, str, str], tuple[str, set[str]]] = {}
    for use in uses:
        key = (use.group, use.version, use.resource)
        release, servers = merged.setdefault(key, (use.removed_release, set()))
        servers.add(use.apiserver)
        if not release and use.removed_release:
            merged[key] = (use.removed_release, servers)
    out = []
    for (group, version, resource), (release, servers) in merged.items():
        api = data.lookup_resource(group, version, resource)
        try:
            removed_in: Minor | None = parse_minor(release)
        except ValueError:
            removed_in = api.removed_in if api else None
        out.append(RequestedAPI(group, version, resource, removed_in, api.kind if api else "",
                                api.replacement_text if api else "", tuple(sorted(servers))))
    out.sort(key=lambda r: (r.removed_in or (999, 0), r.group, r.version, r.resource))
    return out


def blockers_by_hop(blockers: Iterable[Blocker], hops: Iterable[Minor]) -> dict[Minor, list[Blocker]]:
    """For each hop target of an upgrade path (1.16, 1.17, ...), the blockers that hop hits.

    A blocker is listed at the one hop that removes its API, and nowhere after it: once that hop is
    made the object has been migrated (or the upgrade did not happen).
    """
    out: dict[Minor, list[Blocker]] = {hop: [] for hop in hops}
    for blocker in blockers:
        if blocker.breaks_at in out:
            out[blocker.breaks_at].append(blocker)  # type: ignore[index]
    return out


def upgrade_path(running: Minor, target: Minor) -> list[Minor]:
    """The minors kubeadm passes through from ``running`` to ``target``: one hop per minor."""
    if target[0] != running[0]:
        return []
    return [(running[0], m) for m in range(running[1] + 1, target[1] + 1)]


# ------------------------------------------------------------------------------ apiserver metrics

_SERIES_RE = re.compile(r"^apiserver_requested_deprecated_apis\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_requested_deprecated(text: str, apiserver: str) -> list[RequestUse]:
    """The ``apiserver_requested_deprecated_apis`` series with a non-zero value in a /metrics text.

    The apiserver sets the gauge to 1 the first time a deprecated API is requested and keeps it
    until it restarts (k8s.io/apiserver/pkg/endpoints/metrics/metrics.go, labels group, version,
    resource, subresource, removed_release). Everything else in the (large) text is skipped line
    by line without building metric families; a malformed series line raises ValueError.
    """
    out = []
    for line in text.splitlines():
        if not line.startswith("apiserver_requested_deprecated_apis{"):
            continue
        match = _SERIES_RE.match(line)
        if not match:
            raise ValueError(f"malformed series line: {line[:120]!r}")
        try:
            value = float(match.group("value"))
        except ValueError:
            raise ValueError(f"malformed value in: {line[:120]!r}") from None
        if value == 0:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL_RE.findall(match.group("labels"))}
        out.append(RequestUse(apiserver, labels.get("group", ""), labels.get("version", ""), labels.get("resource", ""),
                              labels.get("subresource", ""), labels.get("removed_release", "")))
    return out


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


# ------------------------------------------------------------------------------ summaries


@dataclasses.dataclass(frozen=True)
class ObjectCount:
    """One series of ``watchtower_removed_api_objects``."""

    group: str
    version: str
    kind: str
    removed_in: str
    source: str
    count: int


def count_objects(blockers: Iterable[Blocker]) -> list[ObjectCount]:
    """Counts per group/version/kind/removed_in/source: the bounded-cardinality view for metrics."""
    counts: dict[tuple[str, str, str, str, str], int] = {}
    for b in blockers:
        key = (b.api.group, b.api.version, b.api.kind, format_minor(b.api.removed_in), b.use.source)
        counts[key] = counts.get(key, 0) + 1
    return [ObjectCount(*key, count=n) for key, n in sorted(counts.items())]


def iter_used_apis(blockers: Iterable[Blocker], requests: Iterable[RequestedAPI], data: RemovalData) -> Iterator[RemovedAPI]:
    """Each removed API something uses (objects or requests), once, for the per-API series."""
    seen: set[tuple[str, str, str]] = set()
    for b in blockers:
        key = (b.api.group, b.api.version, b.api.kind)
        if key not in seen:
            seen.add(key)
            yield b.api
    for r in requests:
        api = data.lookup_resource(r.group, r.version, r.resource)
        if api is not None and (api.group, api.version, api.kind) not in seen:
            seen.add((api.group, api.version, api.kind))
            yield api


__all__ = [
    "LAST_APPLIED", "SOURCES", "SOURCE_HELM", "SOURCE_LIVE", "Blocker", "Minor", "ObjectCount", "ObjectUse",
    "RemovalData", "RemovedAPI", "RequestUse", "RequestedAPI", "applied_api_version", "blockers_by_hop",
    "breaking_hop", "count_objects", "format_minor", "iter_used_apis", "load_shipped", "match_objects",
    "merge_requests", "next_minor", "parse_entry", "parse_minor", "parse_removal_data",
    "parse_requested_deprecated", "split_api_version", "upgrade_path", "with_overrides",
]
