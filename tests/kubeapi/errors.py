"""API errors and the ``Status`` bodies the real apiserver answers them with.

The official client turns any non-2xx answer into ``ApiException`` and callers read
``exc.status``, ``exc.reason`` and the JSON body, so the body must be a real ``metav1.Status``
(``kind``, ``apiVersion``, ``status: Failure``, ``message``, ``reason``, ``code``) for code under
test to see what it would see in production.
"""

from __future__ import annotations

import json
from typing import Any

# The StatusReason the apiserver pairs with each HTTP code (k8s.io/apimachinery metav1 types).
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

# Messages of injected failures, worded like the real server's so log assertions read naturally.
INJECTED_MESSAGES: dict[int, str] = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected failure",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within the allotted timeout",
}

EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter, or use the continue token in this response to "
    "retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the first "
    "chunk was returned and now may show up in the list."
)


class ApiError(Exception):
    """A request the server refuses; carries everything needed to render its ``Status``."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def body(self) -> bytes:
        """The JSON ``Status`` the real apiserver would send for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return json.dumps(status, separators=(",", ":")).encode()


def not_found(resource: str, name: str) -> ApiError:
    """``nodes "x" not found``, with the details the client and kubectl show."""
    return ApiError(404, f'{resource} "{name}" not found', details={"name": name, "kind": resource})


def unknown_path() -> ApiError:
    """What the apiserver answers for a path no API group serves."""
    return ApiError(404, "the server could not find the requested resource", details={})


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def expired() -> ApiError:
    """410 Gone for a continue token older than the last compaction, reason ``Expired``."""
    return ApiError(410, EXPIRED_MESSAGE, reason="Expired")


def injected(code: int) -> ApiError:
    """A failure a test asked for through the knobs."""
    return ApiError(code, INJECTED_MESSAGES.get(code, f"injected failure (HTTP {code})"))


def forbidden(user: str, verb: str, resource: str, namespace: str | None, name: str | None, group: str = "") -> ApiError:
    """403 worded exactly like the RBAC authorizer's denial, which people grep logs for."""
    subject = f'{resource} "{name}"' if name else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    details: dict[str, Any] = {"kind": resource}
    if name:
        details = {"name": name, "kind": resource}
    message = f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {scope}'
    return ApiError(403, message, details=details)


def forbidden_path(user: str, path: str) -> ApiError:
    """403 for a non-resource URL (e.g. an anonymous user asking for ``/metrics``)."""
    return ApiError(403, f'forbidden: User "{user}" cannot get path "{path}"', details={})
