"""I/O: the stats CSV from the stats URL (HTTP(S), optional basic auth) or the admin socket."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from watchtower.collectors.haproxy.settings import HAProxySettings
from watchtower.core import reasons
from watchtower.core.settings import SecretUnavailable
from watchtower.io.netprobe import ProbeError, TLSClientConfig, http_get, unix_socket_exchange

# --------------------------------------------------------------------------------------------
# I/O and the collector


def csv_url(stats_url: str) -> str:
    """The CSV form of a stats page URL: ``;csv`` after the whole ``stats uri``.

    HAProxy matches the request against the configured uri as a prefix, query included
    (``stats uri /haproxy?stats`` → ``/haproxy?stats;csv``).
    """
    parts = urlsplit(stats_url)
    if ";csv" in parts.path or ";csv" in parts.query:
        return stats_url
    parts = parts._replace(path=parts.path or "/", fragment="")
    if parts.query:
        return urlunsplit(parts._replace(query=parts.query + ";csv"))
    return urlunsplit(parts._replace(path=parts.path + ";csv"))


def read_stats(settings: HAProxySettings) -> bytes:
    """The raw stats CSV from the configured source. Raises ``ProbeError``."""
    timeout = float(settings.request_timeout)
    if settings.stats_url is not None:
        auth = None
        if settings.username is not None:
            try:
                password = settings.password.read() if settings.password is not None else ""
            except SecretUnavailable as exc:
                raise ProbeError(reasons.SECRET_UNAVAILABLE, str(exc)) from None
            auth = (settings.username, password)
        url = csv_url(settings.stats_url)
        fetched = http_get(url, timeout, TLSClientConfig(ca_file=settings.ca_file,
                                                         insecure_skip_verify=settings.insecure_skip_verify), auth)
        if fetched.status != 200:
            reason = {401: "unauthorized", 403: "forbidden"}.get(fetched.status, reasons.HTTP_ERROR)
            raise ProbeError(reason, f"{settings.stats_url}: HTTP {fetched.status}")
        return fetched.body
    path = settings.socket_path
    assert path is not None
    return unix_socket_exchange(path, b"show stat\n", timeout)
