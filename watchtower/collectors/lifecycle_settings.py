"""The ``nodes`` collector's settings (``collectors.nodes`` and its ``lifecycle``), apart from the
lifecycle code in ``node_lifecycle``: binding a config needs every collector's settings, so a daemon
that does not run the nodes collector (the node role) loads these, not the tally and rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from watchtower.core.lazy import lazy_module
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds
from watchtower.upgrades.urls import DEFAULT_ENDOFLIFE_API

if TYPE_CHECKING:
    from watchtower.upgrades import lifecycle as lc
else:  # loaded when a config has static lifecycle dates to check
    lc = lazy_module("watchtower.upgrades.lifecycle")

DAY = 86400.0


@dataclasses.dataclass(frozen=True)
class LifecycleSettings:
    """``collectors.nodes.lifecycle`` in the config file."""

    source: Literal["endoflife.date", "snapshot"] = "endoflife.date"  # snapshot: air-gapped, nothing fetched
    url: str = DEFAULT_ENDOFLIFE_API
    static: Mapping[str, Mapping[str, Mapping[str, str]]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))  # product → release line → {eol, extended}
    reminder_lead: Seconds = Seconds(90 * DAY)
    cache: Seconds = Seconds(6 * 3600)
    retry: Seconds = Seconds(600)
    timeout: Seconds = Seconds(10)

    def validate(self, path: str) -> None:
        try:
            if self.static:
                lc.parse_static(self.static)
        except lc.StaticEntryError as exc:
            raise ConfigError(f"{path}.static.{exc.where}", exc.value, exc.expected) from None
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.url", self.url, "an http:// or https:// URL")
        if self.reminder_lead <= 0:
            raise ConfigError(f"{path}.reminder_lead", self.reminder_lead, "a duration above 0s")
        if self.timeout <= 0:
            raise ConfigError(f"{path}.timeout", self.timeout, "a duration above 0s")


@dataclasses.dataclass(frozen=True)
class NodesSettings(CollectorSettings):
    """``collectors.nodes`` in the config file."""

    lifecycle: LifecycleSettings = dataclasses.field(default_factory=LifecycleSettings)
