"""``collectors.vip`` in the config file: which VIPs, and where keepalived's state is."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Literal

from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds


@dataclasses.dataclass(frozen=True)
class VipSettings(CollectorSettings):
    """Where to look. VIPs default to ``control_plane.vips``; keepalived sources are optional."""

    interval: Seconds = Seconds(5)
    timeout: Seconds = Seconds(5)
    vips: tuple[str, ...] = ()  # overrides control_plane.vips when set
    address_source: Literal["netlink", "ip_command"] = "netlink"  # netlink needs no iproute2
    ip_command: tuple[str, ...] = ("ip", "-j", "addr", "show")  # with address_source: ip_command
    keepalived_json_file: str | None = "/tmp/keepalived.json"  # read when present
    keepalived_json_max_age: Seconds = Seconds(60)  # older dumps are stale: reported, not used
    keepalived_json_signal: bool = False  # opt-in: ask keepalived for a fresh dump each run
    keepalived_json_signum: int | None = None  # None: `keepalived --signum=JSON`, else SIGRTMIN+2
    keepalived_pid_file: str | None = None  # e.g. /run/keepalived.pid: export whether keepalived runs
    keepalived_notify_files: tuple[str, ...] = ()  # state files written by a notify script

    def validate(self, path: str) -> None:
        super().validate(path)
        for i, vip in enumerate(self.vips):
            try:
                ipaddress.ip_address(vip)
            except ValueError:
                raise ConfigError(f"{path}.vips[{i}]", vip, "an IP address") from None
        if not self.ip_command:
            raise ConfigError(f"{path}.ip_command", self.ip_command, "a command, e.g. [ip, -j, addr, show]")
        if self.keepalived_json_signal and not self.keepalived_pid_file:
            raise ConfigError(f"{path}.keepalived_pid_file", None, "a pid file when keepalived_json_signal is true")
