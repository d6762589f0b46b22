"""The removal data: which API versions which Kubernetes minor removes (shipped YAML, config overrides); pure."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from importlib import resources

import yaml

Minor = tuple[int, int]
"""A release line as (major, minor): (1, 16) is Kubernetes 1.16."""

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SOURCE_LIVE = "live"  # a live object's last-applied-configuration annotation
SOURCE_HELM = "helm"  # the manifest of a deployed Helm v3 release
SOURCES = (SOURCE_LIVE, SOURCE_HELM)
DATA_RESOURCE = "removed-apis.yaml"

_MINOR_RE = re.compile(r"^v?(\d+)\.(\d+)$")
_FIELDS = ("group", "version", "kind", "resource", "removed_in", "replacement", "replacement_since", "note")
_REQUIRED = ("version", "kind", "resource", "removed_in")


def parse_minor(text: object) -> Minor:
    """``"1.16"`` (or ``v1.16``) → (1, 16); ValueError for anything else (a patch is not a minor)."""
    match = _MINOR_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a minor release like 1.16: {text!r}")
    return int(match.group(1)), int(match.group(2))


def format_minor(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → ("apps", "v1"); ``v1`` → ("", "v1"), the core group."""
    group, _, version = api_version.rpartition("/")
    return group, version


def next_minor(minor: Minor) -> Minor:
    """The release a kubeadm upgrade reaches from ``minor``: it goes one minor at a time."""
    return minor[0], minor[1] + 1


@dataclasses.dataclass(frozen=True)
class RemovedAPI:
    """One group/version/kind that stops being served in ``removed_in``."""

    group: str  # "" is the core group
    version: str
    kind: str
    resource: str  # plural, as in discovery and the apiserver's metric labels
    removed_in: Minor
    replacement: str = ""  # e.g. "apps/v1"; empty where no API replaces it (PodSecurityPolicy)
    replacement_since: str = ""  # the minor that first served the replacement, as the guide says
    note: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def replacement_text(self) -> str:
        """What to migrate to, for people: the API (and since when), else the note."""
        if not self.replacement:
            return self.note or "none"
        since = f" (since {self.replacement_since})" if self.replacement_since else ""
        return f"{self.replacement}{since}"


@dataclasses.dataclass(frozen=True)
class RemovalData:
    """The removal table and where it came from (shown in ``check`` and on the status page)."""

    apis: tuple[RemovedAPI, ...]
    source: str = ""
    retrieved: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_gvk", {(a.group, a.version, a.kind): a for a in self.apis})
        object.__setattr__(self, "_by_gvr", {(a.group, a.version, a.resource): a for a in self.apis})

    def lookup(self, api_version: str, kind: str) -> RemovedAPI | None:
        """The entry for an object's ``apiVersion``/``kind``, or None if that API is not removed."""
        group, version = split_api_version(api_version)
        return self._by_gvk.get((group, version, kind))  # type: ignore[attr-defined,no-any-return]

    def lookup_resource(self, group: str, version: str, resource: str) -> RemovedAPI | None:
        return self._by_gvr.get((group, version, resource))  # type: ignore[attr-defined,no-any-return]

    def group_versions(self) -> tuple[tuple[str, str], ...]:
        """Every (group, version) with a removed kind, in data order, once each."""
        return tuple(dict.fromkeys((a.group, a.version) for a in self.apis))


def parse_entry(raw: object, where: str) -> RemovedAPI:
    """One ``apis`` entry → RemovedAPI; ValueError naming ``where`` and the field."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping with group, version, kind, resource, removed_in")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(_FIELDS)})")
    for name in _REQUIRED:
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise ValueError(f"{where}.{name}: a non-empty string is required")
    for name in ("group", "replacement", "replacement_since", "note"):
        if name in raw and raw[name] is not None and not isinstance(raw[name], str):
            raise ValueError(f"{where}.{name}: expected a string, got {type(raw[name]).__name__}")
    try:
        removed_in = parse_minor(raw["removed_in"])
    except ValueError as exc:
        raise ValueError(f"{where}.removed_in: {exc}") from None
    return RemovedAPI(
        group=raw.get("group") or "", version=raw["version"], kind=raw["kind"], resource=raw["resource"],
        removed_in=removed_in, replacement=raw.get("replacement") or "",
        replacement_since=raw.get("replacement_since") or "", note=raw.get("note") or "",
    )


def parse_removal_data(doc: object, where: str = "removed-apis.yaml") -> RemovalData:
    """A parsed removal-data document (the shipped file's format) → RemovalData; ValueError on bad input."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("apis"), list):
        raise ValueError(f"{where}: expected a mapping with an 'apis' list")
    apis = tuple(parse_entry(entry, f"{where}.apis[{i}]") for i, entry in enumerate(doc["apis"]))
    seen: dict[tuple[str, str, str], int] = {}
    for i, api in enumerate(apis):
        key = (api.group, api.version, api.kind)
        if key in seen:
            raise ValueError(f"{where}.apis[{i}]: {api.api_version} {api.kind} is already apis[{seen[key]}]")
        seen[key] = i
    return RemovalData(apis, str(doc.get("source") or ""), str(doc.get("retrieved") or ""))


def load_shipped() -> RemovalData:
    """The table shipped in the package."""
    text = resources.files("watchtower.upgrades").joinpath("data", DATA_RESOURCE).read_text(encoding="utf-8")
    return parse_removal_data(yaml.safe_load(text), f"watchtower/upgrades/data/{DATA_RESOURCE}")


def with_overrides(base: RemovalData, extra: Sequence[RemovedAPI], source_note: str = "config") -> RemovalData:
    """``base`` with ``extra`` entries added; an extra entry replaces the one of the same group/version/kind."""
    if not extra:
        return base
    replaced = {(a.group, a.version, a.kind) for a in extra}
    apis = tuple(a for a in base.apis if (a.group, a.version, a.kind) not in replaced) + tuple(extra)
    return RemovalData(apis, f"{base.source} + {len(extra)} from {source_note}", base.retrieved)
