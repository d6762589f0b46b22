"""Reading the three usage sources of the removed-APIs collector from the Kubernetes API (I/O only).

Each reader returns what it found plus ``ItemError``s; none raises for a source that fails, so
one forbidden or broken source never hides the other two. Parsing and matching are pure and
live in ``watchtower.upgrades.removed_apis`` and ``watchtower.upgrades.helm_release``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.io.kube import get_json, list_json_pages, server_version
from watchtower.upgrades import helm_release
from watchtower.upgrades import removal_data as rd
from watchtower.upgrades import removed_apis as ra

MAX_METRICS_BYTES = 64 << 20
"""An apiserver's /metrics is read as a stream and only one series is kept; this bounds the time."""

SKIPPED_RESOURCES = frozenset({"events"})
"""Events are written by controllers, never applied by people, and there are many: not listed."""


def _api_error(location: str, exc: BaseException) -> ItemError:
    """An ItemError for a failed request: HTTP status from the client's ApiException, else the type."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status:
        reason = "forbidden" if status == 403 else f"api_status_{status}"
        return ItemError(location, reason, f"HTTP {status} {getattr(exc, 'reason', '')}".strip())
    if isinstance(exc, ValueError):
        return ItemError(location, reasons.PARSE_ERROR, str(exc)[:300])
    return ItemError(location, reasons.UNREACHABLE, f"{type(exc).__name__}: {exc}"[:300])


def running_minor(api: Any, timeout: float, errors: list[ItemError]) -> tuple[rd.Minor | None, str]:
    """The apiserver's (major, minor) and gitVersion from ``/version``; (None, "") on failure."""
    try:
        version = server_version(api, timeout)
        return rd.parse_minor(f"{version.major}.{(version.minor or '').rstrip('+')}"), version.git_version or ""
    except Exception as exc:  # noqa: BLE001 - transport errors come in many types
        errors.append(_api_error("/version", exc))
        return None, ""


@dataclasses.dataclass(frozen=True)
class ListTarget:
    """A served deprecated group/version/resource to list objects through."""

    group: str
    version: str
    resource: str
    namespaced: bool

    @property
    def path(self) -> str:
        return f"/apis/{self.group}/{self.version}/{self.resource}"


def served_targets(api: Any, data: rd.RemovalData, timeout: float, errors: list[ItemError]) -> list[ListTarget] | None:
    """One listable served deprecated version per resource, from discovery; None if /apis failed.

    A resource (``deployments``) is listed once even when several removed versions serve it
    (extensions/v1beta1, apps/v1beta1, apps/v1beta2 in 1.15): every version lists the same stored
    objects, and the last-applied annotation, not the URL, says which apiVersion each used.
    """
    try:
        groups = get_json(api, "/apis", timeout=timeout).get("groups") or []
    except Exception as exc:  # noqa: BLE001
        errors.append(_api_error("/apis", exc))
        return None
    served = {(g.get("name"), v.get("version")) for g in groups if isinstance(g, dict)
              for v in g.get("versions") or [] if isinstance(v, dict)}
    targets: dict[str, ListTarget] = {}
    for group, version in data.group_versions():
        if (group, version) not in served:
            continue
        path = f"/apis/{group}/{version}"
        try:
            listing = get_json(api, path, timeout=timeout).get("resources") or []
        except Exception as exc:  # noqa: BLE001
            errors.append(_api_error(path, exc))
            continue
        for res in listing:
            name = res.get("name") if isinstance(res, dict) else None
            if (not isinstance(name, str) or "/" in name or name in SKIPPED_RESOURCES or name in targets
                    or "list" not in (res.get("verbs") or []) or data.lookup_resource(group, version, name) is None):
                continue
            targets[name] = ListTarget(group, version, name, bool(res.get("namespaced")))
    return list(targets.values())


