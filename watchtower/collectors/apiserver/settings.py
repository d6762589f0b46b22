"""``collectors.apiserver`` in the config file: how to reach and authenticate to the apiservers."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from watchtower.core.regularfile import open_regular
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef

DEFAULT_CA_FILES = ("/etc/kubernetes/pki/ca.crt", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")

# --------------------------------------------------------------------------------------------
# The collector


@dataclasses.dataclass(frozen=True)
class ApiserverSettings(CollectorSettings):
    """Probe settings; the endpoints themselves come from ``control_plane``."""

    interval: Seconds = Seconds(30)
    timeout: Seconds = Seconds(20)
    probe_timeout: Seconds = Seconds(5)  # per request: connect, and each read
    port: int = 6443  # for VIPs and endpoints written without a port
    ca_file: str | None = None  # default: /etc/kubernetes/pki/ca.crt, else the service account's CA
    token: SecretRef | None = None  # token_file / token_env
    client_cert_file: str | None = None
    client_key_file: str | None = None
    probe_vips: bool = True
    probe_endpoint: bool = True
    max_concurrency: int = 16  # probes in flight; 3 per endpoint, so 5 endpoints finish in one wave

    def validate(self, path: str) -> None:
        super().validate(path)
        if not 0 < self.port < 65536:
            raise ConfigError(f"{path}.port", self.port, "a port from 1 to 65535")
        if self.probe_timeout <= 0 or self.probe_timeout >= self.timeout:
            raise ConfigError(f"{path}.probe_timeout", self.probe_timeout, f"above 0 and below timeout ({self.timeout:g}s)")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            missing = "client_key_file" if self.client_key_file is None else "client_cert_file"
            raise ConfigError(f"{path}.{missing}", None, "client_cert_file and client_key_file together")
        if self.token is not None and self.client_cert_file is not None:
            raise ConfigError(f"{path}.token", self.token.describe(), "either a token or a client certificate, not both")
        if not 1 <= self.max_concurrency <= 64:
            raise ConfigError(f"{path}.max_concurrency", self.max_concurrency, "an integer from 1 to 64")


def default_ca_file(candidates: Sequence[str] = DEFAULT_CA_FILES) -> str | None:
    """The first readable cluster CA among the usual places, or None (then: system trust)."""
    for candidate in candidates:
        try:
            fd, _info = open_regular(candidate)
        except OSError:  # missing, unreadable, or not a regular file (a FIFO would block)
            continue
        os.close(fd)
        return candidate
    return None
