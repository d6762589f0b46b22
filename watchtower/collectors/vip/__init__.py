"""Who holds the VIP on this node, and what keepalived says about it (node role).

The node view is deliberately small: "is each configured VIP bound to one of my interfaces"
(from ``ip -j addr``) plus keepalived's own account (its JSON dump or a notify-script state
file). Judging the cluster — exactly one holder, none, two — is the job of the alert rules,
which see every node's series side by side (alerts/controlplane.rules.yaml).

keepalived is never signalled unless ``keepalived_json_signal: true``; by default the collector
only reads files keepalived (or its notify script) already writes.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING, ClassVar

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.collectors.vip.settings import VipSettings
from watchtower.core import reasons
from watchtower.core.lazy import lazy_module
from watchtower.core.regularfile import read_regular
from watchtower.core.results import CollectResult, ItemError
from watchtower.core.sections import CollectorSettings

if TYPE_CHECKING:
    from watchtower.collectors.vip import export, parse, read
    from watchtower.io import netlink
else:  # loaded by the first run: a daemon that does not run the vip collector never imports them
    export = lazy_module("watchtower.collectors.vip.export")
    netlink = lazy_module("watchtower.io.netlink")
    parse = lazy_module("watchtower.collectors.vip.parse")
    read = lazy_module("watchtower.collectors.vip.read")

# --------------------------------------------------------------------------------------------
# The collector


class VipCollector(Collector[VipSettings]):
    name: ClassVar[str] = "vip"
    title: ClassVar[str] = "Virtual IP"
    roles: ClassVar[frozenset[Role]] = frozenset({"node"})
    metric_prefixes: ClassVar[tuple[str, ...]] = ("watchtower_vip_held", "watchtower_keepalived_")
    Settings: ClassVar[type[CollectorSettings]] = VipSettings

    def __init__(self, settings: VipSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self._signum: int | None = None

    @classmethod
    def unavailable_reason(cls, settings: VipSettings, context: CollectorContext) -> str | None:
        if not (settings.vips or context.config.control_plane.vips):
            return "no VIPs configured (control_plane.vips)"
        return None

    def _vips(self) -> tuple[str, ...]:
        return self.settings.vips or self.context.config.control_plane.vips

    # -- I/O ----------------------------------------------------------------------------------

    def _read_addresses(self, errors: list[ItemError]) -> tuple[netlink.Address, ...] | None:
        if self.settings.address_source == "netlink":
            try:
                return tuple(netlink.dump_addresses(timeout=max(0.5, float(self.settings.timeout) / 2)))
            except TimeoutError:
                errors.append(ItemError("netlink RTM_GETADDR", reasons.TIMEOUT, "no complete address dump in time"))
            except OSError as exc:  # NetlinkError included
                errors.append(ItemError("netlink RTM_GETADDR", "netlink_error", str(exc)[:200]))
            return None
        location = " ".join(self.settings.ip_command)
        try:
            done = subprocess.run(
                list(self.settings.ip_command), capture_output=True, text=True, check=False,
                timeout=max(0.5, float(self.settings.timeout) / 2),
            )
        except FileNotFoundError:
            errors.append(ItemError(location, "ip_command_missing", f"{self.settings.ip_command[0]} is not installed"))
            return None
        except subprocess.TimeoutExpired:
            errors.append(ItemError(location, reasons.TIMEOUT, "no answer in time"))
            return None
        if done.returncode != 0:
            errors.append(ItemError(location, "ip_command_failed", f"exit {done.returncode}: {done.stderr.strip()[:200]}"))
            return None
        try:
            return parse.parse_ip_addr_json(done.stdout)
        except parse.FormatError as exc:
            errors.append(ItemError(location, reasons.PARSE_ERROR, str(exc)))
            return None

    def _request_dump(self, process: read.ProcessState | None, errors: list[ItemError]) -> int | None:
        """Signal keepalived for a fresh JSON dump (opt-in); the file's mtime (ns) before, or None if not sent."""
        path = self.settings.keepalived_json_file or ""
        if process is None or process.pid is None or not process.running:  # collect() checked; belt and braces
            return None
        if self._signum is None:
            self._signum = read._json_signum(self.settings.keepalived_json_signum)
        try:
            before = os.stat(path).st_mtime_ns
        except OSError:
            before = 0
        try:
            os.kill(process.pid, self._signum)
        except OSError as exc:
            errors.append(ItemError(self.settings.keepalived_pid_file or "", "signal_failed", exc.strerror or str(exc)))
            return None
        return before

    def _read_json_dump(self, process: read.ProcessState | None, errors: list[ItemError]) -> tuple[parse.VrrpInstance, ...]:
        path = self.settings.keepalived_json_file
        if not path:
            return ()
        before: int | None = None  # integer ns: a float would round and make the old dump look fresh
        if self.settings.keepalived_json_signal:
            before = self._request_dump(process, errors)
            if before is None:
                return ()
        deadline = self.context.monotonic() + min(parse._SIGNAL_WAIT_SECONDS, float(self.settings.timeout) / 2)
        while True:  # bounded: one pass without signalling, else until the deadline
            problem: ItemError | None = None
            try:
                stat = os.stat(path)
                fresh = before is None or stat.st_mtime_ns > before
                if fresh:
                    text = read_regular(path, 1 << 20).decode("utf-8", errors="replace")
                    age = self.context.clock() - stat.st_mtime
                    if age > float(self.settings.keepalived_json_max_age):
                        errors.append(ItemError(path, "stale_dump",
                                                f"written {age:.0f}s ago (keepalived_json_max_age "
                                                f"{float(self.settings.keepalived_json_max_age):g}s); not used"))
                        return ()
                    return parse.parse_keepalived_json(text, path)
                problem = ItemError(path, "dump_timeout", "keepalived did not write a fresh dump in time")
            except FileNotFoundError:
                if before is None:
                    return ()  # no dump, no signalling: nothing to say
                problem = ItemError(path, "dump_timeout", "keepalived did not write a dump in time")
            except OSError as exc:
                errors.append(ItemError(path, reasons.READ_ERROR, exc.strerror or str(exc)))
                return ()
            except parse.FormatError as exc:  # maybe half-written while we read: retry until the deadline
                problem = ItemError(path, "unsupported_format", str(exc))
            if before is None or self.context.monotonic() >= deadline:
                errors.append(problem)
                return ()
            if process is not None and not read.read_process_state(process.pid_file).running:
                return ()  # it exited (e.g. stopping) instead of answering: nothing current to report
            time.sleep(0.02)

    def _read_notify_files(self, errors: list[ItemError]) -> tuple[parse.VrrpInstance, ...]:
        out: list[parse.VrrpInstance] = []
        for path in self.settings.keepalived_notify_files:
            try:
                text = read_regular(path, 1 << 20).decode("utf-8", errors="replace")
                mtime = os.stat(path).st_mtime
            except FileNotFoundError:
                continue  # keepalived has not reported a transition yet
            except OSError as exc:
                errors.append(ItemError(path, reasons.READ_ERROR, exc.strerror or str(exc)))
                continue
            try:
                out.append(parse.parse_notify_state(text, path, mtime))
            except parse.FormatError as exc:
                errors.append(ItemError(path, reasons.PARSE_ERROR, str(exc)))
        return tuple(out)

    # -- collect ------------------------------------------------------------------------------

    def collect(self) -> CollectResult:
        errors: list[ItemError] = []
        node = self.context.node_name
        vips = self._vips()
        process = read.read_process_state(self.settings.keepalived_pid_file) if self.settings.keepalived_pid_file else None
        if process is not None and not process.running:
            # a dead keepalived's dump and notify files hold its last state, not a current one
            instances: tuple[parse.VrrpInstance, ...] = ()
        else:
            instances = parse.merge_instances(self._read_json_dump(process, errors), self._read_notify_files(errors))
        # addresses last: "who holds the VIP" is the primary fact, so it is the freshest one published
        addresses = self._read_addresses(errors)
        bindings = parse.vip_bindings(addresses, vips) if addresses is not None else None
        return CollectResult(
            metrics=tuple(export.vip_metrics(node, bindings, instances, process)),
            errors=tuple(errors),
            findings=tuple(export.vip_findings(node, bindings, instances, process)),
            details=export.VipDetails.build(node, bindings, instances, process),
        )
