"""Who holds the VIP on this node, and what keepalived says about it (node role).

The node view is deliberately small: "is each configured VIP bound to one of my interfaces"
(from ``ip -j addr``) plus keepalived's own account (its JSON dump or a notify-script state
file). Judging the cluster — exactly one holder, none, two — is the job of the alert rules,
which see every node's series side by side (alerts/controlplane.rules.yaml).

keepalived is never signalled unless ``keepalived_json_signal: true``; by default the collector
only reads files keepalived (or its notify script) already writes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from watchtower.collectors.base import Collector, CollectorContext, Role
from watchtower.core import reasons
from watchtower.core.formatting import format_table
from watchtower.core.regularfile import read_regular
from watchtower.core.results import CollectResult, Finding, ItemError, Severity
from watchtower.core.sections import CollectorSettings
from watchtower.core.settings import ConfigError, Seconds
from watchtower.io.netlink import Address as InterfaceAddress
from watchtower.io.netlink import dump_addresses

SECTION = "vip"

VRRP_STATES = ("init", "backup", "master", "fault", "stop")
"""Every state exported as its own series (1 for the current one): 0..3 are keepalived's
JSON ``data.state`` codes; ``stop`` is what a notify script reports when keepalived shuts down."""

_JSON_STATE_CODES = {0: "init", 1: "backup", 2: "master", 3: "fault"}
_NOTIFY_STATES = {"MASTER": "master", "BACKUP": "backup", "FAULT": "fault", "STOP": "stop", "DELETED": "stop"}
_SIGNAL_WAIT_SECONDS = 0.3  # a dump takes milliseconds; a keepalived busy stopping never answers


# --------------------------------------------------------------------------------------------
# Pure data model and parsers (no I/O)


@dataclasses.dataclass(frozen=True)
class VrrpInstance:
    """keepalived's view of one vrrp_instance; fields a source does not provide are None."""

    name: str
    state: str  # one of VRRP_STATES
    source: str  # the file it was read from
    priority: int | None = None
    last_transition: float | None = None
    become_master: int | None = None
    vips: tuple[str, ...] = ()


class FormatError(ValueError):
    """Input that is not in the format this collector understands; the message says what is off."""


