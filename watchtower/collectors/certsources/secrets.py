"""Certificates in Kubernetes Secrets (type kubernetes.io/tls by default), page by page.

Secrets are listed with a server-side field selector on ``type`` (one listing per configured
type), across all namespaces or the selected ones, through ``watchtower.io.kube.list_json_pages``:
one page of plain JSON is in memory at a time and each Secret's certificates are yielded before
the next page is fetched. Locations are ``namespace/name#key``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from watchtower.collectors.certsources.base import CertRecord, Record
from watchtower.core.results import ItemError
from watchtower.io.kube import KubeUnavailable, list_json_pages
from watchtower.pki import parse_certificates


@dataclasses.dataclass
class SecretSource:
    """Secrets of ``types`` in ``namespaces`` (empty: all), reading the certificates under ``keys``."""

    api_client: Callable[[], Any]
    namespaces: Sequence[str] = ()
    types: Sequence[str] = ("kubernetes.io/tls",)
    keys: Sequence[str] = ("tls.crt",)
    page_size: int = 500
    request_timeout: float = 10.0
    kind: str = "secret"

    def read(self) -> Iterator[Record]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            api = self.api_client()
        except KubeUnavailable as exc:
            yield ItemError("kubernetes", "kube_unavailable", str(exc))
            return
        listings = ([(f"{ns}/*", f"/api/v1/namespaces/{quote(ns, safe='')}/secrets") for ns in self.namespaces]
                    if self.namespaces else [("*/*", "/api/v1/secrets")])
        for secret_type in self.types:
            for where, path in listings:
                try:
                    for secret in list_json_pages(api, path, self.page_size, self.request_timeout,
                                                  fieldSelector=f"type={secret_type}"):
                        yield from self._secret(secret)
                except ApiException as exc:
                    yield ItemError(f"{where} type={secret_type}", f"api_status_{exc.status}", str(exc.reason))
                except (HTTPError, OSError) as exc:
                    yield ItemError(f"{where} type={secret_type}", "api_unreachable", type(exc).__name__)

    def _secret(self, secret: Mapping[str, Any]) -> Iterator[Record]:
        meta = secret.get("metadata") or {}
        data = secret.get("data") or {}
        for key in self.keys:
            value = data.get(key)
            if not value:
                continue
            location = f"{meta.get('namespace')}/{meta.get('name')}#{key}"
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                yield ItemError(location, "invalid_base64", f"{key} is not valid base64")
                continue
            parsed = parse_certificates(raw)
            for error in parsed.errors:
                yield ItemError(location, error.reason, error.detail)
            for cert in parsed.certificates:
                yield CertRecord(self.kind, location, str(meta.get("name")), cert)
