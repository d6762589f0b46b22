"""``collectors.haproxy`` in the config file: where the stats are and how to read them."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef

DEFAULT_STATS_SOCKET = "/run/haproxy/admin.sock"  # Debian's haproxy.cfg

# --------------------------------------------------------------------------------------------
# Settings


@dataclasses.dataclass(frozen=True)
class HAProxySettings(CollectorSettings):
    """Where HAProxy's stats are: ``stats_url`` (the ``stats uri``) or ``stats_socket``.

    With neither, the Debian default socket /run/haproxy/admin.sock is used (and ``enabled:
    auto`` skips the collector when it does not exist).
    """

    interval: Seconds = Seconds(15)
    timeout: Seconds = Seconds(10)
    stats_url: str | None = None
    stats_socket: str | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    request_timeout: Seconds = Seconds(5)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.stats_url is not None and self.stats_socket is not None:
            raise ConfigError(f"{path}.stats_socket", self.stats_socket, "either stats_url or stats_socket, not both")
        if self.stats_url is not None:
            parts = urlsplit(self.stats_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{path}.stats_url", self.stats_url, "an http:// or https:// URL of the stats page")
            if parts.username or parts.password:
                raise ConfigError(f"{path}.stats_url", "<redacted>", "a URL without credentials (use username/password_file)")
        if self.password is not None and self.username is None:
            raise ConfigError(f"{path}.username", None, "a username to go with the password")
        if self.request_timeout <= 0:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout, "a duration above 0s")

    @property
    def socket_path(self) -> str | None:
        if self.stats_url is not None:
            return None
        return self.stats_socket or DEFAULT_STATS_SOCKET

    @property
    def source(self) -> str:
        """The label naming where the stats come from (never contains credentials)."""
        return self.stats_url if self.stats_url is not None else f"unix:{self.socket_path}"
