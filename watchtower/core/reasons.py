"""Reason tokens: the ``reason`` of an ``ItemError`` and the ``reason`` label of the error metrics.

They are public API (alert rules and dashboards match them), so each is spelled once, here.
Collectors that classify failures their own way add their own tokens next to their code
(e.g. ``malformed_csv``); ``http_<code>`` is built from the status code.
"""

from __future__ import annotations

# transport (io.netprobe classifies socket, DNS and TLS failures into these)
TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
CONNECTION_ERROR = "connection_error"
DNS_ERROR = "dns_error"
UNREACHABLE = "unreachable"
TLS_VERIFY_FAILED = "tls_verify_failed"  # etcd, HAProxy, the release source; the apiserver collector says TLS_VERIFY
TLS_VERIFY = "tls_verify"
TLS_BAD_CERTIFICATE = "tls_bad_certificate"
TLS_ERROR = "tls_error"
CA_UNREADABLE = "ca_unreadable"
CLIENT_CERT_UNREADABLE = "client_cert_unreadable"
HTTP_ERROR = "http_error"
RESPONSE_TOO_LARGE = "response_too_large"
BAD_RESPONSE = "bad_response"

# files
NOT_FOUND = "not_found"
PERMISSION_DENIED = "permission_denied"
READ_ERROR = "read_error"
TOO_LARGE = "too_large"
NOT_REGULAR_FILE = "not_regular_file"  # a FIFO, socket or device: never opened for a blocking read
TOO_DEEP = "too_deep"  # directories nested deeper than a walk goes
IS_DIRECTORY = "is_directory"
PARSE_ERROR = "parse_error"

# sources and secrets
UNAVAILABLE = "unavailable"
SECRET_UNAVAILABLE = "secret_unavailable"
