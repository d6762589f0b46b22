"""``collectors.upgrade`` in the config file: the policy, the release source, the state file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from watchtower.core.lazy import lazy_module
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds, format_duration
from watchtower.upgrades.kubeversion import try_parse_version
from watchtower.upgrades.policy import parse_interval
from watchtower.upgrades.urls import DEFAULT_DL_BASE_URL

if TYPE_CHECKING:
    from watchtower.upgrades import releases
else:  # the fetching and parsing code: loaded by a static_eol to check, or the collector's first run
    releases = lazy_module("watchtower.upgrades.releases")

DAY = 86400.0


@dataclasses.dataclass(frozen=True)
class UpgradeSettings(CollectorSettings):
    """``collectors.upgrade`` in the config file."""

    interval: Seconds = Seconds(300)
    upgrade_every: str = "4mo"  # calendar months ("4mo") or a fixed duration ("120d")
    reminder_lead: Seconds = Seconds(14 * DAY)
    state_file: str | None = None  # e.g. /var/lib/watchtower/upgrade-state.json; unset: memory only
    kubeadm_root: str = "/etc/kubernetes"
    cert_validity: Seconds = Seconds(365 * DAY)  # kubeadm's leaf lifetime unless kubeadm-config says
    release_source: Literal["dl.k8s.io", "endoflife.date", "static"] = "dl.k8s.io"
    release_base_url: str = DEFAULT_DL_BASE_URL
    endoflife_url: str | None = None  # adds end-of-life dates to dl.k8s.io; default URL for endoflife.date
    static_latest: str | None = None  # release_source: static, e.g. "v1.31.4"
    static_eol: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))  # "1.30": "2025-06-28"
    release_cache: Seconds = Seconds(6 * 3600)
    release_retry: Seconds = Seconds(600)
    release_timeout: Seconds = Seconds(10)
    days_per_hop: float = 7.0  # how long one kubeadm hop takes the team (watchtower plan upgrade)

    def validate(self, path: str) -> None:
        super().validate(path)
        try:
            parse_interval(self.upgrade_every)
        except ValueError as exc:
            raise ConfigError(f"{path}.upgrade_every", self.upgrade_every,
                              f"calendar months like 4mo or a duration like 120d ({exc})") from None
        if not 0 < self.days_per_hop <= 365:
            raise ConfigError(f"{path}.days_per_hop", self.days_per_hop, "a number of days above 0, at most 365")
        if self.reminder_lead <= 0:
            raise ConfigError(f"{path}.reminder_lead", self.reminder_lead, "a duration above 0s")
        if self.cert_validity <= 0:
            raise ConfigError(f"{path}.cert_validity", self.cert_validity, "a duration above 0s")
        if self.release_source == "static" and not self.static_latest:
            raise ConfigError(f"{path}.static_latest", None, "a version like v1.31.4 when release_source is static")
        if self.static_latest is not None and try_parse_version(self.static_latest) is None:
            raise ConfigError(f"{path}.static_latest", self.static_latest, "a version like v1.31.4")
        try:
            if self.static_eol:
                releases.parse_static_eol(self.static_eol)
        except ValueError as exc:
            raise ConfigError(f"{path}.static_eol", dict(self.static_eol), f"minor → date like 2025-06-28 ({exc})") from None
        if not 0 < self.release_timeout < self.timeout:
            raise ConfigError(f"{path}.release_timeout", self.release_timeout, f"above 0s and below timeout ({format_duration(self.timeout)})")
        for name in ("release_base_url", "endoflife_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{path}.{name}", value, "an http:// or https:// URL")
