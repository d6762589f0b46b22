"""A small Grafana HTTP API client on ``requests``: JSON in, JSON out, errors translated.

Why not a Grafana client library: the one on PyPI (grafana-client >= 4) pulls niquests and
urllib3-future, which replaces the ``urllib3`` import package of the whole environment — the
kubernetes client and requests would then run on an HTTP stack neither is tested with — for
about ten REST calls. ``requests`` is already a dependency.

Every failure becomes a ``GrafanaError`` whose message names the object and never contains a
credential. How Grafana's answers are read (grafana/grafana pkg/services/ngalert/api/
api_provisioning.go and pkg/services/ngalert/provisioning/):

- 401: the credential is wrong → ``GrafanaAuthError`` (the run stops; retrying cannot help).
- 403: a missing permission → ``GrafanaAuthError``; but a 403 whose ``messageId`` is about
  provenance (``alerting.notifications.invalidProvenance``) is a rejected *object*.
- 409 (``alerting.provenanceMismatch`` or an optimistic-lock conflict), 400 (validation, a
  duplicate rule title) and other 4xx: a rejected object → ``GrafanaRequestError``.
- 5xx: Grafana is unwell → ``GrafanaUnreachable`` (retried), except a 500 that names a
  provenance conflict (what Grafana answered before it had the 409): a rejected object.
- connection errors and timeouts → ``GrafanaUnreachable``; certificate failures →
  ``GrafanaTLSError`` (not retried).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from watchtower.core import reasons
from watchtower.provisioning.settings import GrafanaSettings


class GrafanaError(Exception):
    """Provisioning failed; the message is safe to log (no token, no secret)."""

    reason = "error"


class GrafanaUnreachable(GrafanaError):
    reason = reasons.UNREACHABLE


class GrafanaAuthError(GrafanaError):
    reason = "unauthorized"


class GrafanaTLSError(GrafanaError):
    """The server's certificate did not verify: not retried, it will not fix itself."""

    reason = reasons.TLS_VERIFY_FAILED


class GrafanaRequestError(GrafanaError):
    """Grafana refused one request; ``provenance`` when the object belongs to another provisioner."""

    reason = "rejected"

    def __init__(self, message: str, status: int, provenance: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.provenance = provenance


def _message(response: requests.Response) -> tuple[str, str]:
    """(message, messageId) of an error answer; Grafana sends ``{"message": ..., "messageId": ...}``."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason or "", ""
    if isinstance(body, Mapping):
        return str(body.get("message") or body.get("error") or "")[:500], str(body.get("messageId") or "")
    return str(body)[:200], ""


def _is_provenance(message: str, message_id: str) -> bool:
    return "provenance" in message_id.lower() or "provenance" in message.lower()


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if marker in text:
            return marker
    return text[:200]


class GrafanaClient:
    """One Grafana, one ``requests.Session`` (pooled connections), for one provisioning run.

    ``request(method, path, what)`` takes a path under ``/api`` and returns the decoded JSON
    (None for an empty answer); ``what`` names the object in error messages.
    """

    def __init__(self, settings: GrafanaSettings, session: requests.Session | None = None) -> None:
        parts = urlsplit(settings.url)
        self.settings = settings
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}".rstrip("/")
        self.timeout = float(settings.request_timeout)
        self.session = session or requests.Session()
        # per request: a Session attribute would lose to REQUESTS_CA_BUNDLE from the environment
        self.verify: bool | str = False if settings.insecure else (settings.ca_file or True)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "watchtower"})
        if settings.token is not None:
            self.session.headers["Authorization"] = f"Bearer {settings.token.read()}"
            self._credential_kind = "token"
        elif settings.password is not None:
            self.session.auth = (settings.username or "", settings.password.read())
            self._credential_kind = "username/password"
        else:
            self._credential_kind = "anonymous access"

    def close(self) -> None:
        """Release the pooled connections (a client lives for one run)."""
        self.session.close()

    def request(self, method: str, path: str, what: str, *, body: Any = None,
                params: Mapping[str, str] | None = None, disable_provenance: bool = False) -> Any:
        headers = {"X-Disable-Provenance": "true"} if disable_provenance else None
        try:
            response = self.session.request(method, f"{self.url}/api{path}", json=body, params=params,
                                            headers=headers, timeout=self.timeout, verify=self.verify)
        except requests.exceptions.SSLError as exc:
            raise GrafanaTLSError(f"Grafana at {self.url}: TLS verification failed ({_short(exc)}); "
                                  "set ca_file to the CA that signed Grafana's certificate") from None
        except requests.Timeout:
            raise GrafanaUnreachable(f"Grafana at {self.url} did not answer within {self.timeout:g}s ({what})") from None
        except requests.RequestException as exc:
            raise GrafanaUnreachable(f"cannot reach Grafana at {self.url} ({what}): {_short(exc)}") from None
        if response.status_code < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise GrafanaUnreachable(f"{what}: Grafana answered {response.status_code} with a body that is not JSON") from None
        self._raise_for(response, what)
        return None  # not reached

    def _raise_for(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        message, message_id = _message(response)
        provenance = _is_provenance(message, message_id)
        if status == 401:
            raise GrafanaAuthError(f"Grafana rejected the {self._credential_kind} (401)")
        if status == 403 and not provenance:
            raise GrafanaAuthError(f"Grafana denied {what} (403): {message}")
        if status >= 500 and not provenance:
            raise GrafanaUnreachable(f"{what}: Grafana answered {status}: {message}")
        raise GrafanaRequestError(f"{what}: Grafana answered {status}: {message}", status, provenance)

    def get(self, path: str, what: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, what, params=params)

    def get_or_none(self, path: str, what: str) -> Any:
        """The object, or None when Grafana answers 404."""
        try:
            return self.get(path, what)
        except GrafanaRequestError as exc:
            if exc.status == 404:
                return None
            raise

    def health(self) -> Any:
        return self.get("/health", "health check")


__all__ = [
    "GrafanaAuthError", "GrafanaClient", "GrafanaError", "GrafanaRequestError", "GrafanaTLSError", "GrafanaUnreachable",
]
