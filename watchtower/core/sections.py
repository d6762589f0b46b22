"""Settings sections shared across layers: every collector's base settings, and the two config
sections (Kubernetes access, control-plane facts) that collectors and I/O helpers read.

They live below the application's ``Config`` so that ``io.kube`` and the collectors can be
typed against them without importing the application layer.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Literal, Protocol

from watchtower.core.settings import ConfigError, Seconds


@dataclasses.dataclass(frozen=True)
class CollectorSettings:
    """Settings every collector has; a collector's own ``Settings`` subclasses this.

    ``enabled: auto`` runs the collector when its inputs exist (a kubeconfig, a PKI
    directory, ...) and logs why not otherwise; ``true`` runs it regardless, so missing inputs
    surface as errors; ``false`` turns it off.
    """

    enabled: bool | Literal["auto"] = "auto"
    interval: Seconds = Seconds(60)
    timeout: Seconds = Seconds(30)

    def validate(self, path: str) -> None:
        if self.interval <= 0:
            raise ConfigError(f"{path}.interval", self.interval, "a duration above 0s")
        if self.timeout <= 0:
            raise ConfigError(f"{path}.timeout", self.timeout, "a duration above 0s")


@dataclasses.dataclass(frozen=True)
class KubernetesConfig:
    """How to reach the Kubernetes API. Unset means: in-cluster, then $KUBECONFIG, then ~/.kube/config."""

    kubeconfig: str | None = None
    context: str | None = None
    request_timeout: float = 10.0
    page_size: int = 500

    def validate(self, path: str) -> None:
        if not 1 <= self.page_size <= 10000:
            raise ConfigError(f"{path}.page_size", self.page_size, "an integer from 1 to 10000")
        if not 0 < self.request_timeout <= 300:
            raise ConfigError(f"{path}.request_timeout", self.request_timeout,
                              "seconds above 0, at most 300 (the whole budget of one request, retries included)")


@dataclasses.dataclass(frozen=True)
class ControlPlaneConfig:
    """Facts about the cluster that several collectors and checks share."""

    endpoint: str | None = None  # the controlPlaneEndpoint, e.g. "k8s-api.example.org:6443"
    vips: tuple[str, ...] = ()  # keepalived virtual IPs fronting the apiservers
    apiservers: tuple[str, ...] = ()  # each control-plane apiserver, "host:port"

    def validate(self, path: str) -> None:
        for i, vip in enumerate(self.vips):
            try:
                ipaddress.ip_address(vip)
            except ValueError:
                raise ConfigError(f"{path}.vips[{i}]", vip, "an IP address") from None


class SharedConfig(Protocol):
    """The part of the application's ``Config`` a collector may read (``context.config``)."""

    @property
    def kubernetes(self) -> KubernetesConfig: ...

    @property
    def control_plane(self) -> ControlPlaneConfig: ...
