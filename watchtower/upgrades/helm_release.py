"""Helm v3 release Secrets → the objects their manifests declare. Pure: bytes in, facts out.

Helm stores each release revision in a Secret of type ``helm.sh/release.v1`` (labels ``name``,
``owner=helm``, ``status``, ``version``) whose ``data.release`` is, per Helm's
``pkg/storage/driver/util.go`` ``encodeRelease``: the release as JSON, gzipped at
BestCompression, then base64 (StdEncoding). The Kubernetes API base64-encodes Secret data once
more, so the value read from the API is base64 of base64 of gzip of JSON. ``decodeRelease``
skips the gunzip when the gzip magic (1f 8b 08) is absent (releases stored before compression),
and so does this module. The manifest is the rendered chart, documents separated by
``---\\n# Source: <template>\\n`` (``pkg/action/install.go`` ``renderResources``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import zlib
from typing import Any

import yaml

SECRET_TYPE = "helm.sh/release.v1"
GZIP_MAGIC = b"\x1f\x8b\x08"
MAX_RELEASE_BYTES = 32 << 20
"""A decoded release above this (a gzip bomb, or a chart far beyond Secret size limits) is refused."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class ReleaseDecodeError(ValueError):
    """The Secret does not hold a release Helm could read; str() says which step failed."""


@dataclasses.dataclass(frozen=True)
class ManifestObject:
    """One document of a release manifest: what it declares, not what the cluster holds."""

    api_version: str
    kind: str
    name: str
    namespace: str  # the document's, else the release's (Helm installs there)
    template: str  # "chart/templates/deployment.yaml", from the "# Source:" comment


@dataclasses.dataclass(frozen=True)
class HelmRelease:
    name: str
    namespace: str
    revision: int
    status: str  # deployed, superseded, failed, pending-upgrade, ...
    chart: str  # "name-version"
    objects: tuple[ManifestObject, ...]

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name} revision {self.revision} ({self.chart})"


def decode_secret_value(api_value: str) -> bytes:
    """The Secret's ``data.release`` as the API returns it → the release JSON bytes."""
    try:
        helm_text = base64.b64decode(api_value, validate=True)  # the API's encoding of Secret data
    except (binascii.Error, ValueError):
        raise ReleaseDecodeError("data.release is not base64 (the API's Secret encoding)") from None
    try:
        raw = base64.b64decode(helm_text, validate=True)  # Helm's own encodeRelease layer
    except (binascii.Error, ValueError):
        raise ReleaseDecodeError("data.release does not hold Helm's base64 text") from None
    if raw[:3] != GZIP_MAGIC:
        return raw
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip container
    try:
        out = inflater.decompress(raw, MAX_RELEASE_BYTES + 1)
    except zlib.error as exc:
        raise ReleaseDecodeError(f"gzip: {exc}") from None
    if len(out) > MAX_RELEASE_BYTES or inflater.unconsumed_tail:
        raise ReleaseDecodeError(f"release larger than {MAX_RELEASE_BYTES} bytes once decompressed")
    return out


def parse_manifest(manifest: str, release_namespace: str) -> tuple[ManifestObject, ...]:
    """The objects of a release manifest (hooks are not in it; empty documents are skipped).

    ValueError names the template whose document is not YAML.
    """
    out = []
    for chunk in manifest.split("\n---"):
        text = chunk.removeprefix("---")
        template = ""
        for line in text.lstrip("\n").splitlines()[:1]:
            if line.startswith("# Source: "):
                template = line.removeprefix("# Source: ").strip()
        try:
            doc = yaml.load(text, Loader=_Loader)  # a safe loader (C or Python)
        except yaml.YAMLError:
            raise ValueError(f"manifest document {template or '?'} is not YAML") from None
        if not isinstance(doc, dict):
            continue
        meta = _mapping(doc.get("metadata"))
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            continue
        out.append(ManifestObject(api_version, kind, str(meta.get("name") or ""),
                                  str(meta.get("namespace") or release_namespace), template))
    return tuple(out)


def parse_release(release_json: bytes, secret_namespace: str = "") -> HelmRelease:
    """Release JSON (``pkg/release/release.go``: name, namespace, version, info.status, chart.metadata,
    manifest) → HelmRelease. ReleaseDecodeError when it is not such a document."""
    try:
        doc = json.loads(release_json)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ReleaseDecodeError("the release is not JSON") from None
    if not isinstance(doc, dict):
        raise ReleaseDecodeError("the release is not a JSON object")
    name, namespace = doc.get("name"), doc.get("namespace") or secret_namespace
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise ReleaseDecodeError("the release has no name or namespace")
    info, chart = _mapping(doc.get("info")), _mapping(doc.get("chart"))
    meta = _mapping(chart.get("metadata"))
    manifest = doc.get("manifest") or ""
    if not isinstance(manifest, str):
        raise ReleaseDecodeError("the release manifest is not a string")
    try:
        objects = parse_manifest(manifest, namespace)
    except ValueError as exc:
        raise ReleaseDecodeError(str(exc)) from None
    revision = doc.get("version")
    return HelmRelease(
        name=name, namespace=namespace, revision=revision if isinstance(revision, int) else 0,
        status=str(info.get("status") or ""), chart=f"{meta.get('name', '?')}-{meta.get('version', '?')}",
        objects=objects,
    )


def release_from_secret(secret: dict[str, Any]) -> HelmRelease:
    """A Secret as the API lists it → the release it stores. ReleaseDecodeError naming the step."""
    if secret.get("type") != SECRET_TYPE:
        raise ReleaseDecodeError(f"not a {SECRET_TYPE} Secret (type {secret.get('type')!r})")
    value = _mapping(secret.get("data")).get("release")
    if not isinstance(value, str) or not value:
        raise ReleaseDecodeError("the Secret has no data.release")
    namespace = str(_mapping(secret.get("metadata")).get("namespace") or "")
    return parse_release(decode_secret_value(value), namespace)


__all__ = [
    "GZIP_MAGIC", "MAX_RELEASE_BYTES", "SECRET_TYPE", "HelmRelease", "ManifestObject", "ReleaseDecodeError",
    "decode_secret_value", "parse_manifest", "parse_release", "release_from_secret",
]