def _json_list(text: str, items: str) -> list[Any]:
    """The JSON list ``text`` holds; FormatError saying what is off when it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, list):
        raise FormatError(f"expected a JSON list of {items}, got {type(value).__name__}")
    return value


def parse_ip_addr_json(text: str) -> tuple[InterfaceAddress, ...]:
    """Addresses from the output of ``ip -j addr show`` (iproute2's JSON)."""
    links = _json_list(text, "interfaces")
    out: list[InterfaceAddress] = []
    for i, link in enumerate(links):
        if not isinstance(link, dict) or not isinstance(link.get("ifname"), str):
            raise FormatError(f"interface {i}: no ifname")
        for addr in link.get("addr_info") or ():
            # `ip -j addr` emits {} placeholders for links without details; skip those
            if not isinstance(addr, dict) or "local" not in addr:
                continue
            out.append(InterfaceAddress(
                interface=link["ifname"],
                address=str(addr["local"]),
                prefixlen=int(addr.get("prefixlen", 0)),
            ))
    return tuple(out)


def vip_bindings(addresses: Sequence[InterfaceAddress], vips: Sequence[str]) -> dict[str, str | None]:
    """VIP → the interface it is bound to here, or None. Compares parsed IPs, not spellings."""
    by_ip: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for item in addresses:
        try:
            by_ip.setdefault(ipaddress.ip_address(item.address.split("%", 1)[0]), item.interface)
        except ValueError:
            continue
    return {vip: by_ip.get(ipaddress.ip_address(vip)) for vip in vips}


def _require(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        shown = "missing" if key not in mapping else f"a {type(value).__name__}"
        raise FormatError(f"{where}.{key} is {shown}")
    return value


def parse_keepalived_json(text: str, source: str) -> tuple[VrrpInstance, ...]:
    """Instances from keepalived's JSON dump (``/tmp/keepalived.json``, keepalived 2.x format).

    Raises FormatError naming the first field that does not match, e.g. a dump written by a
    keepalived version with a different layout.
    """
    entries = _json_list(text, "VRRP instances")
    out: list[VrrpInstance] = []
    for i, entry in enumerate(entries):
        where = f"[{i}]"
        if not isinstance(entry, dict):
            raise FormatError(f"{where} is a {type(entry).__name__}, not an object")
        data = _require(entry, "data", dict, where)
        stats = _require(entry, "stats", dict, where)
        name = _require(data, "iname", str, f"{where}.data")
        code = _require(data, "state", int, f"{where}.data")
        if code not in _JSON_STATE_CODES:
            raise FormatError(f"{where}.data.state is {code}, not one of 0 init, 1 backup, 2 master, 3 fault")
        priority = _require(data, "effective_priority", int, f"{where}.data")
        transition = _require(data, "last_transition", (int, float), f"{where}.data")
        become_master = _require(stats, "become_master", int, f"{where}.stats")
        vips = data.get("vips", [])
        if not isinstance(vips, list):
            raise FormatError(f"{where}.data.vips is a {type(vips).__name__}, not a list")
        out.append(VrrpInstance(
            name=name, state=_JSON_STATE_CODES[code], source=source, priority=priority,
            last_transition=float(transition), become_master=become_master,
            vips=tuple(str(v).split(" ", 1)[0] for v in vips),
        ))
    return tuple(out)


def parse_notify_state(text: str, source: str, mtime: float | None = None) -> VrrpInstance:
    """The state a keepalived notify script recorded.

    The script writes its arguments (``echo "$@" > FILE``): ``INSTANCE NAME STATE PRIORITY``;
    a file holding just the state word (``MASTER``) is accepted too and named after the file.
    The file's modification time is the last transition.
    """
    words = text.split()
    if len(words) == 1:
        name, state_word, priority_word = Path(source).stem, words[0], None
    elif len(words) in (3, 4) and words[0].upper() in ("INSTANCE", "GROUP"):
        name, state_word = words[1], words[2]
        priority_word = words[3] if len(words) == 4 else None
    else:
        raise FormatError(f"expected 'INSTANCE NAME STATE [PRIORITY]' or a state word, got {text.strip()[:60]!r}")
    state = _NOTIFY_STATES.get(state_word.upper())
    if state is None:
        raise FormatError(f"unknown state {state_word[:20]!r}, expected one of {sorted(_NOTIFY_STATES)}")
    priority = None
    if priority_word is not None:
        if not priority_word.isdigit():
            raise FormatError(f"priority {priority_word[:20]!r} is not a number")
        priority = int(priority_word)
    return VrrpInstance(name=name, state=state, source=source, priority=priority, last_transition=mtime)


def merge_instances(*sources: Sequence[VrrpInstance]) -> tuple[VrrpInstance, ...]:
    """One entry per instance name; earlier sources win (the JSON dump is richer than notify files)."""
    seen: dict[str, VrrpInstance] = {}
    for instances in sources:
        for inst in instances:
            seen.setdefault(inst.name, inst)
    return tuple(sorted(seen.values(), key=lambda i: i.name))


# --------------------------------------------------------------------------------------------
# The collector


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


@dataclasses.dataclass(frozen=True)
class ProcessState:
    """Whether the process named by a pid file runs (read from /proc, never by signalling it)."""

    pid_file: str
    pid: int | None
    running: bool


def read_process_state(pid_file: str, proc_root: Path = Path("/proc"), comm: str = "keepalived") -> ProcessState:
    """Whether the pid in ``pid_file`` is a live (not zombie) ``comm`` process.

    A missing pid file counts as not running: keepalived removes it on a clean stop.
    """
    try:
        text = read_regular(pid_file, 4096).decode("ascii", errors="replace").strip()
    except OSError:
        return ProcessState(pid_file, None, False)
    if not text.isdigit():
        return ProcessState(pid_file, None, False)
    pid = int(text)
    try:
        stat = (proc_root / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ProcessState(pid_file, pid, False)
    # "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split at the last ")"
    name = stat[stat.find("(") + 1: stat.rfind(")")]
    fields = stat[stat.rfind(")") + 1:].split()
    running = name == comm and bool(fields) and fields[0] not in ("Z", "X", "x")  # a zombie is dead
    return ProcessState(pid_file, pid, running)


def _json_signum(configured: int | None) -> int:
    if configured is not None:
        return configured
    binary = shutil.which("keepalived") or next((p for p in ("/usr/sbin/keepalived", "/sbin/keepalived") if os.access(p, os.X_OK)), None)
    if binary:
        try:
            done = subprocess.run([binary, "--signum=JSON"], capture_output=True, text=True, timeout=2, check=False)
            if done.stdout.strip().isdigit():
                return int(done.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return int(signal.SIGRTMIN) + 2


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

    def _read_addresses(self, errors: list[ItemError]) -> tuple[InterfaceAddress, ...] | None:
        if self.settings.address_source == "netlink":
            try:
                return tuple(dump_addresses(timeout=max(0.5, float(self.settings.timeout) / 2)))
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
            return parse_ip_addr_json(done.stdout)
        except FormatError as exc:
            errors.append(ItemError(location, reasons.PARSE_ERROR, str(exc)))
            return None

    def _request_dump(self, process: ProcessState | None, errors: list[ItemError]) -> int | None:
        """Signal keepalived for a fresh JSON dump (opt-in); the file's mtime (ns) before, or None if not sent."""
        path = self.settings.keepalived_json_file or ""
        if process is None or process.pid is None or not process.running:  # collect() checked; belt and braces
            return None
        if self._signum is None:
            self._signum = _json_signum(self.settings.keepalived_json_signum)
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

    def _read_json_dump(self, process: ProcessState | None, errors: list[ItemError]) -> tuple[VrrpInstance, ...]:
        path = self.settings.keepalived_json_file
        if not path:
            return ()
        before: int | None = None  # integer ns: a float would round and make the old dump look fresh
        if self.settings.keepalived_json_signal:
            before = self._request_dump(process, errors)
            if before is None:
                return ()
        deadline = time.monotonic() + min(_SIGNAL_WAIT_SECONDS, float(self.settings.timeout) / 2)
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
                    return parse_keepalived_json(text, path)
                problem = ItemError(path, "dump_timeout", "keepalived did not write a fresh dump in time")
            except FileNotFoundError:
                if before is None:
                    return ()  # no dump, no signalling: nothing to say
                problem = ItemError(path, "dump_timeout", "keepalived did not write a dump in time")
            except OSError as exc:
                errors.append(ItemError(path, reasons.READ_ERROR, exc.strerror or str(exc)))
                return ()
            except FormatError as exc:  # maybe half-written while we read: retry until the deadline
                problem = ItemError(path, "unsupported_format", str(exc))
            if before is None or time.monotonic() >= deadline:
                errors.append(problem)
                return ()
            if process is not None and not read_process_state(process.pid_file).running:
                return ()  # it exited (e.g. stopping) instead of answering: nothing current to report
            time.sleep(0.02)

    def _read_notify_files(self, errors: list[ItemError]) -> tuple[VrrpInstance, ...]:
        out: list[VrrpInstance] = []
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
                out.append(parse_notify_state(text, path, mtime))
            except FormatError as exc:
                errors.append(ItemError(path, reasons.PARSE_ERROR, str(exc)))
        return tuple(out)

    # -- collect ------------------------------------------------------------------------------

    def collect(self) -> CollectResult:
        errors: list[ItemError] = []
        node = self.context.node_name
        vips = self._vips()
        process = read_process_state(self.settings.keepalived_pid_file) if self.settings.keepalived_pid_file else None
        if process is not None and not process.running:
            # a dead keepalived's dump and notify files hold its last state, not a current one
            instances: tuple[VrrpInstance, ...] = ()
        else:
            instances = merge_instances(self._read_json_dump(process, errors), self._read_notify_files(errors))
        # addresses last: "who holds the VIP" is the primary fact, so it is the freshest one published
        addresses = self._read_addresses(errors)
        bindings = vip_bindings(addresses, vips) if addresses is not None else None
        return CollectResult(
            metrics=tuple(vip_metrics(node, bindings, instances, process)),
            errors=tuple(errors),
            findings=tuple(vip_findings(node, bindings, instances, process)),
            details={
                "node": node,
                "vips": [{"vip": v, "held": i is not None, "interface": i} for v, i in (bindings or {}).items()],
                "keepalived": [dataclasses.asdict(i) for i in instances],
                "keepalived_running": None if process is None else process.running,
            },
        )

    @classmethod
    def check_table(cls, details: Mapping[str, Any], color: bool = False) -> list[str] | None:
        rows = [(v["vip"], "held" if v["held"] else "not held", v["interface"] or "-") for v in details.get("vips", ())]
        rows += [(f"keepalived {k['name']}", k["state"].upper(), f"priority {k['priority']}") for k in details.get("keepalived", ())]
        if not rows:
            return None
        return [f"VIP on node {details.get('node')}:"] + format_table(("VIP", "STATE", "WHERE"), rows)


def vip_metrics(
    node: str, bindings: Mapping[str, str | None] | None, instances: Sequence[VrrpInstance],
    process: ProcessState | None,
) -> list[Metric]:
    """Metric families for one node's view. ``bindings`` None means addresses could not be read."""
    held = GaugeMetricFamily("watchtower_vip_held", "1 if the VIP is bound to an interface of this node, else 0.",
                             labels=["vip", "node", "interface"])
    for vip, interface in sorted((bindings or {}).items()):
        held.add_metric([vip, node, interface or ""], 1.0 if interface else 0.0)
    state = GaugeMetricFamily("watchtower_keepalived_state",
                              "keepalived VRRP instance state: one series per state, 1 for the current one.",
                              labels=["vrrp_instance", "node", "state"])
    priority = GaugeMetricFamily("watchtower_keepalived_priority", "keepalived effective VRRP priority.",
                                 labels=["vrrp_instance", "node"])
    become_master = CounterMetricFamily("watchtower_keepalived_become_master",
                                        "Times this VRRP instance became MASTER since keepalived started.",
                                        labels=["vrrp_instance", "node"])
    transition = GaugeMetricFamily("watchtower_keepalived_last_transition_timestamp_seconds",
                                   "When the VRRP instance last changed state.", labels=["vrrp_instance", "node"])
    for inst in instances:
        for name in VRRP_STATES:
            state.add_metric([inst.name, node, name], 1.0 if inst.state == name else 0.0)
        if inst.priority is not None:
            priority.add_metric([inst.name, node], float(inst.priority))
        if inst.become_master is not None:
            become_master.add_metric([inst.name, node], float(inst.become_master))
        if inst.last_transition is not None:
            transition.add_metric([inst.name, node], inst.last_transition)
    out: list[Metric] = [held, state, priority, become_master, transition]
    if process is not None:
        running = GaugeMetricFamily("watchtower_keepalived_running",
                                    "1 if the process in keepalived's pid file is a running keepalived.",
                                    labels=["node"])
        running.add_metric([node], 1.0 if process.running else 0.0)
        out.append(running)
    return out


def vip_findings(
    node: str, bindings: Mapping[str, str | None] | None, instances: Sequence[VrrpInstance],
    process: ProcessState | None,
) -> list[Finding]:
    """What one node can judge alone: a VIP held while keepalived is dead, FAULT, MASTER without VIP."""
    out: list[Finding] = []
    dead = process is not None and not process.running
    held_vips = [v for v, i in (bindings or {}).items() if i]
    for vip, interface in sorted((bindings or {}).items()):
        if interface and dead:
            out.append(Finding(SECTION, vip, Severity.CRITICAL,
                               f"bound on {node}/{interface} but keepalived is not running: a stale VIP"))
        elif interface:
            out.append(Finding(SECTION, vip, Severity.OK, f"held by {node} on {interface}"))
        else:
            out.append(Finding(SECTION, vip, Severity.OK, f"not held by {node}"))
    if dead:
        assert process is not None
        out.append(Finding(SECTION, "keepalived", Severity.WARNING,
                           f"not running on {node} (pid file {process.pid_file}, pid {process.pid or '-'})"))
    for inst in instances:
        subject = f"keepalived {inst.name}"
        if inst.state == "fault":
            out.append(Finding(SECTION, subject, Severity.WARNING, f"FAULT on {node}"))
        elif inst.state == "master" and bindings is not None and not held_vips:
            out.append(Finding(SECTION, subject, Severity.WARNING, f"MASTER on {node} but no configured VIP is bound here"))
        else:
            out.append(Finding(SECTION, subject, Severity.OK, f"{inst.state.upper()} on {node}"))
    return out
