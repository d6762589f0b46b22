"""``collectors.certs`` in the config file, and the label sets and severities the certs metrics use."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from watchtower.core.formatting import split_host_port
from watchtower.core.lazy import lazy_module
from watchtower.core.results import Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, SecretRef, format_duration

if TYPE_CHECKING:
    import watchtower.pki.urgency as pki_urgency
else:  # with the pki package: loaded by the collector's first run, not by reading the config
    pki_urgency = lazy_module("watchtower.pki.urgency")

CERT_LABELS = ("source", "location", "name", "subject_cn", "issuer_cn", "serial", "is_ca")
CHECK_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "chain_valid": ("source", "location", "name", "subject_cn", "serial", "reason"),
    "expires_after_issuer": ("source", "location", "name", "subject_cn", "serial", "issuer_cn", "issuer_location"),
    "key_matches": ("source", "location", "name", "key_location"),
    "san_covers": ("source", "location", "name"),
    "kubeconfig_ca_matches_cluster_ca": ("location", "name", "cluster_ca"),
    "served_matches_disk": ("endpoint", "disk_location", "served_serial", "disk_serial"),
})
CHECK_HELP: Mapping[str, str] = MappingProxyType({
    "chain_valid": "1 if the certificate chains to a trusted root (endpoints: a TLS client would accept it), else 0.",
    "expires_after_issuer": "1 if the certificate outlives its issuer (it stops verifying when the issuer expires), else 0.",
    "key_matches": "1 if the private key next to the certificate matches it, else 0.",
    "san_covers": "1 if apiserver.crt's SANs cover the VIP or control-plane endpoint `name`, else 0.",
    "kubeconfig_ca_matches_cluster_ca": "1 if the kubeconfig's embedded CA is pki/ca.crt, else 0.",
    "served_matches_disk": "1 if the apiserver serves the certificate in pki/apiserver.crt, else 0.",
})
# A failed check → how bad. expires_after_issuer's metric is 1 when the problem is present.
CHECK_SEVERITY: Mapping[str, Severity] = MappingProxyType({
    "chain_valid": Severity.CRITICAL, "expires_after_issuer": Severity.WARNING, "key_matches": Severity.CRITICAL,
    "san_covers": Severity.CRITICAL, "kubeconfig_ca_matches_cluster_ca": Severity.CRITICAL,
    "served_matches_disk": Severity.WARNING,
})
_PROBLEM_IS_ONE = frozenset({"expires_after_issuer"})
_LOCAL_SOURCES = frozenset({"file", "kubeadm", "kubeconfig"})  # judged for chains among themselves
_URGENCY_SEVERITY = {"ok": Severity.OK, "warning": Severity.WARNING, "critical": Severity.CRITICAL,
                     "expired": Severity.CRITICAL, "not_yet_valid": Severity.CRITICAL}
SOURCE_ORDER = ("kubeadm", "file", "kubeconfig", "endpoint", "secret")


def _check_host_port(address: str) -> None:
    """ValueError unless ``address`` is ``host:port`` or ``[v6]:port``, as ``certsources.Endpoint.parse``
    takes it (checked here without loading the certificate sources)."""
    host, _port = split_host_port(address)
    if not host:
        raise ValueError(f"not HOST:PORT: {address!r}")


@dataclasses.dataclass(frozen=True)
class EndpointSettings:
    """A TLS endpoint: ``address`` host:port, optional SNI ``server_name`` and ``ca_file`` to verify with."""

    address: str
    server_name: str | None = None
    ca_file: str | None = None


@dataclasses.dataclass(frozen=True)
class SecretsSettings:
    """Kubernetes Secrets to read (off unless enabled: it needs list permission on Secrets)."""

    enabled: bool = False
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    types: tuple[str, ...] = ("kubernetes.io/tls",)
    keys: tuple[str, ...] = ("tls.crt",)


@dataclasses.dataclass(frozen=True)
class CertsSettings(CollectorSettings):
    interval: Seconds = Seconds(300)
    timeout: Seconds = Seconds(120)
    paths: tuple[str, ...] = ()  # files, directories, globs (** recursive)
    kubeconfigs: tuple[str, ...] = ()  # kubeconfig files or globs
    kubeadm: bool | Literal["auto"] = "auto"  # discover kubeadm's PKI when kubeadm_root has one
    kubeadm_root: str = "/etc/kubernetes"
    kubelet_pki_dir: str = "/var/lib/kubelet/pki"
    apiserver_endpoints: tuple[str, ...] = ("127.0.0.1:6443",)  # where the local apiserver serves (served vs disk)
    endpoints: tuple[str | EndpointSettings, ...] = ()
    endpoint_timeout: Seconds = Seconds(5)
    endpoint_concurrency: int = 8
    secrets: SecretsSettings = SecretsSettings()
    max_file_size: int = 1024 * 1024  # bytes; larger files are an error, not read
    pkcs12_passphrase: SecretRef | None = None
    warning_before: Seconds = Seconds(30 * 86400)
    warning_fraction: float = 0.20
    critical_before: Seconds = Seconds(7 * 86400)
    critical_fraction: float = 0.05

    def validate(self, path: str) -> None:
        super().validate(path)
        for i, item in enumerate(self.endpoints):
            address = item if isinstance(item, str) else item.address
            try:
                _check_host_port(address)
            except ValueError:
                raise ConfigError(f"{path}.endpoints[{i}]", address, "HOST:PORT") from None
        for i, address in enumerate(self.apiserver_endpoints):
            try:
                _check_host_port(address)
            except ValueError:
                raise ConfigError(f"{path}.apiserver_endpoints[{i}]", address, "HOST:PORT") from None
        if not 1 <= self.endpoint_concurrency <= 256:
            raise ConfigError(f"{path}.endpoint_concurrency", self.endpoint_concurrency, "1 to 256")
        if self.max_file_size < 1:
            raise ConfigError(f"{path}.max_file_size", self.max_file_size, "a size in bytes above 0")
        for name in ("warning_fraction", "critical_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{path}.{name}", getattr(self, name), "a fraction from 0 to 1")
        if self.critical_before > self.warning_before:  # else a certificate turns critical before warning
            raise ConfigError(f"{path}.critical_before", self.critical_before,
                              f"at most warning_before ({format_duration(self.warning_before)})")
        if self.critical_fraction > self.warning_fraction:
            raise ConfigError(f"{path}.critical_fraction", self.critical_fraction,
                              f"at most warning_fraction ({self.warning_fraction:g})")

    @property
    def thresholds(self) -> pki_urgency.Thresholds:
        return pki_urgency.Thresholds(float(self.warning_before), self.warning_fraction, float(self.critical_before),
                          self.critical_fraction)