def live_uses(api: Any, targets: Iterable[ListTarget], page_size: int, timeout: float, data: rd.RemovalData,
              errors: list[ItemError]) -> tuple[list[ra.ObjectUse], int]:
    """Objects whose last-applied apiVersion is a removed one, and how many objects were read.

    Only uses that the removal data knows are kept, so memory grows with the blockers, not with
    the cluster (20,000 Deployments cost one page at a time).
    """
    uses: list[ra.ObjectUse] = []
    seen = 0
    for target in targets:
        try:
            for obj in list_json_pages(api, target.path, page_size, timeout):
                seen += 1
                meta = obj.get("metadata") or {}
                try:
                    applied = ra.applied_api_version(obj)
                except ValueError as exc:
                    errors.append(ItemError(f"{target.resource} {meta.get('namespace') or '-'}/{meta.get('name')}", reasons.PARSE_ERROR, str(exc)))
                    continue
                if applied is None or data.lookup(*applied) is None:
                    continue
                uses.append(ra.ObjectUse(rd.SOURCE_LIVE, applied[0], applied[1], str(meta.get("namespace") or ""),
                                         str(meta.get("name") or "")))
        except Exception as exc:  # noqa: BLE001
            errors.append(_api_error(target.path, exc))
    return uses, seen


def helm_uses(api: Any, namespaces: Sequence[str], page_size: int, timeout: float, data: rd.RemovalData,
              errors: list[ItemError]) -> tuple[list[ra.ObjectUse], int]:
    """Objects of removed APIs in the manifests of deployed Helm v3 releases, and how many releases were read."""
    listings = ([f"/api/v1/namespaces/{quote(ns, safe='')}/secrets" for ns in namespaces] if namespaces
                else ["/api/v1/secrets"])
    uses: list[ra.ObjectUse] = []
    releases = 0
    for path in listings:
        try:
            for secret in list_json_pages(api, path, page_size, timeout, fieldSelector=f"type={helm_release.SECRET_TYPE}",
                                          labelSelector="owner=helm,status=deployed"):
                meta = secret.get("metadata") or {}
                where = f"helm release secret {meta.get('namespace')}/{meta.get('name')}"
                try:
                    release = helm_release.release_from_secret(secret)
                except helm_release.ReleaseDecodeError as exc:
                    errors.append(ItemError(where, reasons.PARSE_ERROR, str(exc)))
                    continue
                releases += 1
                for obj in release.objects:
                    if data.lookup(obj.api_version, obj.kind) is not None:
                        uses.append(ra.ObjectUse(rd.SOURCE_HELM, obj.api_version, obj.kind, obj.namespace, obj.name,
                                                 f"helm release {release.label}"))
        except Exception as exc:  # noqa: BLE001
            errors.append(_api_error(path, exc))
    return uses, releases


def apiserver_requests(api: Any, endpoints: Sequence[str], timeout: float, errors: list[ItemError]) -> tuple[list[ra.RequestUse], int]:
    """``apiserver_requested_deprecated_apis`` from each apiserver's /metrics (empty: the client's endpoint).

    Each endpoint is asked with the client's own credentials and CA (kubeadm puts every node's
    address in the apiserver certificate); the body is streamed and only that metric's lines kept.
    """
    targets = [f"https://{e}" for e in endpoints] or [str(api.configuration.host)]
    out: list[ra.RequestUse] = []
    read = 0
    for base in targets:
        name = base.removeprefix("https://")
        try:
            text = _metric_lines(api, base, timeout)
            out.extend(ra.parse_requested_deprecated(text, name))
            read += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(_api_error(f"{base}/metrics", exc))
    return out, read


def _metric_lines(api: Any, base: str, timeout: float) -> str:
    from kubernetes.client.exceptions import ApiException

    method, url, headers, body, post = api.param_serialize(
        method="GET", resource_path="/metrics", header_params={"Accept": "text/plain"},
        auth_settings=["BearerToken"], _host=base,
    )
    response = api.call_api(method, url, headers, body, post, _request_timeout=timeout)
    raw = response.response
    try:
        if not 200 <= response.status <= 299:
            raise ApiException(status=response.status, reason=response.reason)
        kept: list[str] = []
        rest = b""
        size = 0
        for chunk in raw.stream(1 << 16):
            size += len(chunk)
            if size > MAX_METRICS_BYTES:
                raise ValueError(f"/metrics larger than {MAX_METRICS_BYTES} bytes")
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            kept.extend(line.decode("utf-8", "replace") for line in lines if line.startswith(b"apiserver_requested_deprecated_apis{"))
        if rest.startswith(b"apiserver_requested_deprecated_apis{"):
            kept.append(rest.decode("utf-8", "replace"))
        return "\n".join(kept)
    finally:
        raw.release_conn()
