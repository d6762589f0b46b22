"""``collectors.etcd`` in the config file: endpoints and the TLS files for them."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds
from watchtower.io.netprobe import TLSClientConfig

KUBEADM_ETCD_PKI = "/etc/kubernetes/pki/etcd"
DB_QUOTA_WARNING_FRACTION = 0.8  # for the `check` finding only; alerts carry their own threshold


@dataclasses.dataclass(frozen=True)
class EtcdSettings(CollectorSettings):
    """Endpoints to probe; TLS files apply to https:// endpoints (kubeadm's by default)."""

    interval: Seconds = Seconds(15)
    timeout: Seconds = Seconds(10)
    endpoints: tuple[str, ...] = ("https://127.0.0.1:2379",)
    ca_file: str | None = f"{KUBEADM_ETCD_PKI}/ca.crt"
    cert_file: str | None = f"{KUBEADM_ETCD_PKI}/healthcheck-client.crt"
    key_file: str | None = f"{KUBEADM_ETCD_PKI}/healthcheck-client.key"
    request_timeout: Seconds = Seconds(5)

    def validate(self, path: str) -> None:
        super().validate(path)
        if not self.endpoints:
            raise ConfigError(f"{path}.endpoints", [], "at least one endpoint, e.g. https://127.0.0.1:2379")
        for i, endpoint in enumerate(self.endpoints):
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ConfigError(f"{path}.endpoints[{i}]", endpoint, "a URL like https://127.0.0.1:2379 (no path)")
            if parts.username or parts.password:
                raise ConfigError(f"{path}.endpoints[{i}]", "<redacted>", "a URL without credentials")
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError(f"{path}.key_file" if self.key_file is None else f"{path}.cert_file", None,
                              "cert_file and key_file together (or both null)")
        if self.request_timeout <= 0:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout, "a duration above 0s")

    def tls(self) -> TLSClientConfig:
        return TLSClientConfig(ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file)
